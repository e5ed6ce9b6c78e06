"""When a file in a watched folder may be sent: settled long enough, and not waiting out a retry.

`watch` learns of files two ways: hints from the OS watcher (which may arrive late, coalesced, or
not at all when the kernel queue overflows) and rescans of the folders. Both end in `scan` and
`Settler.observe`; the hints only say when to look. A file is due once the same fingerprint (size,
modification time, change time, inode, device) has been seen for `min_age` seconds of the caller's
monotonic clock, counted from the moment this process first saw that fingerprint, not from the
modification time: on a network share that comes from another machine's clock, and files copied
with `cp -p`, `rsync` or `tar` carry their source's old times.

The service's cycle for one file: `observe` (on every scan or hint), `due`, stat and `observe`
again to confirm, then `forget` once it is sent, or `failed` (a backoff before it is due again).
The service sends and scans in turn, never at once, so nothing changes here during an upload.

Only files that are pending (seen, not yet sent) or failed are held here. A file that
was sent is forgotten; if a rescan meets it again unchanged, it becomes pending again and the
journal skips it.

Everything takes `now` from the caller (time.monotonic() in the service), so the logic can be
tested without sleeping.
"""

from __future__ import annotations

import errno
import math
import os
import stat
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass

MAX_RETRY_WAIT = 3600.0  # README, "Watching a folder": the retry wait doubles up to an hour


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What must stay the same for a file to count as unchanged."""

    size: int
    mtime_ns: int
    # A writer that restores the modification time after writing still moves the change time.
    ctime_ns: int
    inode: int  # a new inode: the file was replaced (written elsewhere and renamed over it)
    device: int

    @classmethod
    def of(cls, info: os.stat_result) -> Fingerprint:
        return cls(info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino, info.st_dev)


@dataclass(slots=True)
class _Pending:
    fingerprint: Fingerprint
    since: float  # when this fingerprint was first seen
    retry_at: float | None = None  # after a failed upload: not before this time
    last_wait: float = 0.0  # the backoff that set retry_at; the next failure doubles it


class Settler:
    """The files seen in watched folders and not yet sent, with when each may go.

    Not thread-safe: one loop owns it.
    """

    def __init__(self, *, retry_wait: float = 30.0, max_retry_wait: float = MAX_RETRY_WAIT) -> None:
        if not (math.isfinite(retry_wait) and retry_wait > 0):
            raise ValueError(f"retry_wait must be a positive number of seconds, not {retry_wait}")
        if not (math.isfinite(max_retry_wait) and max_retry_wait >= retry_wait):
            raise ValueError("max_retry_wait must be at least retry_wait")
        self.retry_wait = retry_wait
        self.max_retry_wait = max_retry_wait
        self._pending: dict[str, _Pending] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def __contains__(self, path: object) -> bool:
        return path in self._pending

    def observe(self, path: str, info: os.stat_result, now: float) -> bool:
        """Record what `path` looks like at `now`; True when it is new or changed.

        A change restarts the settle clock and clears any retry backoff: a file that changed is
        tried again as soon as it has settled.
        """
        fingerprint = Fingerprint.of(info)
        known = self._pending.get(path)
        if known is not None and known.fingerprint == fingerprint:
            return False
        self._pending[path] = _Pending(fingerprint, now)
        return True

    def ready_at(self, path: str, min_age: float) -> float | None:
        """When `path` becomes due if it stays unchanged; None when it is not pending."""
        known = self._pending.get(path)
        return None if known is None else _ready_at(known, min_age)

    def due(self, now: float, min_age: float) -> list[str]:
        """Paths unchanged for at least `min_age` seconds and not waiting out a retry.

        Oldest first, so a steady stream of new files cannot starve an old one. The caller
        stats each again just before sending (`observe` returning False confirms it), then
        calls `forget` or `failed`.
        """
        ready = [
            (at, path)
            for path, known in self._pending.items()
            if (at := _ready_at(known, min_age)) <= now
        ]
        ready.sort()
        return [path for _, path in ready]

    def next_due(self, min_age: float) -> float | None:
        """The earliest time some pending file becomes due (maybe already past); None if none.

        A loop sleeps until then, or until a hint or a rescan comes first.
        """
        return min((_ready_at(k, min_age) for k in self._pending.values()), default=None)

    def failed(self, path: str, now: float) -> float:
        """Back off after `path` failed to upload; returns the time before which it is not due.

        The wait starts at `retry_wait` and doubles with each failure in a row, up to
        `max_retry_wait`. A failure for a path that is not pending (it vanished, or was never
        observed) is not recorded and returns `now`.
        """
        known = self._pending.get(path)
        if known is None:
            return now
        wait = self.retry_wait if known.retry_at is None else known.last_wait * 2
        known.last_wait = min(wait, self.max_retry_wait)
        known.retry_at = now + known.last_wait
        return known.retry_at

    def retrying(self) -> list[tuple[str, float]]:
        """The paths waiting out a retry backoff, with when each may go again (monotonic)."""
        return [
            (path, known.retry_at)
            for path, known in self._pending.items()
            if known.retry_at is not None
        ]

    def forget(self, path: str) -> None:
        """Drop all state for `path`: it was sent, or it is gone."""
        self._pending.pop(path, None)
        self._release_if_empty()

    def forget_missing(self, present: Collection[str]) -> list[str]:
        """After a full rescan: forget the pending paths it did not find, and return them."""
        gone = [path for path in self._pending if path not in present]
        for path in gone:
            del self._pending[path]
        self._release_if_empty()
        return gone

    def _release_if_empty(self) -> None:
        # A dict keeps the table of its largest size; once a burst has drained, let it go.
        if not self._pending:
            self._pending = {}


def _ready_at(known: _Pending, min_age: float) -> float:
    settled_at = known.since + min_age
    return settled_at if known.retry_at is None else max(settled_at, known.retry_at)


def scan(
    dirs: Iterable[str],
    *,
    recursive: bool = False,
    ignore_dirs: Iterable[str] = (),
    exclude: Callable[[str], bool] | None = None,
    on_error: Callable[[OSError], None] | None = None,
) -> Iterator[tuple[str, os.stat_result]]:
    """Yield (path, stat) for each regular file in `dirs` (and below them, with `recursive`).

    - A symlink to a file is yielded with its target's stat (push sends the target's bytes under
      the link's name); a symlink to a directory is never entered, so link loops cannot recur.
    - Directories in `ignore_dirs` (a --move-to folder inside a watched one) are skipped, matched
      by identity (device and inode), so relative, absolute and symlinked spellings all match.
    - A folder listed twice, or nested in another with `recursive`, is read once.
    - `exclude(path)` true leaves a file out (the caller's --exclude patterns).
    - A file that vanishes between listing and stat is skipped: that race is normal in a spool.
      A watched folder that cannot be read raises OSError; a subfolder that cannot be read is
      passed to `on_error` (if given) and skipped.

    Paths are joined onto each dir as given; entries are sorted by name within each folder.
    """
    ignored = _identities(ignore_dirs)
    visited: set[tuple[int, int]] = set()
    for top in dirs:
        info = os.stat(top)  # a watched dir given as a symlink is followed, as push does
        if not stat.S_ISDIR(info.st_mode):
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), top)
        # Depth first with an explicit stack: a deep tree must not hit the recursion limit.
        stack = [(top, info)]
        while stack:
            directory, dir_info = stack.pop()
            identity = (dir_info.st_dev, dir_info.st_ino)
            if identity in ignored or identity in visited:
                continue
            visited.add(identity)
            try:
                files, subdirs = _list(directory, recursive, exclude, on_error)
            except OSError as error:
                if directory == top:
                    raise
                if on_error is not None and not isinstance(error, FileNotFoundError):
                    on_error(error)
                continue
            yield from files
            stack.extend(reversed(subdirs))


def _list(
    directory: str,
    recursive: bool,
    exclude: Callable[[str], bool] | None,
    on_error: Callable[[OSError], None] | None,
) -> tuple[list[tuple[str, os.stat_result]], list[tuple[str, os.stat_result]]]:
    """The regular files and (with `recursive`) the subfolders of one folder, sorted by name."""
    with os.scandir(directory) as listing:
        entries = sorted(listing, key=lambda entry: entry.name)
    files: list[tuple[str, os.stat_result]] = []
    subdirs: list[tuple[str, os.stat_result]] = []
    for entry in entries:
        path = os.path.join(directory, entry.name)
        try:
            if entry.is_dir(follow_symlinks=False):
                if recursive:
                    subdirs.append((path, entry.stat(follow_symlinks=False)))
                continue
            if exclude is not None and exclude(path):
                continue
            target = entry.stat(follow_symlinks=True)  # a symlink counts as its target
        except FileNotFoundError:
            continue  # removed (or a broken symlink) since the listing
        except OSError as error:
            if on_error is not None:
                on_error(error)
            continue
        if stat.S_ISREG(target.st_mode):
            files.append((path, target))
    return files, subdirs


def _identities(paths: Iterable[str]) -> set[tuple[int, int]]:
    identities = set()
    for path in paths:
        try:
            info = os.stat(path)
        except OSError:
            continue  # not there yet (push creates --move-to on start): nothing inside to skip
        identities.add((info.st_dev, info.st_ino))
    return identities
