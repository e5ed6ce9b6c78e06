"""Which of the files found the journal already holds: a `stat()` each, a read only when needed.

A file whose identity (device, inode, size, modification and change time) equals a row's for
the same folder and name was uploaded and has not changed since: it is skipped unopened. Any
other file the journal knows by name and size is read and its SHA-256 compared with the rows';
when it matches, the file's identity is recorded, so the next run needs only the `stat()`.
"""

from __future__ import annotations

import hashlib
import os
import stat
import time
from collections.abc import Sequence
from dataclasses import dataclass

from productiv_upload.common.platform.files import open_to_read
from productiv_upload.core.journal.store import Journal, folder_of
from productiv_upload.core.model import Identity, LocalFile

_HASH_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Content:
    sha256: bytes
    identity: Identity | None  # None: it changed while read, or too recently to be trusted


def content_of(path: str) -> Content | None:
    """The file's SHA-256 and, if it held still while read, its identity; None if unreadable."""
    try:
        with os.fdopen(open_to_read(path), "rb") as stream:
            before = os.fstat(stream.fileno())
            if not stat.S_ISREG(before.st_mode):
                return None
            read_at = time.time_ns()
            digest = hashlib.sha256()
            while chunk := stream.read(_HASH_CHUNK):
                digest.update(chunk)
            after = os.fstat(stream.fileno())
    except OSError:
        return None  # unreadable now: let the upload report why
    held_still = Identity.of(before) == Identity.of(after)
    return Content(digest.digest(), Identity.trusted(before, read_at) if held_still else None)


def split_already_uploaded(
    files: Sequence[LocalFile],
    journal: Journal,
    api_url: str,
    app_id: str,
    *,
    checksum: bool = False,
) -> tuple[list[LocalFile], list[LocalFile]]:
    """(to send, already uploaded with the same content).

    `checksum`: compare every known file by content, whatever its identity says.
    """
    target = journal.target(api_url, app_id)
    if target is None:
        return list(files), []
    to_send: list[LocalFile] = []
    done: list[LocalFile] = []
    learned: list[tuple[int, int, Identity]] = []
    known = journal.known(target, [file.filename for file in files])
    folders: dict[str, int | None] = {}  # by the folder as written: one abspath() each
    for file in files:
        same_size = [row for row in known.get(file.filename, ()) if row.size == file.size]
        if not same_size:
            to_send.append(file)
            continue
        written = os.path.dirname(file.path)
        if written not in folders:
            folders[written] = journal.folder(folder_of(file.path), create=journal.writable)
        folder = folders[written]
        if (
            not checksum
            and file.identity is not None
            and any(row.folder == folder and row.identity == file.identity for row in same_size)
        ):
            done.append(file)
            continue
        content = content_of(file.path)
        match = next((r for r in same_size if content and r.sha256 == content.sha256), None)
        if match is None or content is None:
            to_send.append(file)
            continue
        done.append(file)
        if (
            folder is not None
            and content.identity is not None
            and (match.folder != folder or match.identity != content.identity or match.gone)
        ):
            learned.append((match.row, folder, content.identity))
    journal.learn(learned)
    return to_send, done
