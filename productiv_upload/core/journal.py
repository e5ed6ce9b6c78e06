"""The journal: a SQLite record of every verified upload, so a rerun never sends a file twice.

One row per verified PUT: the service it went to (API URL and app), the file's folder and base
name, its size and SHA-256, when it went up, and the file's identity as it was sent (device,
inode, size, modification and change time). A rerun skips a file whose identity matches a row
for its path by a `stat()` alone; any other file the journal knows by name is read and compared
by content (see `known.py`).

The files that finish together are written in one transaction, before anything reports them as
uploaded: a process killed at any instant loses at most the files that were in flight.

It stays small for years: rows are compact (integers and a 32-byte digest; URLs, apps and
folders are stored once each), and a row whose path no longer holds its file (the tool moved or
deleted it, a later upload from that path replaced it, or the file is gone from its folder)
expires `retention` after that was seen (`maintain`). A row for a file still in place never
expires, so that file is never sent again.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from productiv_upload.common.errors import UsageError
from productiv_upload.common.text import printable
from productiv_upload.core.discover import Identity
from productiv_upload.core.journal_schema import SCHEMA_VERSION, upgrade
from productiv_upload.core.state import state_dir_problem

JOURNAL_NAME = "journal.sqlite3"
DEFAULT_RETENTION_DAYS = 30.0
# How many rows one `maintain` call checks for files gone from their folder: bounded work per
# run, so a journal of millions of rows is swept over many runs, never in one.
SWEEP_ROWS = 1000
_NAMES_PER_QUERY = 500  # under SQLite's limit of host parameters per statement (999 before 3.32)
EXPIRE_EVERY_S = 86400


# History, in upload order; oldest first, or only the newest :limit (a negative one: all).
_HISTORY = """
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


_KNOWN = """
SELECT name, id, folder, size, sha256, dev, ino, mtime_ns, cdelta_ns, gone
FROM uploads WHERE target = ? AND name IN (?names)
"""


class JournalError(UsageError):
    """The journal cannot be read or written; the message names the file and says why."""

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason or message  # the cause alone, for a file's one-line error


# SQLite's own words for what the machine did to it, and what to do; anything else reads as
# damage.
_MACHINE_FAULTS = {
    "SQLITE_FULL": "there is no space left on its device; free some space",
    "SQLITE_READONLY": "it is read-only here; make it and its folder writable",
    "SQLITE_CANTOPEN": "it cannot be opened; check its folder and permissions",
    "SQLITE_PERM": "no permission; check its folder and permissions",
}


def journal_error(path: Path, error: Exception) -> JournalError:
    name = getattr(error, "sqlite_errorname", "")
    shown = printable(str(path))
    if name in _MACHINE_FAULTS or name.startswith("SQLITE_IOERR"):
        advice = _MACHINE_FAULTS.get(name, "the disk failed to read or write it")
        return JournalError(f"the journal {shown} cannot be written ({error}): {advice}",
                            str(error))  # fmt: skip
    return JournalError(
        f"the journal {shown} cannot be used ({error}); if it is damaged, move it aside "
        "(the next run starts a new one and may resend files it had recorded)",
        str(error),
    )


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
            "api_url": self.api_url, "app_id": self.app_id, "filename": self.filename,
            "path": self.path, "size": self.size, "sha256": self.sha256,
            "uploaded_at": self.uploaded_at, "gone_at": self.gone_at,
        }  # fmt: skip


@dataclass(frozen=True)
class Upkeep:
    """What one `maintain` call did."""

    expired: int  # rows deleted
    gone: int  # rows newly found gone from their folder


@dataclass(frozen=True)
class Summary:
    """The journal at a glance, for `status`."""

    rows: int
    in_place: int
    last_upload: int | None  # Unix time
    bytes_on_disk: int


def iso(unix_time: int) -> str:
    return datetime.fromtimestamp(unix_time, UTC).isoformat(timespec="seconds")


def folder_of(path: str) -> str:
    """The absolute folder a path is in (symlinks not resolved: the path is what was given)."""
    return os.path.dirname(os.path.abspath(path))


