"""Files the tool writes for the user (a report, metrics) appear whole or not at all."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from productiv_upload.common.errors import UsageError
from productiv_upload.common.text import printable


def write_whole(path: Path, data: bytes, *, mode: int | None = None) -> None:
    """Write beside `path`, flush to disk, then rename over it: readers never see half a file.

    With `mode`, the file gets it whatever the umask (a metrics file must be readable by the
    exporter's user even from a service with UMask=0077); without, the umask decides. Raises
    OSError; a failed attempt leaves no temporary file behind. A target that exists and is not
    a regular file (/dev/stdout, a FIFO) is written straight into instead: renaming over a
    device would replace it.
    """
    if is_special(path):
        with open(path, "wb") as target:
            target.write(data)
        return
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        with open(descriptor, "wb") as written:
            if mode is not None:
                os.fchmod(written.fileno(), mode)
            written.write(data)
            written.flush()
            os.fsync(written.fileno())
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(partial)
        raise


def is_special(path: Path) -> bool:
    """Whether `path` exists and is not a regular file (a device, a FIFO, a socket)."""
    try:
        return not stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def check_writable(path: Path, option: str) -> None:
    """Refuse, before anything is sent, a report or log that could not be written."""
    shown = f"{option} {printable(str(path))}"
    if path.is_dir():
        raise UsageError(f"{shown} is a folder; name a file")
    if is_special(path):
        return  # /dev/stdout, /dev/null, a FIFO: written straight into
    folder = path.parent
    if not folder.exists():
        raise UsageError(f"{shown}: the folder {printable(str(folder))} does not exist")
    if not folder.is_dir():
        raise UsageError(f"{shown}: {printable(str(folder))} is not a folder")
    probe = folder / f".{path.name}.{os.getpid()}.probe"
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError as error:
        raise UsageError(
            f"{shown}: cannot create a file in {printable(str(folder))}: {error.strerror}"
        ) from None
    with contextlib.suppress(OSError):
        os.unlink(probe)
