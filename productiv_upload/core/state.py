"""The state directory: where the journal lives, and the lock that keeps one push per app."""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from filelock import FileLock, Timeout

from productiv_upload.common.errors import LockHeld, UsageError
from productiv_upload.common.text import printable

APP_DIR = "productiv-upload"


def default_state_dir(environ: Mapping[str, str]) -> Path:
    """The platform's per-user state folder (XDG_STATE_HOME on Linux)."""
    home = Path(environ.get("HOME") or Path.home())
    if sys.platform == "darwin":
        return home / "Library" / "Application Support" / APP_DIR
    if os.name == "nt":
        return Path(environ.get("LOCALAPPDATA") or home / "AppData" / "Local") / APP_DIR
    return Path(environ.get("XDG_STATE_HOME") or home / ".local" / "state") / APP_DIR


def resolve_state_dir(flag: Path | None, environ: Mapping[str, str]) -> Path:
    return state_dir_and_source(flag, environ)[0]


def state_dir_and_source(flag: Path | None, environ: Mapping[str, str]) -> tuple[Path, str]:
    """--state-dir > PRODUCTIV_UPLOAD_STATE_DIR > the platform default, and which one it was."""
    if flag is not None:
        return flag, "--state-dir"
    if environ.get("PRODUCTIV_UPLOAD_STATE_DIR"):
        return Path(environ["PRODUCTIV_UPLOAD_STATE_DIR"]), "PRODUCTIV_UPLOAD_STATE_DIR"
    return default_state_dir(environ), "default"


class AppLock:
    """An exclusive lock per API URL and app id.

    It is an OS file lock (flock), so the kernel drops it when its holder dies: a lock left by
    a killed run never blocks the next one. The holder's PID is written beside it, for messages.
    """

    def __init__(self, state_dir: Path, api_url: str, app_id: str, *, wait_s: float = 0) -> None:
        key = hashlib.sha256(f"{api_url}\n{app_id}".encode()).hexdigest()[:16]
        locks = state_dir / "locks"
        self._app_id = app_id
        self._path = locks / f"{key}.lock"
        self._owner = locks / f"{key}.owner"
        self._wait_s = wait_s
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
            holder = self._holder()
            waited = f" after waiting {self._wait_s:g} s" if self._wait_s else ""
            raise LockHeld(
                f"another push for app {printable(self._app_id)} is running{holder}{waited}; "
                "let it finish, or pass --wait-lock SECONDS to wait for it"
            ) from None
        except OSError as error:  # after Timeout, which is an OSError too
            raise UsageError(
                f"cannot take the lock {printable(str(self._path))}: {error.strerror}; "
                "check the state directory (--state-dir)"
            ) from None
        self._lock = lock
        try:
            descriptor = os.open(self._owner, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "w") as owner:
                owner.write(f"{os.getpid()}\n")
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

    def _holder(self) -> str:
        try:
            pid = self._owner.read_text().strip()
        except OSError:
            return ""
        return f" (PID {pid})" if pid.isdigit() else ""


def state_dir_problem(folder: Path, error: OSError) -> str:
    """`cannot use the state directory X: <why>`, naming what is in the way if something is."""
    shown = printable(str(folder))
    if isinstance(error, FileExistsError | NotADirectoryError):
        blocker = printable(str(error.filename or folder))
        return (
            f"cannot use the state directory {shown}: {blocker} is a file, not a folder; move "
            "it away or pass another --state-dir"
        )
    return (
        f"cannot use the state directory {shown}: {error.strerror}; pass another --state-dir, "
        "or set PRODUCTIV_UPLOAD_STATE_DIR"
    )
