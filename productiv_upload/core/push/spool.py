"""Spool directories: move or delete files once their upload is verified and recorded."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from productiv_upload.common.errors import UsageError
from productiv_upload.common.text import printable
from productiv_upload.core.model import FileResult, LocalFile, Status

_COPY_BLOCK = 1024 * 1024


@dataclass
class Settled:
    done: list[str] = field(default_factory=list)  # paths moved or deleted
    kept: list[str] = field(default_factory=list)  # left in place, as they should be: why
    # Left in place because moving or deleting them failed: why. The run's exit code says so.
    failed: list[str] = field(default_factory=list)


def prepare_move_target(directory: Path) -> None:
    """Create the --move-to folder if needed, before anything is sent."""
    shown = printable(str(directory))
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise UsageError(f"--move-to {shown} is not a folder") from None
    except OSError as error:
        raise UsageError(f"--move-to {shown}: {error.strerror}") from None
    if not directory.is_dir():
        raise UsageError(f"--move-to {shown} is not a folder")


def settle(
    results: Iterable[FileResult],
    files: dict[str, LocalFile],
    *,
    move_to: Path | None,
    delete: bool,
) -> Settled:
    """Move or delete each file the journal now holds (uploaded or skipped), never a failed one.

    A file that changed since it was found is kept: its new content was never sent.
    """
    settled = Settled()
    for result in results:
        if result.status not in (Status.UPLOADED, Status.SKIPPED) or result.error is not None:
            continue
        file = files[result.filename]
        shown = printable(file.path)
        try:
            now = os.stat(file.path)
        except OSError as error:
            settled.failed.append(f"{shown}: {error.strerror}")
            continue
        if (now.st_size, now.st_mtime_ns) != (file.size, file.mtime_ns):
            settled.kept.append(f"{shown}: it changed after it was found; kept for the next run")
            continue
        try:
            if move_to is not None:
                target = move_to / file.filename
                if os.path.lexists(target):
                    settled.failed.append(f"{shown}: {printable(str(target))} already exists")
                    continue
                move_whole(file.path, target)
            elif delete:
                os.unlink(file.path)
            else:
                continue
        except OSError as error:
            settled.failed.append(f"{shown}: {error.strerror}")
            continue
        settled.done.append(file.path)
    return settled


def move_whole(source: str, target: Path) -> None:
    """Move a file to `target`, never over an existing file, never leaving a partial copy.

    On one filesystem this is a rename, made as a hard link and an unlink so that a file that
    appeared at `target` meanwhile is not replaced. Across filesystems the bytes are copied to
    a hidden temporary file beside `target`, flushed to disk, given their final name, and only
    then is the source removed; on any failure (a full disk, say) the copy is removed and the
    source stays where it was, whole. A symlink is moved as a symlink. Raises OSError.
    """
    try:
        linked = _place(source, target)
    except OSError as error:
        if error.errno != errno.EXDEV:
            raise
    else:
        if linked:
            os.unlink(source)
        return
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        if os.path.islink(source):
            os.symlink(os.readlink(source), partial)
        else:
            with open(source, "rb") as reading, open(partial, "xb") as writing:
                shutil.copyfileobj(reading, writing, _COPY_BLOCK)
                writing.flush()
                os.fsync(writing.fileno())
            shutil.copystat(source, partial)
        if _place(str(partial), target):
            os.unlink(partial)
    except BaseException:
        _remove_quietly(partial)
        raise
    try:
        os.unlink(source)
    except OSError:
        _remove_quietly(target)  # not moved after all: keep the one copy, where it was
        raise


def _place(source: str, target: Path) -> bool:
    """Give `source` the name `target` without replacing a file there; True when `source`
    still exists afterwards (a hard link was made) and is for the caller to remove."""
    try:
        os.link(source, target, follow_symlinks=False)
        return True
    except OSError as error:
        # Filesystems without hard links (FAT, some network shares) get a rename, which could
        # replace a file that appeared at `target` since this check.
        if error.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
    if os.path.lexists(target):
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(target))
    os.rename(source, target)
    return False


def _remove_quietly(path: Path | str) -> None:
    # Already gone, or the error that matters is the one being raised.
    with contextlib.suppress(OSError):
        os.unlink(path)
