"""The watch service's memory: the files pending or failed in its folders, the files it sent
that are still there, and the folders' own identities (a folder moved away and made anew is
watched again). `service.py` runs the loop; this decides what is due and remembers what was sent.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

from productiv_upload.common.text import printable
from productiv_upload.core.journal import Journal, JournalError, maintain
from productiv_upload.core.journal.known import split_already_uploaded
from productiv_upload.core.journal.runs import Waiting
from productiv_upload.core.model import FileResult, Identity, LocalFile, Status
from productiv_upload.core.push.discover import exclusion
from productiv_upload.core.push.events import PushEvents
from productiv_upload.core.push.spool import settle
from productiv_upload.core.settings.watch import WatchRequest
from productiv_upload.core.watch.due import Fingerprint, Settler, scan
from productiv_upload.core.watch.reporting import Waits, WatchOps
from productiv_upload.service.api import MAX_BATCH

RESCAN_S = 30.0  # even with OS events, look again this often: events can be lost
IDENTITY_CHECK_S = 1.0  # how often to check that the watched folders are still the same ones
# A backlog (a restart with thousands waiting) goes up in runs of this many files, so the
# folders are rescanned between runs and newly settled files are not held up behind it.
MAX_FILES_PER_RUN = 10 * MAX_BATCH
UPKEEP_S = 3600.0  # how often the journal's old rows are expired while the service runs


class WatchLoop:
    """The service's memory: files pending or failed, and files sent that are still there."""

    def __init__(
        self,
        request: WatchRequest,
        events: PushEvents,
        warn: Callable[[str], None],
        journal: Journal,
        api_key: str,
        app_id: str,
    ) -> None:
        self._request = request
        self._events = events
        self._warn = warn
        self._journal = journal
        self._api_key = api_key
        self._app_id = app_id
        self._settler = Settler(retry_wait=request.retry_wait)
        # Sent (or found in the journal) and still in the folder: not looked at again until it
        # changes. Entries go when the file goes, so this holds only what is there now.
        self._done: dict[str, Fingerprint] = {}
        self._excluded = exclusion(request.exclude)
        move_to = request.spool.move_to
        self._ignore = [str(move_to)] if move_to is not None else []
        # What each file in the current batch looked like when it was taken: if it changes
        # while it is sent, the next rescan sees a different file and sends that too.
        self._sending: dict[str, Fingerprint] = {}
        self._last_scan = 0.0
        self._first_due: float | None = None
        self._identities: dict[str, tuple[int, int]] = {}  # each watched folder's (dev, inode)
        self._missing: set[str] = set()
        self._last_upkeep: float | None = None
        self._reasons: dict[str, str] = {}  # why each file waiting to retry failed
        self.ops: WatchOps | None = None  # told of every file that finishes

    def rescan(self) -> bool:
        """Look at the folders again; False when one of them was replaced since the last look."""
        now = time.monotonic()
        folders = self._readable_folders()
        present = set()
        try:
            for path, info in scan(
                folders,
                recursive=self._request.recursive,
                ignore_dirs=self._ignore,
                exclude=self._excluded,
                on_error=lambda error: self._warn(str(error)),
            ):
                present.add(path)
                done = self._done.get(path)
                if done is not None:
                    if done == Fingerprint.of(info):
                        continue
                    del self._done[path]
                self._settler.observe(path, info, now)
        except OSError as error:
            # A folder went away during the scan: keep what is known and look again later.
            self._warn(f"cannot read a watched folder: {printable(str(error))}")
            self._last_scan = now
            return True
        self._settler.forget_missing(present)
        for path in [p for p in self._done if p not in present]:
            del self._done[path]
        self._last_scan = now
        return not self._folders_replaced()

    def wait(
        self, wake: threading.Event, poll: float | None, stop: threading.Event | None = None
    ) -> None:
        """Sleep until a hint, the next due file or rescan, a watched folder is replaced, or
        `stop` is set.

        OS watches follow a folder's inode and report nothing when the folder itself is moved
        away, so the folders' identities are checked every `IDENTITY_CHECK_S` (a stat each).
        """
        until = time.monotonic() + self.sleep_time(poll)
        step = IDENTITY_CHECK_S if self.ops is None else min(IDENTITY_CHECK_S, self.ops.tick_s)
        while not wake.wait(max(0.0, min(step, until - time.monotonic()))):
            if self.ops is not None:
                self.ops.tick()
            if time.monotonic() >= until or self._folders_replaced(remember=False):
                break
            if stop is not None and stop.is_set():
                break
        wake.clear()

    def _folders_replaced(self, *, remember: bool = True) -> bool:
        """Whether a watched folder is another one than last time (moved away, made anew)."""
        replaced = False
        for folder in self._request.dirs:
            identity = _identity(folder)
            if identity is None:
                continue  # missing for now: _readable_folders says so
            known = self._identities.get(folder)
            replaced = replaced or (known is not None and known != identity)
            if remember:
                self._identities[folder] = identity
        return replaced

    def _readable_folders(self) -> list[str]:
        """The watched folders that exist now; a warning when one goes missing or comes back."""
        folders = []
        for folder in self._request.dirs:
            if os.path.isdir(folder):
                folders.append(folder)
                if folder in self._missing:
                    self._missing.discard(folder)
                    self._warn(f"watched folder {printable(folder)} is back")
            elif folder not in self._missing:
                self._missing.add(folder)
                self._warn(f"watched folder {printable(folder)} is missing; waiting for it")
        return folders

    def take_due(self) -> list[LocalFile]:
        """Files to push now: due ones, once the batch is full or `batch_wait` has passed."""
        now = time.monotonic()
        due = self._settler.due(now, self._request.min_age)
        if not due:
            self._first_due = None
            return []
        if self._first_due is None:
            self._first_due = now
        if len(due) < MAX_BATCH and now - self._first_due < self._request.batch_wait:
            return []
        self._first_due = None
        self._sending.clear()  # the loop is synchronous: no batch is in flight now
        files: dict[str, LocalFile] = {}  # one file per base name and batch: the service's key
        for path in due:
            name = os.path.basename(path)
            if name in files:
                continue
            try:
                info = os.stat(path)
            except OSError:
                self._settler.forget(path)
                continue
            if self._settler.observe(path, info, now):
                continue  # it changed after all: wait for it to settle again
            files[name] = LocalFile(path, name, info.st_size, info.st_mtime_ns, Identity.of(info))
            self._sending[path] = Fingerprint.of(info)
            if len(files) == MAX_FILES_PER_RUN:
                break
        to_send, already = split_already_uploaded(
            list(files.values()),
            self._journal,
            self._api_key,
            self._app_id,
            checksum=self._request.checksum,
        )
        for file in already:
            self._finish_sent(file, FileResult(file.path, file.filename, file.size, Status.SKIPPED))
        return to_send

    def finished(self, files: list[LocalFile], results: list[FileResult]) -> None:
        now = time.monotonic()
        by_name = {f.filename: f for f in files}
        for result in results:
            file = by_name[result.filename]
            if result.status is Status.UPLOADED:
                self._reasons.pop(file.path, None)
                self._finish_sent(file, None)
            else:
                self._reasons[file.path] = result.error or "failed"
                self._settler.failed(file.path, now)
        self._sending.clear()
        if self.ops is not None:
            self.ops.changed()  # the retry list, for status and the metrics

    def waits(self) -> Waits:
        """The files held: settling, or waiting out a retry (with why, and until when)."""
        retrying = self._settler.retrying()
        clock_offset = time.time() - time.monotonic()
        waiting = [
            Waiting(printable(path), self._reasons.get(path, "failed"), int(at + clock_offset))
            for path, at in sorted(retrying, key=lambda entry: entry[1])
        ]
        return Waits(len(self._settler) - len(retrying), waiting)

    def _finish_sent(self, file: LocalFile, skipped: FileResult | None) -> None:
        """A file the journal holds: tell of it if it was skipped, then move, delete or keep it."""
        if skipped is not None:
            self._events.file_finished(skipped)
        self._reasons.pop(file.path, None)
        self._settler.forget(file.path)
        spool = self._request.spool
        result = skipped or FileResult(file.path, file.filename, file.size, Status.UPLOADED)
        if spool.settles:
            outcome = settle(
                [result], {file.filename: file}, move_to=spool.move_to, delete=spool.delete_after
            )
            for reason in [*outcome.kept, *outcome.failed]:
                self._warn(f"not moved or deleted: {reason}")
            if outcome.done:
                self._forget(outcome.done)
                return
        sent_as = self._sending.get(file.path)
        if sent_as is not None:
            self._done[file.path] = sent_as

    def _forget(self, paths: list[str]) -> None:
        """The files were moved or deleted: their journal rows start to age."""
        try:
            self._journal.forget_paths(self._api_key, self._app_id, paths)
        except JournalError as error:
            self._warn(str(error))

    def upkeep(self) -> None:
        """Expire old journal rows now and then (at start, then every `UPKEEP_S`)."""
        now = time.monotonic()
        if self._last_upkeep is not None and now - self._last_upkeep < UPKEEP_S:
            return
        self._last_upkeep = now
        retention_s = self._request.state.journal_retention_days * 86400
        try:
            maintain(self._journal, self._api_key, self._app_id, retention_s)
        except JournalError as error:
            self._warn(f"journal upkeep skipped: {error}")

    def sleep_time(self, poll: float | None) -> float:
        """Until the next file becomes due, the next rescan, or the batch wait ends."""
        now = time.monotonic()
        rescan_every = poll if poll is not None else RESCAN_S
        until = [self._last_scan + rescan_every]
        next_due = self._settler.next_due(self._request.min_age)
        if next_due is not None:
            until.append(next_due)
        if self._first_due is not None:
            until.append(self._first_due + self._request.batch_wait)
        return max(0.01, min(until) - now)


def _identity(folder: str) -> tuple[int, int] | None:
    try:
        info = os.stat(folder)
    except OSError:
        return None
    return info.st_dev, info.st_ino
