"""The journal: a SQLite record of every verified upload, so a rerun never sends a file twice.

One row per verified PUT, keyed by API URL, app, file name and content (SHA-256). The files that
finish together are written in one transaction, before anything reports them as uploaded: a
process killed at any instant loses at most the files that were in flight.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import stat
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from productiv_upload.common.errors import UsageError
from productiv_upload.core.discover import LocalFile

JOURNAL_NAME = "journal.sqlite3"
SCHEMA_VERSION = 1
_HASH_CHUNK = 1024 * 1024
_SCHEMA = """
CREATE TABLE IF NOT EXISTS uploads (
    id INTEGER PRIMARY KEY,
    api_url TEXT NOT NULL,
    app_id TEXT NOT NULL,
    filename TEXT NOT NULL,
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    etag TEXT,
    uploaded_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS uploads_by_name ON uploads (api_url, app_id, filename, size);
CREATE INDEX IF NOT EXISTS uploads_by_time ON uploads (uploaded_at);
"""


class JournalError(UsageError):
    """The journal cannot be read or written; the message names the file."""


@dataclass(frozen=True)
class Upload:
    api_url: str
    app_id: str
    filename: str
    path: str
    size: int
    mtime_ns: int
    sha256: str
    etag: str | None
    uploaded_at: str  # ISO 8601, UTC

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    # O_NONBLOCK: a path that became a FIFO since discovery must not hang the run.
    with os.fdopen(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as stream:
        if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
            raise OSError(f"{path} is no longer a regular file")
        while chunk := stream.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class Journal:
    """Thread-safe; uploads are recorded a group at a time, one transaction per group."""

    def __init__(self, path: Path, *, create: bool = True) -> None:
        self.path = path
        self._lock = threading.Lock()
        if create:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            # Created owner-only before SQLite opens it; SQLite gives its -wal and -shm files the
            # same permissions.
            os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
        try:
            self._db = sqlite3.connect(
                path if create else f"file:{path}?mode=ro",
                uri=not create,
                check_same_thread=False,
                isolation_level=None,  # autocommit: each INSERT is its own transaction
            )
            if create:
                self._db.execute("PRAGMA journal_mode=WAL")
                # NORMAL in WAL mode survives a killed process; only an OS crash may lose the
                # last few records, which then cost one resend.
                self._db.execute("PRAGMA synchronous=NORMAL")
                self._db.executescript(_SCHEMA)
                self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            self._db.execute("SELECT count(*) FROM uploads WHERE id = 0").fetchone()
        except sqlite3.Error as error:
            self._close_refused()
            raise self._error(error) from None
        if version > SCHEMA_VERSION:
            self._close_refused()
            raise JournalError(
                f"the journal {path} was written by a newer productiv-upload; "
                "upgrade, or pass another --state-dir"
            )

    def _close_refused(self) -> None:
        # A journal refused here is never closed by its caller: it was never returned.
        if hasattr(self, "_db"):
            self._db.close()

    @classmethod
    def open_existing(cls, path: Path) -> Journal | None:
        """Read-only, for dry runs and history; None when there is no journal yet."""
        return cls(path, create=False) if path.exists() else None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def record(self, upload: Upload) -> None:
        self.record_many([upload])

    def record_many(self, uploads: Sequence[Upload]) -> None:
        """Record uploads in one transaction: all of them are committed, or none."""
        rows = [  # not dataclasses.asdict: it deep-copies, a cost paid once per file
            (u.api_url, u.app_id, u.filename, u.path, u.size, u.mtime_ns, u.sha256, u.etag,
             u.uploaded_at)
            for u in uploads
        ]  # fmt: skip
        if not rows:
            return
        try:
            with self._lock:
                if self._db.in_transaction:
                    # Left open by an interrupt that came between BEGIN and the handler below:
                    # nothing in it was committed, so nothing is lost by dropping it.
                    self._db.execute("ROLLBACK")
                try:
                    # One commit for a group of files: the commit, not the insert, is the cost.
                    self._db.execute("BEGIN")
                    self._db.executemany(
                        "INSERT INTO uploads (api_url, app_id, filename, path, size, mtime_ns,"
                        " sha256, etag, uploaded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        rows,
                    )
                    self._db.execute("COMMIT")
                except BaseException:
                    # Even an interrupt: the next group must not find this transaction open.
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                    raise
        except (sqlite3.Error, UnicodeError) as error:
            raise self._error(error) from None

    def recorded_hashes(self, api_url: str, app_id: str, filename: str, size: int) -> set[str]:
        try:
            with self._lock:
                rows = self._db.execute(
                    "SELECT sha256 FROM uploads WHERE api_url = ? AND app_id = ? AND filename = ?"
                    " AND size = ?",
                    (api_url, app_id, filename, size),
                ).fetchall()
        except sqlite3.Error as error:
            raise self._error(error) from None
        return {row[0] for row in rows}

    def history(self, *, app_id: str | None = None, since: str | None = None) -> list[Upload]:
        query = "SELECT api_url, app_id, filename, path, size, mtime_ns, sha256, etag, uploaded_at"
        query += " FROM uploads WHERE 1 = 1"
        params: list[str] = []
        if app_id is not None:
            query += " AND app_id = ?"
            params.append(app_id)
        if since is not None:
            query += " AND uploaded_at >= ?"
            params.append(since)
        try:
            with self._lock:
                rows = self._db.execute(query + " ORDER BY uploaded_at, id", params).fetchall()
        except sqlite3.Error as error:
            raise self._error(error) from None
        return [Upload(*row) for row in rows]

    def _error(self, error: Exception) -> JournalError:
        return JournalError(
            f"the journal {self.path} cannot be used ({error}); if it is damaged, move it aside "
            "(the next run starts a new one and may resend files it had recorded)"
        )


def split_already_uploaded(
    files: Sequence[LocalFile], journal: Journal, api_url: str, app_id: str
) -> tuple[list[LocalFile], list[LocalFile]]:
    """(to send, already uploaded with the same content). Hashes only files the journal knows."""
    to_send: list[LocalFile] = []
    done: list[LocalFile] = []
    for file in files:
        known = journal.recorded_hashes(api_url, app_id, file.filename, file.size)
        if known and _sha256_or_none(file.path) in known:
            done.append(file)
        else:
            to_send.append(file)
    return to_send, done


def _sha256_or_none(path: str) -> str | None:
    try:
        return file_sha256(path)
    except OSError:
        return None  # unreadable now: let the upload report why
