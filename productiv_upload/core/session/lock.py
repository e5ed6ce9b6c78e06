"""The lock that keeps one run per app, and who holds it when a run must wait or give up."""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock, Timeout

from productiv_upload.common.errors import LockHeld, UsageError
from productiv_upload.common.platform.processes import is_alive
from productiv_upload.common.platform.procfs import UNKNOWN, command_words, flock_holder
from productiv_upload.common.text import printable
from productiv_upload.core.settings.state_dir import state_dir_problem


class AppLock:
    """An exclusive lock per API URL and app id.

    It is an OS file lock (flock), so the kernel drops it when its holder dies: a lock left by
    a killed run never blocks the next one. The holder's PID is written beside it, for messages.
    """

    def __init__(
        self,
        state_dir: Path,
        api_url: str,
        app_id: str,
        *,
        wait_s: float = 0,
        kind: str = "push",
    ) -> None:
        self._app_id = app_id
        self._path, self._owner = _lock_files(state_dir, api_url, app_id)
        self._wait_s = wait_s
        self._kind = kind
        self._lock: FileLock | None = None

    def __enter__(self) -> AppLock:
        try:
            self._path.parent.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._path.parent.mkdir(exist_ok=True, mode=0o700)
        except OSError as error:
            raise UsageError(state_dir_problem(self._path.parent.parent, error)) from None
        lock = FileLock(self._path, timeout=self._wait_s, mode=0o600)
        try:
            lock.acquire()
        except Timeout:
            holder = _read_owner(self._owner)
            what = holder.kind if holder is not None and holder.kind else "push"
            pid = f" (PID {holder.pid})" if holder is not None else ""
            waited = f" after waiting {self._wait_s:g} s" if self._wait_s else ""
            advice = (
                "stop it first"
                if what == "watch"
                else "let it finish, or pass --wait-lock SECONDS to wait for it"
            )
            raise LockHeld(
                f"another {what} for app {printable(self._app_id)} is running{pid}{waited}; "
                f"{advice}"
            ) from None
        except OSError as error:  # after Timeout, which is an OSError too
            raise UsageError(
                f"cannot take the lock {printable(str(self._path))}: {error.strerror}; "
                "check the state directory (--state-dir)"
            ) from None
        self._lock = lock
        try:
            descriptor = os.open(self._owner, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "w") as owner_file:
                owner_file.write(f"{os.getpid()}\n{self._kind}\n{int(time.time())}\n")
        except OSError as error:
            lock.release()
            self._lock = None
            raise UsageError(
                f"cannot write {printable(str(self._owner))}: {error.strerror}; check the "
                "state directory (--state-dir)"
            ) from None
        return self

    def __exit__(self, *exc: object) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None


@dataclass(frozen=True)
class Holder:
    """Who holds an app's lock: a push or a watch, its PID, and since when."""

    pid: int
    kind: str | None  # "push" or "watch"; None when not recorded
    since: int | None  # Unix time


def lock_holder(state_dir: Path, api_url: str, app_id: str) -> Holder | None:
    """Who holds the app's lock right now, found without touching the lock.

    Taking the lock to see whether it is free, even for an instant, could make a push that
    starts at that instant exit 4. On Linux the kernel's table of file locks (/proc/locks)
    says which process holds it; elsewhere the holder's PID file is believed while that
    process is alive.
    """
    lock, owner_file = _lock_files(state_dir, api_url, app_id)
    try:
        info = os.stat(lock)
    except OSError:
        return None
    owner = _read_owner(owner_file)
    pid = flock_holder(info)
    if pid is None:
        return None
    if pid == UNKNOWN:
        if owner is None or not is_alive(owner.pid):
            return None
        return owner
    if owner is not None and owner.pid == pid:
        return owner
    # Its own record is not written yet (it is, right after the lock is taken), or is another
    # process's from before: what the holder is, its command line says.
    return Holder(pid, _command_of(pid), None)


def _command_of(pid: int) -> str | None:
    """ "push" or "watch", from a process's arguments, or None if they do not say."""
    for word in command_words(pid) or []:
        if word in (b"push", b"watch"):
            return word.decode()
    return None


def _read_owner(path: Path) -> Holder | None:
    try:
        lines = path.read_text().split()
    except OSError:
        return None
    if not lines or not lines[0].isdigit():
        return None
    kind = lines[1] if len(lines) > 1 and lines[1] in ("push", "watch") else None
    since = int(lines[2]) if len(lines) > 2 and lines[2].isdigit() else None
    return Holder(int(lines[0]), kind, since)


def _lock_files(state_dir: Path, api_url: str, app_id: str) -> tuple[Path, Path]:
    key = hashlib.sha256(f"{api_url}\n{app_id}".encode()).hexdigest()[:16]
    locks = state_dir / "locks"
    return locks / f"{key}.lock", locks / f"{key}.owner"
