"""The CLI on a real pseudo-terminal, its screen read frame by frame as a user would see it.

The process writes to a pty of a given size; everything it writes is fed to `pyte`, a terminal
emulator, and the screen is copied each time the output pauses (rich redraws its live view in
one write, 8 times a second, so a pause means a whole frame is on the screen).
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable

import pyte

QUIET_S = 0.03  # no output for this long: the frame being drawn is complete

Frame = list[str]


class TerminalRun:
    """`productiv-upload ARGS` with stdout and stderr on a pty of `columns` x `lines`."""

    def __init__(self, *args: str, columns: int, lines: int = 40) -> None:
        self.screen = pyte.Screen(columns, lines)
        self._stream = pyte.ByteStream(self.screen)
        self._controller, terminal = pty.openpty()
        fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
        # The pty's size is what the tool must find; variables would override it.
        env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
        env["TERM"] = "xterm-256color"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "productiv_upload", *args],
            stdin=subprocess.DEVNULL,
            stdout=terminal,
            stderr=terminal,
            env=env,
        )
        os.close(terminal)
        self.frames: list[Frame] = []

    def run(self, on_frame: Callable[[Frame], None] | None = None, timeout: float = 60) -> int:
        """Read until the process ends; returns its exit code. `on_frame` sees each frame."""
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                ready, _, _ = select.select([self._controller], [], [], QUIET_S)
                if ready:
                    try:
                        chunk = os.read(self._controller, 65536)
                    except OSError:  # EIO: the process has ended and the pty is closed
                        break
                    if not chunk:
                        break
                    self._stream.feed(chunk)
                    continue
                frame = self.display()
                if not self.frames or frame != self.frames[-1]:
                    self.frames.append(frame)
                    if on_frame is not None:
                        on_frame(frame)
            else:
                raise AssertionError(f"the process did not end within {timeout} s")
        finally:
            os.close(self._controller)
            if self.process.poll() is None:
                self.process.kill()
        return self.process.wait(timeout=10)

    def display(self) -> Frame:
        """The screen now, each line without its trailing blanks, the trailing blank lines gone."""
        lines = [line.rstrip() for line in self.screen.display]
        while lines and not lines[-1]:
            lines.pop()
        return lines
