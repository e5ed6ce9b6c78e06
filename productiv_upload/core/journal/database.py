"""The journal's SQLite connection: shared by threads under one lock, written in transactions
that commit whole or not at all, and with SQLite's errors turned into messages that name the
file and say what the machine did (a full disk, a read-only folder) or that it is damaged.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from productiv_upload.common.errors import UsageError
from productiv_upload.common.text import printable
from productiv_upload.core.journal.schema import SCHEMA_VERSION, upgrade
from productiv_upload.core.settings.state_dir import state_dir_problem


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
        return JournalError(
            f"the journal {shown} cannot be written ({error}): {advice}", str(error)
        )
    return JournalError(
        f"the journal {shown} cannot be used ({error}); if it is damaged, move it aside "
        "(the next run starts a new one and may resend files it had recorded)",
        str(error),
    )


class Database:
    """One connection, its lock, and transactions. Not for the public: the journal's modules."""

    def __init__(self, path: Path, *, create: bool) -> None:
        self.path = path
        self.writable = create
        # Reentrant: a transaction looks up (and adds) targets and folders under the same lock.
        self.lock = threading.RLock()
        self._on_rollback: list[Callable[[], None]] = []
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
        connection: sqlite3.Connection | None = None
        try:
            connection = sqlite3.connect(
                path if create else f"file:{path}?mode=ro",
                uri=not create,
                check_same_thread=False,
                isolation_level=None,  # autocommit, and explicit BEGIN where it matters
            )
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            if create:
                connection.execute("PRAGMA journal_mode=WAL")
                # NORMAL in WAL mode survives a killed process; only an OS crash may lose the
                # last few records, which then cost one resend.
                connection.execute("PRAGMA synchronous=NORMAL")
            if version > SCHEMA_VERSION:
                raise JournalError(
                    f"the journal {path} was written by a newer productiv-upload; "
                    "upgrade, or pass another --state-dir"
                )
            if version < SCHEMA_VERSION:
                if not create:
                    connection.close()
                    connection = _open_to_upgrade(path)
                upgrade(connection)
            connection.execute("SELECT count(*) FROM uploads WHERE id = 0").fetchone()
        except BaseException as error:
            # A journal refused here is never closed by its caller, which never gets it.
            if connection is not None:
                connection.close()
            if isinstance(error, sqlite3.Error):
                raise journal_error(path, error) from None
            raise
        self.connection = connection

    def close(self) -> None:
        with self.lock:
            self.connection.close()

    def on_rollback(self, forget: Callable[[], None]) -> None:
        """`forget` is called when a transaction is rolled back (to drop cached row ids)."""
        self._on_rollback.append(forget)

    @contextlib.contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """The connection, under the lock, with SQLite's errors naming the file."""
        with self.lock:
            try:
                yield self.connection
            except (sqlite3.Error, UnicodeError) as error:
                raise journal_error(self.path, error) from None

    @contextlib.contextmanager
    def writing(self) -> Iterator[sqlite3.Connection]:
        """One write transaction under the lock: committed whole, or rolled back."""
        with self.lock:
            db = self.connection
            try:
                if db.in_transaction:
                    # Left open by an interrupt that came between BEGIN and the handler below:
                    # nothing in it was committed, so nothing is lost by dropping it.
                    db.execute("ROLLBACK")
                db.execute("BEGIN")
                yield db
                db.execute("COMMIT")
            except (sqlite3.Error, UnicodeError) as error:
                self._rolled_back()
                raise journal_error(self.path, error) from None
            except BaseException:
                # Even an interrupt: the next group must not find this transaction open.
                self._rolled_back()
                raise

    def meta(self, key: str) -> int:
        row = self.connection.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return int(row[0]) if row is not None else 0

    def set_meta(self, key: str, value: int) -> None:
        self.connection.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value)
        )

    def _rolled_back(self) -> None:
        # The connection may be unusable; the error being raised says why.
        with contextlib.suppress(sqlite3.Error):
            if self.connection.in_transaction:
                self.connection.execute("ROLLBACK")
        for forget in self._on_rollback:
            forget()


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
