"""The journal's rows: record verified uploads, find what is known of a name, list the history.

See the package's docstring for what a row holds and how long it is kept.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from productiv_upload.core.journal.database import Database
from productiv_upload.core.model import Identity

JOURNAL_NAME = "journal.sqlite3"
_NAMES_PER_QUERY = 500  # under SQLite's limit of host parameters per statement (999 before 3.32)

_KNOWN = """
SELECT name, id, folder, size, sha256, dev, ino, mtime_ns, cdelta_ns, gone
FROM uploads WHERE target = ? AND name IN (?names)
"""
# History, in upload order; oldest first, or only the newest :limit.
_HISTORY_NEWEST = """
SELECT * FROM (
    SELECT t.api_url, t.app_id, u.name, f.path, u.size, u.sha256, u.at, u.gone, u.id
    FROM uploads u JOIN targets t ON t.id = u.target JOIN folders f ON f.id = u.folder
    WHERE (:app IS NULL OR t.app_id = :app) AND (:since IS NULL OR u.at >= :since)
    ORDER BY u.id DESC LIMIT :limit
) ORDER BY id
"""
_HISTORY_ALL = """
SELECT t.api_url, t.app_id, u.name, f.path, u.size, u.sha256, u.at, u.gone, u.id
FROM uploads u JOIN targets t ON t.id = u.target JOIN folders f ON f.id = u.folder
WHERE (:app IS NULL OR t.app_id = :app) AND (:since IS NULL OR u.at >= :since)
ORDER BY u.id
"""


@dataclass(frozen=True)
class NewUpload:
    """A verified upload, as the push loop hands it to the journal."""

    path: str  # as given; the journal keeps its absolute folder
    filename: str
    size: int
    sha256: str  # hex, of the bytes sent
    identity: Identity | None  # the file as it was sent; None when not to be trusted


class Known(NamedTuple):
    """One row the journal holds for a file name (a tuple: thousands are made per run)."""

    row: int
    folder: int
    size: int
    sha256: bytes
    identity: Identity | None
    gone: bool


@dataclass(frozen=True)
class Upload:
    """One upload, as `history` shows it."""

    api_url: str
    app_id: str
    filename: str
    path: str
    size: int
    sha256: str
    uploaded_at: str  # ISO 8601, UTC
    gone_at: str | None = None  # when its path was seen no longer holding it

    def to_json(self) -> dict[str, Any]:
        return {
            "api_url": self.api_url,
            "app_id": self.app_id,
            "filename": self.filename,
            "path": self.path,
            "size": self.size,
            "sha256": self.sha256,
            "uploaded_at": self.uploaded_at,
            "gone_at": self.gone_at,
        }


def iso(unix_time: float) -> str:
    return datetime.fromtimestamp(unix_time, UTC).isoformat(timespec="seconds")


def folder_of(path: str) -> str:
    """The absolute folder a path is in (symlinks not resolved: the path is what was given)."""
    return os.path.dirname(os.path.abspath(path))


class Journal:
    """Thread-safe; uploads are recorded a group at a time, one transaction per group."""

    def __init__(self, path: Path, *, create: bool = True) -> None:
        self.path = path
        self.writable = create
        self.db = Database(path, create=create)
        self._targets: dict[tuple[str, str], int] = {}
        self._folders: dict[str, int] = {}
        # Ids added in a transaction that is rolled back are gone with it.
        self.db.on_rollback(self._targets.clear)
        self.db.on_rollback(self._folders.clear)

    @classmethod
    def open_existing(cls, path: Path) -> Journal | None:
        """For dry runs, history and status; None when there is no journal yet.

        Read-only, except that a journal written by an older version is upgraded in place.
        """
        return cls(path, create=False) if path.exists() else None

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- what the journal knows ---

    def target(self, api_url: str, app_id: str, *, create: bool = False) -> int | None:
        """The id of a service (API URL and app); None if it has no rows and `create` is off."""
        key = (api_url, app_id)
        if key in self._targets:
            return self._targets[key]
        with self.db.reading() as db:
            row = db.execute(
                "SELECT id FROM targets WHERE api_url = ? AND app_id = ?", key
            ).fetchone()
            if row is None and create:
                cursor = db.execute("INSERT INTO targets (api_url, app_id) VALUES (?, ?)", key)
                row = (cursor.lastrowid,)
        if row is None:
            return None
        self._targets[key] = row[0]
        return int(row[0])

    def folder(self, path: str, *, create: bool = False) -> int | None:
        """The id of an absolute folder path; None if unknown and `create` is off."""
        if path in self._folders:
            return self._folders[path]
        key = os.fsencode(path)
        with self.db.reading() as db:
            row = db.execute("SELECT id FROM folders WHERE path = ?", (key,)).fetchone()
            if row is None and create:
                row = (db.execute("INSERT INTO folders (path) VALUES (?)", (key,)).lastrowid,)
        if row is None:
            return None
        self._folders[path] = row[0]
        return int(row[0])

    def known(self, target: int, filenames: Sequence[str]) -> dict[str, list[Known]]:
        """The rows for each of these names (a name without rows is left out)."""
        found: dict[str, list[Known]] = {}
        for start in range(0, len(filenames), _NAMES_PER_QUERY):
            names = filenames[start : start + _NAMES_PER_QUERY]
            # Only placeholders are joined into the statement; the names are parameters.
            query = _KNOWN.replace("?names", ",".join("?" * len(names)))
            with self.db.reading() as db:
                rows = db.execute(query, (target, *names)).fetchall()
            for name, row, folder, size, digest, dev, ino, mtime_ns, cdelta, gone in rows:
                identity = (
                    None if ino is None else Identity(dev, ino, size, mtime_ns, mtime_ns + cdelta)
                )
                found.setdefault(name, []).append(
                    Known(row, folder, size, digest, identity, gone is not None)
                )
        return found

    def recorded(self, api_url: str, app_id: str, path: str, sha256: str) -> bool:
        """Whether a row in place says this content was uploaded from this path."""
        target = self.target(api_url, app_id)
        folder = self.folder(folder_of(path))
        if target is None or folder is None:
            return False
        with self.db.reading() as db:
            row = db.execute(
                "SELECT 1 FROM uploads WHERE target = ? AND name = ? AND folder = ?"
                " AND sha256 = ? AND gone IS NULL",
                (target, os.path.basename(path), folder, bytes.fromhex(sha256)),
            ).fetchone()
        return row is not None

    # --- writing ---

    def record_many(
        self, api_url: str, app_id: str, uploads: Sequence[NewUpload], *, now: float | None = None
    ) -> None:
        """Record uploads in one transaction: all of them are committed, or none.

        Rows for other content from the same path are marked gone: that path now holds this.
        `now` (Unix time) is for simulations of long service lives; it defaults to the clock.
        """
        if not uploads:
            return
        when = int(time.time() if now is None else now)
        with self.db.writing() as db:
            target = self.target(api_url, app_id, create=True)
            rows = [
                (
                    target,
                    self.folder(folder_of(upload.path), create=True),
                    upload.filename,
                    upload.size,
                    bytes.fromhex(upload.sha256),
                    when,
                    *identity_columns(upload.identity),
                )
                for upload in uploads
            ]
            db.executemany(
                "UPDATE uploads SET gone = max(? - at, 0) WHERE target = ? AND folder = ?"
                " AND name = ? AND gone IS NULL",
                [(when, row[0], row[1], row[2]) for row in rows],
            )
            db.executemany(
                "INSERT INTO uploads (target, folder, name, size, sha256, at, dev, ino, mtime_ns,"
                " cdelta_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

    def learn(self, seen: Iterable[tuple[int, int, Identity]]) -> None:
        """(row, folder, identity): a file found holding a row's content, now at this path."""
        updates = [(folder, *identity_columns(ident), row) for row, folder, ident in seen]
        if not updates or not self.writable:
            return
        with self.db.writing() as db:
            db.executemany(
                "UPDATE uploads SET folder = ?, dev = ?, ino = ?, mtime_ns = ?, cdelta_ns = ?,"
                " gone = NULL WHERE id = ?",
                updates,
            )

    def forget_paths(
        self, api_url: str, app_id: str, paths: Iterable[str], *, now: float | None = None
    ) -> None:
        """The tool moved or deleted these files: their rows start to age."""
        target = self.target(api_url, app_id)
        marks = []
        for path in paths:
            folder = self.folder(folder_of(path))
            if target is not None and folder is not None:
                marks.append((target, folder, os.path.basename(path)))
        if not marks:
            return
        when = int(time.time() if now is None else now)
        with self.db.writing() as db:
            db.executemany(
                "UPDATE uploads SET gone = max(? - at, 0) WHERE target = ? AND folder = ?"
                " AND name = ? AND gone IS NULL",
                [(when, *mark) for mark in marks],
            )

    # --- reading ---

    def history(
        self, *, app_id: str | None = None, since: str | None = None, limit: int | None = None
    ) -> Iterator[Upload]:
        """Uploads, oldest first, streamed in bounded memory; `limit`: only the newest ones."""
        params = {
            "app": app_id,
            "since": None if since is None else int(datetime.fromisoformat(since).timestamp()),
            "limit": limit,
        }
        with self.db.reading() as db:
            # Without a limit, rows stream in id order; with one, only `limit` rows are held.
            cursor = db.execute(_HISTORY_ALL if limit is None else _HISTORY_NEWEST, params)
            while batch := cursor.fetchmany(512):
                for api_url, app, name, folder, size, digest, at, gone, _ in batch:
                    path = os.path.join(os.fsdecode(folder), name)
                    yield Upload(
                        api_url,
                        app,
                        name,
                        path,
                        size,
                        digest.hex(),
                        iso(at),
                        None if gone is None else iso(at + gone),
                    )

    def count(self, app_id: str | None = None) -> int:
        """How many uploads it holds, of one app or of all."""
        with self.db.reading() as db:
            rows: int = db.execute(
                "SELECT count(*) FROM uploads WHERE :app IS NULL"
                " OR target IN (SELECT id FROM targets WHERE app_id = :app)",
                {"app": app_id},
            ).fetchone()[0]
        return rows

    def bytes_on_disk(self) -> int:
        """The database and its write-ahead log, as the disk holds them now."""
        size = 0
        for suffix in ("", "-wal"):
            with contextlib.suppress(OSError):
                size += os.stat(f"{self.path}{suffix}").st_size
        return size

    def apps(self, *, with_runs: bool = False) -> list[tuple[str, str]]:
        """Every (API URL, app) the journal has uploads for (`with_runs`: or runs)."""
        with self.db.reading() as db:
            rows = db.execute(
                "SELECT api_url, app_id FROM targets t WHERE EXISTS"
                " (SELECT 1 FROM uploads u WHERE u.target = t.id)"
                " OR (:runs AND EXISTS (SELECT 1 FROM runs r WHERE r.target = t.id))"
                " ORDER BY app_id, api_url",
                {"runs": with_runs},
            ).fetchall()
        return [(api_url, app_id) for api_url, app_id in rows]


def identity_columns(identity: Identity | None) -> tuple[int | None, ...]:
    if identity is None:
        return (None, None, None, None)
    return (identity.dev, identity.ino, identity.mtime_ns, identity.ctime_ns - identity.mtime_ns)
