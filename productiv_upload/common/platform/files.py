"""Opening the files to send, where the system can make that safe."""

from __future__ import annotations

import os

# A path that became a FIFO since discovery must not hang the run: opened without blocking,
# it opens at once and the caller's fstat() sees it is not a regular file. Windows has no
# FIFOs in the file system and no O_NONBLOCK, but opens in text mode without O_BINARY (line
# ends rewritten, the bytes cut at ^Z), which fdopen(fd, "rb") does not undo.
_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)


def open_to_read(path: str) -> int:
    """A file descriptor for reading `path`, never waiting for a writer; raises OSError."""
    return os.open(path, _FLAGS)
