"""Spool directories: move or delete files once their upload is verified and recorded."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from productiv_upload.common.errors import UsageError
from productiv_upload.common.text import printable
from productiv_upload.core.discover import LocalFile
from productiv_upload.core.report import FileResult, Status


@dataclass
class Settled:
    done: int = 0
    kept: list[str] = field(default_factory=list)  # why files were left where they were


def prepare_move_target(directory: Path) -> None:
    """Create the --move-to folder if needed, before anything is sent."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"--move-to {printable(str(directory))}: {error.strerror}") from None
    if not directory.is_dir():
        raise UsageError(f"--move-to {printable(str(directory))} is not a folder")


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
            settled.kept.append(f"{shown}: {error.strerror}")
            continue
        if (now.st_size, now.st_mtime_ns) != (file.size, file.mtime_ns):
            settled.kept.append(f"{shown}: it changed after it was found; kept for the next run")
            continue
        try:
            if move_to is not None:
                target = move_to / file.filename
                if os.path.lexists(target):
                    settled.kept.append(f"{shown}: {printable(str(target))} already exists")
                    continue
                shutil.move(file.path, target)
            elif delete:
                os.unlink(file.path)
            else:
                continue
        except OSError as error:
            settled.kept.append(f"{shown}: {error.strerror}")
            continue
        settled.done += 1
    return settled
