"""Run one command and measure its wall time and the peak RSS of its whole process tree.

Peak RSS is the larger of two measurements:
  * `/usr/bin/time -f %M` around the command: ru_maxrss from wait4, i.e. the peak of the largest
    single process of the tree, exact even for processes too short-lived to be polled. (Read in
    the bench process itself it would be wrong: a child forked from a big parent inherits the
    parent's RSS as its starting high-water mark. GNU time's own is about 2 MiB.)
  * the sum of VmRSS over the command and all its descendants, polled from /proc every 10 ms:
    this catches trees such as `xargs -P 16 curl`, where many processes are alive at once.
Without GNU time (not Linux) only the polled sum is reported.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import pty
import signal
import struct
import subprocess
import tempfile
import termios
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

POLL_S = 0.01
GNU_TIME = "/usr/bin/time"
_PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


@functools.cache
def _has_gnu_time() -> bool:
    try:
        found = subprocess.run([GNU_TIME, "--version"], capture_output=True, check=False)  # noqa: S603
    except OSError:
        return False
    return b"GNU" in found.stdout + found.stderr


@dataclass(frozen=True)
class Measured:
    wall_s: float
    peak_rss_mb: float
    returncode: int
    output: str  # stdout (or, on a pseudo-terminal, everything the terminal received)
    errors: str  # stderr, empty on a pseudo-terminal


def _children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):
                text = Path(f"/proc/{pid}/task/{task}/children").read_text()
                found.extend(int(child) for child in text.split())
    return found


def tree_rss_kb(root: int, *, count_root: bool = True) -> int:
    """The summed resident set of `root` and every descendant alive right now, in KiB."""
    total, queue = 0, [root] if count_root else _children(root)
    while queue:
        pid = queue.pop()
        with contextlib.suppress(OSError, ValueError, IndexError):
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE_KB
        queue.extend(_children(pid))
    return total


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def _drain(fd: int, sink: bytearray) -> None:
    """Read a pseudo-terminal's master side until the last writer has gone."""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the slave side is closed
            return
        if not chunk:
            return
        sink += chunk


def run(
    command: Sequence[str | Path],
    *,
    env: Mapping[str, str],
    terminal: bool = False,
    columns: int = 120,
    timeout_s: float = 540.0,
) -> Measured:
    """Run `command` to completion; with `terminal`, its stdio is a pseudo-terminal of
    `columns` x 40.

    Otherwise stdout and stderr are plain files (not a terminal, and nothing has to drain them
    while the command runs).
    """
    argv = [str(part) for part in command]
    with tempfile.NamedTemporaryFile() as peak:
        wrapped = _has_gnu_time()
        if wrapped:
            argv = [GNU_TIME, "-f", "%M", "-o", peak.name, *argv]
        if terminal:
            master, slave = pty.openpty()
            fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
            screen = bytearray()
            reader = threading.Thread(target=_drain, args=(master, screen), daemon=True)
            reader.start()
            try:
                wall, tree_kb, code = _measure(
                    argv, env, (slave, slave, slave), timeout_s, wrapped, slave
                )
            finally:
                reader.join(5)
                os.close(master)
            output, errors = bytes(screen), b""
        else:
            with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
                stdio = (subprocess.DEVNULL, out.fileno(), err.fileno())
                wall, tree_kb, code = _measure(argv, env, stdio, timeout_s, wrapped)
                out.seek(0)
                err.seek(0)
                output, errors = out.read(), err.read()
        largest_kb = _last_int(Path(peak.name).read_text())
    return Measured(wall, max(tree_kb, largest_kb) / 1024, code, _text(output), _text(errors))


def _last_int(text: str) -> int:
    """GNU time's %M: the last line (earlier ones may say how the command ended)."""
    lines = text.split()
    return int(lines[-1]) if lines and lines[-1].isdigit() else 0


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def _measure(
    argv: list[str],
    env: Mapping[str, str],
    stdio: tuple[int, int, int],
    timeout_s: float,
    wrapped: bool,
    close_after_start: int | None = None,
) -> tuple[float, int, int]:
    """(wall seconds, peak summed RSS of the tree in KiB, exit code) of one run.

    When `wrapped`, the root is GNU time, whose own RSS is not counted.
    """
    stdin, stdout, stderr = stdio
    started = time.perf_counter()
    process = subprocess.Popen(  # noqa: S603 (our own benchmark commands)
        argv, env=dict(env), stdin=stdin, stdout=stdout, stderr=stderr, start_new_session=True
    )
    if close_after_start is not None:
        os.close(close_after_start)  # the pty reader sees EOF once the child side is closed
    peak_kb = 0
    done = threading.Event()

    def poll() -> None:
        nonlocal peak_kb
        while True:
            peak_kb = max(peak_kb, tree_rss_kb(process.pid, count_root=not wrapped))
            if done.wait(POLL_S):
                return

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    # A blocking wait: Popen.wait(timeout) polls with sleeps of up to 50 ms, which would
    # quantise the wall time. The timer kills the command's process group if it runs too long.
    killer = threading.Timer(timeout_s, _kill_group, (process.pid,))
    killer.start()
    try:
        code = process.wait()
    finally:
        killer.cancel()
    wall = time.perf_counter() - started
    done.set()
    poller.join()
    return wall, peak_kb, code
