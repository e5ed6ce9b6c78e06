"""The journal's tables, and the upgrade of a journal written by an older version, in place.

Version 1 (before 0.x of 2026-11) kept one wide row per upload: API URL, app, name, path as
given, size, modification time, SHA-256 in hex, ETag and an ISO time, about 330 bytes each.
Version 2 stores URLs, apps and folders once each and the digest as 32 bytes, and adds the
file's identity, which lets a rerun skip a file by a `stat()`.
"""

from __future__ import annotations

import os
import sqlite3
from datetime import datetime

SCHEMA_VERSION = 2
# One statement each: they run inside the upgrade's transaction, which executescript would end.
SCHEMA = (
    """CREATE TABLE IF NOT EXISTS targets (
        id INTEGER PRIMARY KEY,
        api_url TEXT NOT NULL,
        app_id TEXT NOT NULL,
        UNIQUE (api_url, app_id)
    )""",
    # path: os.fsencode of the folder (any bytes a file system allows), absolute, except in
    # rows upgraded from version 1, which kept paths as given.
    """CREATE TABLE IF NOT EXISTS folders (
        id INTEGER PRIMARY KEY,
        path BLOB NOT NULL UNIQUE
    )""",
    # id grows with time (history's order); name is the base name the service keys on; at is
    # the Unix time of the upload. dev, ino, mtime_ns and cdelta_ns: the file's identity when
    # it was last seen holding this content (cdelta_ns is its change time minus its
    # modification time: usually 0, which SQLite stores in no bytes at all), or NULL when
    # unknown or changed too recently to be trusted (the next run then compares its content).
    # gone: how many seconds after the upload its path was seen no longer holding it (a small
    # number for a file moved away at once, so the row hardly grows), NULL while in place.
    """CREATE TABLE IF NOT EXISTS uploads (
        id INTEGER PRIMARY KEY,
        target INTEGER NOT NULL,
        folder INTEGER NOT NULL,
        name TEXT NOT NULL,
        size INTEGER NOT NULL,
        sha256 BLOB NOT NULL,
        at INTEGER NOT NULL,
        dev INTEGER, ino INTEGER, mtime_ns INTEGER, cdelta_ns INTEGER,
        gone INTEGER
    )""",
    "CREATE INDEX IF NOT EXISTS uploads_by_name ON uploads (target, name)",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER) WITHOUT ROWID",
    # What each run (a push, or a watch while it runs) did, for `status` and the metrics:
    # ended and exit_code stay NULL while it runs, or for ever if it was killed. The newest
    # few hundred per service are kept (runs.py).
    """CREATE TABLE IF NOT EXISTS runs (
        id INTEGER PRIMARY KEY,
        target INTEGER NOT NULL,
        kind TEXT NOT NULL,
        pid INTEGER NOT NULL,
        started INTEGER NOT NULL,
        ended INTEGER,
        exit_code INTEGER,
        uploaded INTEGER NOT NULL DEFAULT 0,
        skipped INTEGER NOT NULL DEFAULT 0,
        failed INTEGER NOT NULL DEFAULT 0,
        bytes INTEGER NOT NULL DEFAULT 0,
        message TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS runs_by_target ON runs (target, id)",
    # Files that failed, with why (the newest few hundred per service).
    """CREATE TABLE IF NOT EXISTS failures (
        id INTEGER PRIMARY KEY,
        target INTEGER NOT NULL,
        at INTEGER NOT NULL,
        path TEXT NOT NULL,
        reason TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS failures_by_target ON failures (target, id)",
    # The files a running watch waits to try again, replaced whenever that list changes.
    """CREATE TABLE IF NOT EXISTS retrying (
        target INTEGER NOT NULL,
        path TEXT NOT NULL,
        reason TEXT NOT NULL,
        next_at INTEGER NOT NULL,
        PRIMARY KEY (target, path)
    ) WITHOUT ROWID""",
)


def upgrade(db: sqlite3.Connection) -> None:
    """Create the tables, or bring a version 1 journal to this schema, in one transaction.

    Raises sqlite3.Error; on any error nothing has changed.
    """
    db.execute("BEGIN IMMEDIATE")  # another process may be upgrading it right now
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        from_v1 = version == 1
        if version < SCHEMA_VERSION:
            if from_v1:
                db.execute("ALTER TABLE uploads RENAME TO uploads_v1")
                db.execute("DROP INDEX IF EXISTS uploads_by_name")
                db.execute("DROP INDEX IF EXISTS uploads_by_time")
            for statement in SCHEMA:
                db.execute(statement)
            if from_v1:
                _copy_v1_rows(db)
                db.execute("DROP TABLE uploads_v1")
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    if from_v1:
        db.execute("VACUUM")  # give the old rows' space back to the filesystem


def _copy_v1_rows(db: sqlite3.Connection) -> None:
    """Each old row is kept, with an unknown identity: the next run compares those files by
    content once, then records their identity."""
    targets: dict[tuple[str, str], int] = {}
    folders: dict[bytes, int] = {}
    cursor = db.execute(
        "SELECT api_url, app_id, filename, path, size, sha256, uploaded_at FROM uploads_v1"
        " ORDER BY id"
    )
    while batch := cursor.fetchmany(1000):
        rows = []
        for api_url, app_id, filename, path, size, digest, uploaded_at in batch:
            target = _target_id(db, targets, (api_url, app_id))
            # A relative path was relative to a working directory nobody recorded: such rows
            # keep it for history, and are never taken for gone (see Journal.maintain).
            folder = os.path.dirname(path if not os.path.isabs(path) else os.path.normpath(path))
            folder_id = _folder_id(db, folders, os.fsencode(folder))
            at = int(datetime.fromisoformat(uploaded_at).timestamp())
            rows.append((target, folder_id, filename, size, bytes.fromhex(digest), at))
        db.executemany(
            "INSERT INTO uploads (target, folder, name, size, sha256, at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )


def _target_id(
    db: sqlite3.Connection, cache: dict[tuple[str, str], int], key: tuple[str, str]
) -> int:
    if key not in cache:
        db.execute("INSERT OR IGNORE INTO targets (api_url, app_id) VALUES (?, ?)", key)
        row = db.execute("SELECT id FROM targets WHERE api_url = ? AND app_id = ?", key)
        cache[key] = row.fetchone()[0]
    return cache[key]


def _folder_id(db: sqlite3.Connection, cache: dict[bytes, int], path: bytes) -> int:
    if path not in cache:
        db.execute("INSERT OR IGNORE INTO folders (path) VALUES (?)", (path,))
        cache[path] = db.execute("SELECT id FROM folders WHERE path = ?", (path,)).fetchone()[0]
    return cache[path]
