"""s3rver, an independent S3 server from npm: installing the pinned version and running it.

The pin lives in tests/s3rver/ (package.json and package-lock.json). It is installed into a cache
folder outside the repository, once: `python -m tests.real_s3_server` does it (CI's step before
pytest), and the real_s3 tests' fixture calls the same `install()`.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

S3RVER_VERSION = "3.7.1"
PINNED = Path(__file__).parent / "s3rver"
ACCESS_KEY = "S3RVER"  # s3rver's built-in credentials
SECRET_KEY = "S3RVER"
INSTALL_TIMEOUT_S = 600
START_TIMEOUT_S = 30
_LISTENING = re.compile(r"S3rver listening on [^\s:]+:(\d+)")


class S3rverUnavailable(Exception):
    """s3rver cannot be installed or started here; the message says why."""


def cache_folder() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "productiv-upload-test" / f"s3rver-{S3RVER_VERSION}"


def install() -> Path:
    """Install the pinned s3rver (once per lockfile) and return its executable."""
    folder = cache_folder()
    executable = folder / "node_modules" / ".bin" / "s3rver"
    marker = folder / ".installed"
    # The marker holds the lockfile's hash: a changed pin installs again.
    lock_hash = hashlib.sha256((PINNED / "package-lock.json").read_bytes()).hexdigest()
    if _installed(marker, lock_hash):
        return executable

    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        raise S3rverUnavailable(f"{' and '.join(missing)} not found on PATH; s3rver needs both")
    folder.parent.mkdir(parents=True, exist_ok=True)
    # Installed beside the final folder and renamed into place: an interrupted install never
    # leaves a folder that looks complete.
    staging = Path(tempfile.mkdtemp(prefix=f"{folder.name}.", dir=folder.parent))
    try:
        for name in ("package.json", "package-lock.json"):
            shutil.copy2(PINNED / name, staging / name)
        try:
            completed = subprocess.run(
                ["npm", "ci", "--no-audit", "--no-fund"],
                cwd=staging,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=INSTALL_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise S3rverUnavailable(
                f"npm ci for s3rver {S3RVER_VERSION} took over {INSTALL_TIMEOUT_S} s"
            ) from None
        if completed.returncode != 0:
            output = (completed.stdout + completed.stderr).strip()[-2000:]
            raise S3rverUnavailable(
                f"npm ci for s3rver {S3RVER_VERSION} exited {completed.returncode}:\n{output}"
            )
        (staging / ".installed").write_text(lock_hash)
        # A run beside this one may have installed the same pin meanwhile: keep that one.
        if not _installed(marker, lock_hash):
            shutil.rmtree(folder, ignore_errors=True)  # a stale install of an older lockfile
            try:
                staging.rename(folder)
            except OSError:
                if not _installed(marker, lock_hash):
                    raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return executable


def _installed(marker: Path, lock_hash: str) -> bool:
    """The marker is written last, into the folder renamed into place: it means complete."""
    return marker.is_file() and marker.read_text() == lock_hash


class S3rver:
    """A running s3rver on 127.0.0.1, on a port of its own choosing, with one bucket."""

    def __init__(self, executable: Path, directory: Path, bucket: str) -> None:
        self.executable = executable
        self.directory = directory
        self.bucket = bucket
        self.log_path = directory.parent / f"{directory.name}.log"
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_size(self) -> int:
        """How much s3rver has logged so far: it logs a line for every request it answers."""
        return self.log_path.stat().st_size

    def log_since(self, start: int, end: int | None = None) -> str:
        """What s3rver logged from byte offset `start` (to `end`)."""
        with self.log_path.open("rb") as log:
            log.seek(start)
            text = log.read() if end is None else log.read(end - start)
        return text.decode("utf-8", "replace")

    def start(self) -> S3rver:
        """Start it and wait until it answers; raise S3rverUnavailable if it does not."""
        self.directory.mkdir(parents=True, exist_ok=True)
        command = [str(self.executable), "--address", "127.0.0.1", "--port", "0"]
        command += ["--directory", str(self.directory), "--configure-bucket", self.bucket]
        with self.log_path.open("wb") as log:
            # Its own session: stopping it kills node and anything node started.
            # The log is a file, not a pipe: a pipe nobody drains would stall the server.
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            self.port = self._wait_for_port()
            self._wait_until_it_answers()
        except S3rverUnavailable:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)

    def _wait_for_port(self) -> int:
        """s3rver prints the port it bound when given --port 0."""
        assert self._process is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            match = _LISTENING.search(self.log_since(0))
            if match:
                return int(match.group(1))
            if self._process.poll() is not None:
                raise S3rverUnavailable(
                    f"s3rver exited {self._process.returncode} at start:\n{self.log_since(0)}"
                )
            time.sleep(0.05)
        raise S3rverUnavailable(
            f"s3rver did not start in {START_TIMEOUT_S} s:\n{self.log_since(0)}"
        )

    def _wait_until_it_answers(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=2) as connection:
                    connection.sendall(b"HEAD / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                    if connection.recv(16).startswith(b"HTTP/1.1 "):
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise S3rverUnavailable(f"s3rver on port {self.port} does not answer HTTP")
            time.sleep(0.05)


def main() -> int:
    """Install the pinned s3rver into the cache folder; exit 1 with the reason if it cannot."""
    try:
        executable = install()
    except S3rverUnavailable as error:
        print(f"s3rver {S3RVER_VERSION} could not be installed: {error}", file=sys.stderr)
        return 1
    print(f"s3rver {S3RVER_VERSION}: {executable}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