class Journal:
    """Thread-safe; uploads are recorded a group at a time, one transaction per group."""

    def __init__(self, path: Path, *, create: bool = True) -> None:
        self.path = path
        self.writable = create
        # Reentrant: a transaction looks up (and adds) targets and folders under the same lock.
        self._lock = threading.RLock()
        self._targets: dict[tuple[str, str], int] = {}
        self._folders: dict[str, int] = {}
        if create:
            _make_state_dir(path.parent)
            try:
                # Created owner-only before SQLite opens it; SQLite gives its -wal and -shm
                # files the same permissions.
                os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
            except OSError as error:
                raise JournalError(
                    f"cannot create the journal {printable(str(path))}: {error.strerror}",
                    str(error.strerror),
                ) from None
        try:
            self._db = sqlite3.connect(
                path if create else f"file:{path}?mode=ro",
                uri=not create,
                check_same_thread=False,
                isolation_level=None,  # autocommit, and explicit BEGIN where it matters
            )
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if create:
                self._db.execute("PRAGMA journal_mode=WAL")
                # NORMAL in WAL mode survives a killed process; only an OS crash may lose the
                # last few records, which then cost one resend.
                self._db.execute("PRAGMA synchronous=NORMAL")
            if version > SCHEMA_VERSION:
                raise JournalError(
                    f"the journal {path} was written by a newer productiv-upload; "
                    "upgrade, or pass another --state-dir"
                )
            if version < SCHEMA_VERSION:
                if not create:
                    self._db.close()
                    self._db = _open_to_upgrade(path)
                upgrade(self._db)
            self._db.execute("SELECT count(*) FROM uploads WHERE id = 0").fetchone()
        except sqlite3.Error as error:
            raise self._error(error) from None

    @classmethod
    def open_existing(cls, path: Path) -> Journal | None:
        """For dry runs, history and status; None when there is no journal yet.

        Read-only, except that a journal written by an older version is upgraded in place.
        """
        return cls(path, create=False) if path.exists() else None

    def close(self) -> None:
        with self._lock:
            self._db.close()

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
        with self._guard():
            row = self._db.execute(
                "SELECT id FROM targets WHERE api_url = ? AND app_id = ?", key
            ).fetchone()
            if row is None and create:
                cursor = self._db.execute(
                    "INSERT INTO targets (api_url, app_id) VALUES (?, ?)", key
                )
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
        with self._guard():
            row = self._db.execute("SELECT id FROM folders WHERE path = ?", (key,)).fetchone()
            if row is None and create:
                cursor = self._db.execute("INSERT INTO folders (path) VALUES (?)", (key,))
                row = (cursor.lastrowid,)
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
            with self._guard():
                rows = self._db.execute(query, (target, *names)).fetchall()
            for name, row, folder, size, digest, dev, ino, mtime_ns, cdelta, gone in rows:
                identity = (
                    None if ino is None else Identity(dev, ino, size, mtime_ns, mtime_ns + cdelta)
                )
                found.setdefault(name, []).append(
                    Known(row, folder, size, digest, identity, gone is not None)
                )
        return found

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
        now = int(time.time() if now is None else now)
        with self._transaction():
            target = self.target(api_url, app_id, create=True)
            rows = []
            for upload in uploads:
                folder = self.folder(folder_of(upload.path), create=True)
                ident = upload.identity
                rows.append((
                    target, folder, upload.filename, upload.size, bytes.fromhex(upload.sha256),
                    now, *(_identity_columns(ident)),
                ))  # fmt: skip
            self._db.executemany(
                "UPDATE uploads SET gone = max(? - at, 0) WHERE target = ? AND folder = ?"
                " AND name = ? AND gone IS NULL",
                [(now, row[0], row[1], row[2]) for row in rows],
            )
            self._db.executemany(
                "INSERT INTO uploads (target, folder, name, size, sha256, at, dev, ino, mtime_ns,"
                " cdelta_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

    def learn(self, seen: Iterable[tuple[int, int, Identity]]) -> None:
        """(row, folder, identity): a file found holding a row's content, now at this path."""
        updates = [(folder, *_identity_columns(ident), row) for row, folder, ident in seen]
        if not updates or not self.writable:
            return
        with self._transaction():
            self._db.executemany(
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
        with self._transaction():
            self._db.executemany(
                "UPDATE uploads SET gone = max(? - at, 0) WHERE target = ? AND folder = ?"
                " AND name = ? AND gone IS NULL",
                [(when, *mark) for mark in marks],
            )

    def maintain(
        self,
        api_url: str,
        app_id: str,
        retention_s: float,
        *,
        force: bool = False,
        now: float | None = None,
    ) -> Upkeep:
        """Look whether the next `SWEEP_ROWS` of this service's rows still have their files in
        their folders, and, once every `EXPIRE_EVERY_S` (or when `force`d), delete its rows
        gone for longer than `retention_s`.

        The expiry reads the whole table (an index on `gone` would cost every row about 12
        bytes), so it runs once a day rather than on every run.
        """
        target = self.target(api_url, app_id)
        if target is None or not self.writable:
            return Upkeep(0, 0)
        when = int(time.time() if now is None else now)
        expired = 0
        with self._transaction():
            gone = self._sweep(target, when)
            if force or when - self._meta(f"expired_at:{target}") >= EXPIRE_EVERY_S:
                expired = self._db.execute(
                    "DELETE FROM uploads WHERE at + gone < ? AND target = ?",
                    (when - retention_s, target),
                ).rowcount
                self._set_meta(f"expired_at:{target}", when)
        return Upkeep(expired, gone)

    def _sweep(self, target: int, now: int) -> int:
        """Mark rows gone whose file is missing from its folder.

        Only where the answer is certain: the folder is there, on the device the file was on
        (an unmounted network share must not look like deleted files), and the name is not.
        """
        start = self._meta(f"sweep_from:{target}")
        rows = self._db.execute(
            "SELECT u.id, f.path, u.name, u.dev FROM uploads u JOIN folders f ON f.id = u.folder"
            " WHERE u.id >= ? AND u.id < ? AND u.target = ? AND u.gone IS NULL"
            " AND u.dev IS NOT NULL",
            (start, start + SWEEP_ROWS, target),
        ).fetchall()
        last = self._db.execute("SELECT max(id) FROM uploads").fetchone()[0] or 0
        next_start = start + SWEEP_ROWS if start + SWEEP_ROWS <= last else 0
        self._set_meta(f"sweep_from:{target}", next_start)
        folders: dict[str, int | None] = {}
        missing = []
        for row, folder_bytes, name, dev in rows:
            folder = os.fsdecode(folder_bytes)
            if folder not in folders:
                try:
                    folders[folder] = os.stat(folder).st_dev
                except OSError:
                    folders[folder] = None
            if folders[folder] != dev:
                continue
            try:
                os.lstat(os.path.join(folder, name))
            except FileNotFoundError:
                missing.append((now, row))
            except OSError:
                continue
        self._db.executemany("UPDATE uploads SET gone = max(? - at, 0) WHERE id = ?", missing)
        return len(missing)

    # --- reading ---

    def history(
        self, *, app_id: str | None = None, since: str | None = None, limit: int | None = None
    ) -> Iterator[Upload]:
        """Uploads, oldest first, streamed in bounded memory; `limit`: only the newest ones."""
        params = {
            "app": app_id,
            "since": None if since is None else int(datetime.fromisoformat(since).timestamp()),
            "limit": -1 if limit is None else limit,  # SQLite: a negative LIMIT is no limit
        }
        try:
            # Without a limit, rows stream in id order; with one, only `limit` rows are held.
            cursor = self._db.execute(_HISTORY if limit is not None else _HISTORY_ALL, params)
            while batch := cursor.fetchmany(512):
                for api_url, app, name, folder, size, digest, at, gone, _ in batch:
                    path = os.path.join(os.fsdecode(folder), name)
                    yield Upload(api_url, app, name, path, size, digest.hex(), iso(at),
                                 None if gone is None else iso(at + gone))  # fmt: skip
        except sqlite3.Error as error:
            raise self._error(error) from None

    def summary(self, app_id: str | None = None) -> Summary:
        with self._guard():
            rows, in_place, last = self._db.execute(
                "SELECT count(*), count(*) - count(gone), max(at) FROM uploads WHERE ?1 IS NULL"
                " OR target IN (SELECT id FROM targets WHERE app_id = ?1)",
                (app_id,),
            ).fetchone()
        size = 0
        for suffix in ("", "-wal"):
            with contextlib.suppress(OSError):
                size += os.stat(f"{self.path}{suffix}").st_size
        return Summary(rows, in_place, last, size)

    def apps(self) -> list[tuple[str, str]]:
        """Every (API URL, app) the journal has rows for."""
        with self._guard():
            rows = self._db.execute(
                "SELECT api_url, app_id FROM targets t WHERE EXISTS"
                " (SELECT 1 FROM uploads u WHERE u.target = t.id) ORDER BY app_id, api_url"
            ).fetchall()
        return [(api_url, app_id) for api_url, app_id in rows]

    # --- plumbing ---

    def _meta(self, key: str) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return int(row[0]) if row is not None else 0

    def _set_meta(self, key: str, value: int) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def _guard(self) -> _Guard:
        return _Guard(self)

    def _transaction(self) -> _Transaction:
        return _Transaction(self)

    def _error(self, error: Exception) -> JournalError:
        return journal_error(self.path, error)


class _Guard:
    """The journal's lock, with SQLite's errors turned into a JournalError naming the file."""

    def __init__(self, journal: Journal) -> None:
        self._journal = journal

    def __enter__(self) -> None:
        self._journal._lock.acquire()

    def __exit__(self, kind: object, error: BaseException | None, trace: object) -> None:
        self._journal._lock.release()
        if isinstance(error, sqlite3.Error | UnicodeError):
            raise self._journal._error(error) from None


class _Transaction:
    """One write transaction under the journal's lock: committed whole, or rolled back."""

    def __init__(self, journal: Journal) -> None:
        self._journal = journal

    def __enter__(self) -> None:
        journal = self._journal
        journal._lock.acquire()
        try:
            if journal._db.in_transaction:
                # Left open by an interrupt that came between BEGIN and the handler below:
                # nothing in it was committed, so nothing is lost by dropping it.
                journal._db.execute("ROLLBACK")
            journal._db.execute("BEGIN")
        except sqlite3.Error as error:
            journal._lock.release()
            raise journal._error(error) from None
        except BaseException:
            journal._lock.release()
            raise

    def __exit__(self, kind: object, error: BaseException | None, trace: object) -> None:
        db = self._journal._db
        try:
            if error is None:
                db.execute("COMMIT")
            elif db.in_transaction:
                # Even an interrupt: the next group must not find this transaction open.
                db.execute("ROLLBACK")
        except sqlite3.Error as failure:
            error = failure
        finally:
            if error is not None:
                self._rolled_back()
            self._journal._lock.release()
        if isinstance(error, sqlite3.Error | UnicodeError):
            raise self._journal._error(error) from None

    def _rolled_back(self) -> None:
        db = self._journal._db
        try:
            if db.in_transaction:
                db.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # the connection is unusable; the error being raised says why
        # Targets and folders added in the transaction are gone with it.
        self._journal._targets.clear()
        self._journal._folders.clear()


def _identity_columns(identity: Identity | None) -> tuple[int | None, ...]:
    if identity is None:
        return (None, None, None, None)
    return (identity.dev, identity.ino, identity.mtime_ns, identity.ctime_ns - identity.mtime_ns)


def _open_to_upgrade(path: Path) -> sqlite3.Connection:
    try:
        return sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    except sqlite3.Error as error:
        raise JournalError(
            f"the journal {path} was written by an older productiv-upload and cannot be "
            f"upgraded here ({error}); run a push with write access to it first"
        ) from None


def _make_state_dir(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as error:
        raise JournalError(state_dir_problem(folder, error)) from None
