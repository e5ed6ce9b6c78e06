"""`watch`: a long-running push of the files that appear in folders, once each has settled.

The folders are rescanned whenever the OS says something changed (or every `--poll` seconds),
and at least every `RESCAN_S` seconds in any case, so a lost event never loses a file. Each file
becomes due once it has stayed unchanged for `min_age` seconds (`settle.Settler`); due files are
pushed in batches through the same `Pusher`, journal and lock as `push`. No output happens here.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from productiv_upload.common.errors import (
    AccessRefused,
    ApiError,
    ExitStatus,
    UploadError,
    UsageError,
)
from productiv_upload.common.files import check_writable
from productiv_upload.common.text import printable
from productiv_upload.core.discover import Identity, LocalFile, exclusion
from productiv_upload.core.journal import JOURNAL_NAME, Journal, JournalError, maintain
from productiv_upload.core.journal.known import split_already_uploaded
from productiv_upload.core.journal.runs import Figures, Waiting
from productiv_upload.core.notify import Notifier
from productiv_upload.core.pusher import Pusher, PushEvents, PushOptions
from productiv_upload.core.report import FileResult, Status
from productiv_upload.core.run import PushRequest, connect_request, resolve_request_service
from productiv_upload.core.settings import ServiceSettings
from productiv_upload.core.settle import Fingerprint, Settler, scan
from productiv_upload.core.spool import prepare_move_target, settle
from productiv_upload.core.state import AppLock, resolve_state_dir
from productiv_upload.core.watch_hints import start_hints
from productiv_upload.core.watch_ops import Waits, WatchOps
from productiv_upload.service.api import MAX_BATCH, ProductivApi
from productiv_upload.service.http import StorageClient

RESCAN_S = 30.0  # even with OS events, look again this often: events can be lost
IDENTITY_CHECK_S = 1.0  # how often to check that the watched folders are still the same ones
# A backlog (a restart with thousands waiting) goes up in runs of this many files, so the
# folders are rescanned between runs and newly settled files are not held up behind it.
MAX_FILES_PER_RUN = 10 * MAX_BATCH
UPKEEP_S = 3600.0  # how often the journal's old rows are expired while the service runs
# An API that cannot be reached at start is asked again after this long, doubling up to a
# minute: a service started before the network is up waits for it.
START_RETRY_S = (1.0, 60.0)


@dataclass(frozen=True)
class WatchRequest:
    dirs: list[str]
    push: PushRequest  # the service, credential, state, transfer and spool settings
    min_age: float = 5.0
    batch_wait: float = 1.0
    retry_wait: float = 30.0
    poll: float | None = None  # seconds between rescans instead of OS events
    checksum: bool = False  # compare known files by content, not by stat() alone


@dataclass
class WatchStart:
    """What the service is about to do, for its start line."""

    dirs: list[str]
    method: str  # "inotify", "polling every 2 s"...
    app_id: str
    api_url: str


def run_watch(
    request: WatchRequest,
    events: PushEvents,
    *,
    started: Callable[[WatchStart], None],
    warn: Callable[[str], None],
    on_secret: Callable[[str], None] | None = None,
    environ: Mapping[str, str] | None = None,
    stop: threading.Event | None = None,
) -> Figures:
    """Run until `stop` is set or the process is interrupted (then in-flight files are drained);
    returns what it did since it started.

    Raises UsageError (bad folders or settings), LockHeld, and AccessRefused when the service
    refuses the credentials or the app, at start or at any later time.
    """
    environ = os.environ if environ is None else environ
    stop = stop or threading.Event()
    _check_folders(request.dirs)
    push = request.push
    if push.move_to is not None:
        prepare_move_target(push.move_to)
    service = resolve_request_service(push, environ, sends=True)
    state_dir = resolve_state_dir(push.state_dir, environ)
    api_key = service.api_url.rstrip("/")
    metrics_file = push.metrics_file or service.metrics_file
    if metrics_file is not None:
        check_writable(metrics_file, "--metrics-file")

    with contextlib.ExitStack() as stack:
        stack.enter_context(
            AppLock(state_dir, api_key, service.app_id, wait_s=push.wait_lock, kind="watch")
        )
        journal = stack.enter_context(Journal(state_dir / JOURNAL_NAME))
        api, storage, options = connect_request(push, service, on_secret)
        wake = threading.Event()
        # Files are counted as they are told of, right after each is journaled: counted
        # later, an interrupt in between would leave a recorded upload out of the figures.
        counted = _Counted(events)
        loop = _Loop(request, counted, warn, journal, api_key, service.app_id)
        ops = WatchOps(Notifier(environ), journal, api_key, service.app_id,
                       metrics_file=metrics_file, warn=warn, waits=loop.waits)  # fmt: skip
        loop.ops = counted.ops = ops
        events = counted
        exit_code, message = int(ExitStatus.OK), None
        try:
            if not _access_granted(api, warn, stop, ops):
                return ops.figures
            _serve(request, service, loop, ops, api, storage, options, events, journal, wake,
                   started, warn, stop)  # fmt: skip
        except KeyboardInterrupt:
            ops.stopping()  # nothing was in flight: a push in progress drains itself
        except UploadError as error:
            exit_code, message = int(error.exit_status), str(error)
            raise
        finally:
            ops.stopped(exit_code, message)
    return ops.figures


def _serve(
    request: WatchRequest,
    service: ServiceSettings,
    loop: _Loop,
    ops: WatchOps,
    api: ProductivApi,
    storage: StorageClient,
    options: PushOptions,
    events: PushEvents,
    journal: Journal,
    wake: threading.Event,
    started: Callable[[WatchStart], None],
    warn: Callable[[str], None],
    stop: threading.Event,
) -> None:
    """The main loop: rescan, send what is due, wait; a tick each time round."""
    announced = False
    while not stop.is_set():
        # OS watches follow a folder's inode: when a watched folder is replaced (moved away
        # and made anew), they are set up again on the new one.
        hints = start_hints(request.dirs, recursive=request.push.recursive, poll=request.poll,
                            wake=wake, warn=warn)  # fmt: skip
        with hints as (method, poll):
            if not announced:
                started(WatchStart(request.dirs, method, service.app_id, service.api_url))
                ops.ready(f"{', '.join(printable(d) for d in request.dirs)} ({method})")
                announced = True
            while not stop.is_set() and loop.rescan():
                ops.tick()
                loop.upkeep()
                due = loop.take_due()
                if due:
                    pusher = Pusher(api, storage, options, events, journal, heartbeat=ops)
                    outcome = pusher.run(due)
                    loop.finished(due, outcome.results)
                    if outcome.fatal is not None:
                        raise outcome.fatal
                    if outcome.interrupted:
                        return
                    continue
                loop.wait(wake, poll)


class _Counted:
    """The caller's events, with each finished file also told to the watch's operator side."""

    def __init__(self, events: PushEvents) -> None:
        self._events = events
        self.ops: WatchOps | None = None

    def file_started(self, file: LocalFile) -> None:
        self._events.file_started(file)

    def bytes_sent(self, file: LocalFile, count: int) -> None:
        self._events.bytes_sent(file, count)

    def file_finished(self, result: FileResult) -> None:
        if self.ops is not None:
            self.ops.finished([result])
        self._events.file_finished(result)

    def notice(self, message: str) -> None:
        self._events.notice(message)


def _check_folders(dirs: list[str]) -> None:
    """Every DIR must be a folder at start; all problems are named at once."""
    problems = []
    for folder in dirs:
        if not os.path.exists(folder):
            problems.append(f"{printable(folder)} does not exist (watch takes existing folders)")
        elif not os.path.isdir(folder):
            problems.append(f"{printable(folder)} is not a folder; watch takes folders")
    if problems:
        raise UsageError("\n".join(problems))


def _access_granted(
    api: ProductivApi, warn: Callable[[str], None], stop: threading.Event, ops: WatchOps
) -> bool:
    """Prove the credentials and the app as `check` does, before watching anything.

    Refused credentials or an unknown app raise AccessRefused (exit 3) at once; an API that
    cannot be reached is asked again with backoff until it answers. False if stopped first.
    """
    wait_s = START_RETRY_S[0]
    while not stop.is_set():
        try:
            api.probe()
            return True
        except AccessRefused:
            raise
        except ApiError as error:
            warn(f"cannot check the credentials yet: {error}; trying again in {wait_s:g} s")
            ops.waiting_for_api(str(error), wait_s)
        if stop.wait(wait_s):
            break
        wait_s = min(wait_s * 2, START_RETRY_S[1])
    return False


class _Loop:
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
        self._excluded = exclusion(request.push.excludes)
        move_to = request.push.move_to
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
            for path, info in scan(folders, recursive=self._request.push.recursive,
                                   ignore_dirs=self._ignore, exclude=self._excluded,
                                   on_error=lambda error: self._warn(str(error))):  # fmt: skip
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

    def wait(self, wake: threading.Event, poll: float | None) -> None:
        """Sleep until a hint, the next due file or rescan, or a watched folder is replaced.

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
        to_send, already = split_already_uploaded(list(files.values()), self._journal,
                                                  self._api_key, self._app_id,
                                                  checksum=self._request.checksum)  # fmt: skip
        for file in already:
            self._finish_sent(file, FileResult(file.path, file.filename, file.size,
                                               Status.SKIPPED))  # fmt: skip
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
        push = self._request.push
        result = skipped or FileResult(file.path, file.filename, file.size, Status.UPLOADED)
        if push.move_to is not None or push.delete_after:
            outcome = settle([result], {file.filename: file}, move_to=push.move_to,
                             delete=push.delete_after)  # fmt: skip
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
        retention_s = self._request.push.journal_retention_days * 86400
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
