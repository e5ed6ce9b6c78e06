"""Run one command and measure its wall time and the peak RSS of its whole process tree.

Peak RSS is the larger of two measurements:
  * the sum of VmRSS over the process and all its descendants, polled from /proc every 20 ms
    (catches trees such as `xargs -P 16 curl`, where many processes are alive at once);
  * ru_maxrss from wait4(), the largest single process of the tree, exact even for processes
    that lived shorter than the polling interval.
"""

from __future__ import annotations

import contextlib
import fcntl
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

POLL_S = 0.02
_PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


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


def tree_rss_kb(root: int) -> int:
    """The summed resident set of `root` and every descendant alive right now, in KiB."""
    total, queue = 0, [root]
    while queue:
        pid = queue.pop()
        with contextlib.suppress(OSError, ValueError, IndexError):
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE_KB
        queue.extend(_children(pid))
    return total


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
    timeout_s: float = 540.0,
) -> Measured:
    """Run `command` to completion; with `terminal`, its stdio is a 120x40 pseudo-terminal.

    Otherwise stdout and stderr are plain files (not a terminal, and nothing has to drain them
    while the command runs).
    """
    argv = [str(part) for part in command]
    if not terminal:
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            wall, peak_mb, code = _measure(
                argv, env, subprocess.DEVNULL, out.fileno(), err.fileno(), timeout_s
            )
            out.seek(0)
            err.seek(0)
            return Measured(wall, peak_mb, code, _text(out.read()), _text(err.read()))
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    screen = bytearray()
    reader = threading.Thread(target=_drain, args=(master, screen), daemon=True)
    reader.start()
    try:
        wall, peak_mb, code = _measure(argv, env, slave, slave, slave, timeout_s, close_fd=slave)
    finally:
        reader.join(5)
        os.close(master)
    return Measured(wall, peak_mb, code, _text(bytes(screen)), "")


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def _measure(
    argv: list[str],
    env: Mapping[str, str],
    stdin: int,
    stdout: int,
    stderr: int,
    timeout_s: float,
    *,
    close_fd: int | None = None,
) -> tuple[float, float, int]:
    """(wall seconds, peak RSS in MiB, exit code) of one run."""
    started = time.perf_counter()
    process = subprocess.Popen(  # noqa: S603 (our own benchmark commands)
        argv, env=dict(env), stdin=stdin, stdout=stdout, stderr=stderr, start_new_session=True
    )
    if close_fd is not None:
        os.close(close_fd)  # the pseudo-terminal reader sees EOF once the child side closes
    peak_kb = 0
    done = threading.Event()

    def poll() -> None:
        nonlocal peak_kb
        while not done.wait(POLL_S):
            peak_kb = max(peak_kb, tree_rss_kb(process.pid))

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    killer = threading.Timer(timeout_s, os.killpg, (process.pid, signal.SIGKILL))
    killer.start()
    try:
        # wait4, not Popen.wait: it also gives the rusage of the child and its reaped children.
        _, status, usage = os.wait4(process.pid, 0)
    finally:
        killer.cancel()
        done.set()
    wall = time.perf_counter() - started
    poller.join()
    process.returncode = os.waitstatus_to_exitcode(status)
    return wall, max(peak_kb, usage.ru_maxrss) / 1024, process.returncode
