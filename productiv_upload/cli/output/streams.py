"""The files and streams a run writes for the user, and what happens when the machine refuses.

A cron job meets full disks, missing folders and closed pipes. What a run writes besides its
uploads (stdout, `--log-file`, `--report`) must never crash it or lose an upload: each is
checked before anything is sent where that can be known (exit 2), and a write that fails
later is remembered, named on stderr at the end, and makes the exit code 1.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from typing import TextIO, cast


class FallibleOutput:
    """A text stream whose first failing write is remembered instead of raised.

    Later writes are dropped. `on_failure` hears of the failure once (stdout closed by
    `| head` stops the run, as a pipe's reader going away stops other tools).
    """

    def __init__(
        self, stream: TextIO, name: str, on_failure: Callable[[OSError], None] | None = None
    ) -> None:
        self._stream = stream
        self.name = name
        self.error: OSError | None = None
        self._on_failure = on_failure
        self._lock = threading.Lock()
        self.encoding: str = getattr(stream, "encoding", "utf-8")  # rich asks for it

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    def write(self, text: str) -> int:
        if self.error is None:
            try:
                self._stream.write(text)
            except OSError as error:
                self._failed(error)
        return len(text)

    def flush(self) -> None:
        if self.error is None:
            try:
                self._stream.flush()
            except OSError as error:
                self._failed(error)

    def isatty(self) -> bool:
        return self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()

    def problem(self) -> str | None:
        """`cannot write <name>: <why>`, or None when every write went through."""
        if self.error is None:
            return None
        return f"cannot write {self.name}: {describe(self.error)}"

    def _failed(self, error: OSError) -> None:
        with self._lock:
            if self.error is not None:
                return
            self.error = error
        if self._on_failure is not None:
            self._on_failure(error)


def fallible(
    stream: TextIO, name: str, on_failure: Callable[[OSError], None] | None = None
) -> tuple[TextIO, FallibleOutput]:
    output = FallibleOutput(stream, name, on_failure)
    return cast(TextIO, output), output


def silence_stdout() -> None:
    """Point file descriptor 1 at /dev/null: the interpreter's own flush at exit must not
    print a BrokenPipeError traceback after a reader closed the pipe."""
    with contextlib.suppress(OSError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)


def describe(error: OSError) -> str:
    return error.strerror or str(error)
