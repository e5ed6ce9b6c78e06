"""The core of `push`: batches of names to signed URLs, then parallel PUTs, one result per file.

No output happens here: progress leaves through a `PushEvents` object that the caller chooses.
"""

from __future__ import annotations

import collections
import dataclasses
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

from productiv_upload.common.errors import (
    AccessRefused,
    ApiError,
    ApiUnreachable,
    JournalFailed,
    UploadError,
)
from productiv_upload.common.redact import redact
from productiv_upload.core.journal import Journal, JournalError, NewUpload
from productiv_upload.core.model import (
    CUT_SHORT_REASON,
    NOT_STARTED_REASON,
    FileResult,
    LocalFile,
    Status,
)
from productiv_upload.core.push.batches import make_batches
from productiv_upload.core.push.events import Heartbeat, NullEvents, PushEvents, Stop
from productiv_upload.core.push.sending import FileSender, Sent, failed
from productiv_upload.core.settings.transfer import TransferSettings
from productiv_upload.service.api import MAX_BATCH, ProductivApi
from productiv_upload.service.storage import StorageClient
from productiv_upload.service.throttle import ByteRate

_Report = TypeVar("_Report")

GRACE_S = 5.0  # how long in-flight PUTs may finish after an interrupt
HEARTBEAT_S = 0.5  # how often the scheduling thread looks up from waiting, with a heartbeat


@dataclass(frozen=True)
class PushOptions:
    concurrency: int = TransferSettings.concurrency
    batch_size: int = MAX_BATCH
    retries: int = TransferSettings.retries
    # Host patterns signed URLs may point to (None: any); http:// only ever to loopback hosts.
    storage_hosts: tuple[str, ...] | None = None
    grace_s: float = GRACE_S
    limit_rate: float | None = None  # bytes per second, across all transfers

    @classmethod
    def of(cls, transfer: TransferSettings, storage_hosts: tuple[str, ...] | None) -> PushOptions:
        return cls(
            transfer.concurrency,
            transfer.batch_size,
            transfer.retries,
            storage_hosts,
            limit_rate=transfer.limit_rate,
        )


@dataclass
class PushOutcome:
    results: list[FileResult]
    fatal: UploadError | None = None  # what stopped the run early (the service refused access)
    interrupted: bool = False
    stopped: str | None = None  # why the caller's `stop` ended the run early, if it did


class _Stopped(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class _Urls:
    """What the URL thread hands back: a batch's signed URLs, or why there are none."""

    urls: dict[str, str] | None
    error: Exception | None = None


@dataclass
class _Run:
    """The mutable state of one run, owned by the scheduling (main) thread."""

    batches: list[list[LocalFile]]
    results: dict[str, FileResult] = field(default_factory=dict)
    ready: collections.deque[tuple[LocalFile, str]] = field(default_factory=collections.deque)
    # Files handed to a worker and not yet recorded; the journal row is part of recording.
    in_flight: dict[str, LocalFile] = field(default_factory=dict)
    # Workers and the URL thread append their reports here and set `arrived`; the scheduler
    # takes a report off only once it is handled, so an interrupt at any moment loses none.
    reports: collections.deque[Sent | _Urls] = field(default_factory=collections.deque)
    arrived: threading.Event = field(default_factory=threading.Event)
    url_batch: list[LocalFile] | None = None  # whose URLs are being asked for
    next_batch: int = 0
    fatal: UploadError | None = None


class Pusher:
    def __init__(
        self,
        api: ProductivApi,
        storage: StorageClient,
        options: PushOptions,
        events: PushEvents | None = None,
        journal: Journal | None = None,
        stop: Stop | None = None,
        heartbeat: Heartbeat | None = None,
    ) -> None:
        self._api = api
        self._stop = stop
        self._heartbeat = heartbeat
        self._journal = journal
        self._options = options
        self._events = events or NullEvents()
        self._cancel = threading.Event()
        self._sender = FileSender(
            api,
            storage,
            self._events,
            self._cancel,
            ByteRate(options.limit_rate) if options.limit_rate else None,
            retries=options.retries,
            storage_hosts=options.storage_hosts,
        )

    def run(self, files: Sequence[LocalFile]) -> PushOutcome:
        state = _Run(make_batches(files, self._options.batch_size))
        url_pool = ThreadPoolExecutor(1, thread_name_prefix="urls")
        put_pool = ThreadPoolExecutor(self._options.concurrency, thread_name_prefix="put")
        interrupted = False
        stopped = None
        try:
            self._schedule(state, url_pool, put_pool)
        except KeyboardInterrupt:
            interrupted = True
            if self._heartbeat is not None:
                self._heartbeat.stopping()
            self._drain_after_interrupt(state)
        except _Stopped as stop:
            stopped = stop.reason
            self._drain_after_interrupt(state)
        finally:
            url_pool.shutdown(wait=False, cancel_futures=True)
            put_pool.shutdown(wait=not interrupted, cancel_futures=True)

        unfinished = NOT_STARTED_REASON if interrupted else "not sent"
        if stopped is not None:
            unfinished = f"not sent: {stopped}"
        if state.fatal is not None:
            # The full message is printed once at the end; each file carries its first clause.
            unfinished = f"not sent: {str(state.fatal).split(';')[0]}"
        results = [
            state.results.get(f.filename)
            or FileResult(f.path, f.filename, f.size, Status.FAILED, 0, unfinished)
            for f in files
        ]
        return PushOutcome(results, state.fatal, interrupted, stopped)

    def _schedule(
        self, state: _Run, url_pool: ThreadPoolExecutor, put_pool: ThreadPoolExecutor
    ) -> None:
        concurrency = self._options.concurrency
        while True:
            if self._stop is not None and self._stop.reason is not None:
                raise _Stopped(self._stop.reason)
            if state.fatal is None:
                # Ask for the next batch's URLs only when the files at hand are about to run
                # out: the workers never wait, and signed URLs do not sit unused for long.
                if (
                    state.url_batch is None
                    and state.next_batch < len(state.batches)
                    and len(state.ready) <= concurrency
                ):
                    state.url_batch = state.batches[state.next_batch]
                    state.next_batch += 1
                    names = [f.filename for f in state.url_batch]
                    url_pool.submit(self._fetch_urls, names, state)
                while state.ready and len(state.in_flight) < concurrency:
                    file, url = state.ready.popleft()
                    state.in_flight[file.filename] = file
                    put_pool.submit(self._send_and_report, file, url, state)
            if (
                not state.in_flight
                and state.url_batch is None
                and (
                    state.fatal is not None
                    or (not state.ready and state.next_batch >= len(state.batches))
                )
            ):
                return
            if self._heartbeat is None:
                state.arrived.wait()
            else:
                # Woken at least this often, so a long transfer in a worker does not silence
                # the heartbeat; a scheduler that hangs does.
                state.arrived.wait(HEARTBEAT_S)
                self._heartbeat.tick()
            state.arrived.clear()  # what arrives from now on sets it again
            self._take_reports(state)

    def _take_reports(self, state: _Run, *, use_urls: bool = True) -> None:
        """Journal the files that finished together in one transaction, then tell of them.

        A file leaves `in_flight` (making room for the next) only once its row is committed:
        after a kill, the files without a row are at most the `concurrency` in flight.
        """
        group = len(state.reports)  # what has arrived so far; workers may append meanwhile
        verified = [
            r
            for r in arrived_so_far(state.reports, group)
            if isinstance(r, Sent) and r.verified is not None
        ]
        if verified:
            if not use_urls:
                # Draining after an interrupt: one that came between the commit and the marks
                # below left rows already written for some of these.
                verified = self._not_yet_recorded(verified)
            journaled = {r.file.filename: r for r in self._journal_verified(state, verified)}
            for index in range(group):  # in place: the deque is shared with the workers
                report = state.reports[index]
                if isinstance(report, Sent) and report.file.filename in journaled:
                    state.reports[index] = journaled[report.file.filename]
        for _ in range(group):
            report = state.reports[0]
            if isinstance(report, Sent):
                state.in_flight.pop(report.file.filename, None)
                self._record(state, report.result)
            elif use_urls:
                self._take_urls(state, report)
            state.reports.popleft()
        if self._sender.fatal is not None and state.fatal is None:
            state.fatal = self._sender.fatal

    def _not_yet_recorded(self, verified: list[Sent]) -> list[Sent]:
        if self._journal is None:
            return verified
        fresh = []
        for report in verified:
            assert report.verified is not None
            api, app = self._api.api_url, self._api.app_id
            try:
                recorded = self._journal.recorded(
                    api, app, report.file.path, report.verified.sha256
                )
            except JournalError:
                recorded = False  # then the write below fails too, and says why
            if recorded:
                fresh.append(dataclasses.replace(report, verified=None))  # marked as done
            else:
                fresh.append(report)
        return fresh

    def _journal_verified(self, state: _Run, verified: list[Sent]) -> list[Sent]:
        """Record verified uploads in one transaction; returns them marked as done with, and
        with a reason on each if the journal could not take them."""
        done = [dataclasses.replace(report, verified=None) for report in verified]
        if self._journal is None:
            return done
        rows = [
            NewUpload(
                report.file.path,
                report.file.filename,
                report.verified.size,
                report.verified.sha256,
                report.verified.identity,
            )
            for report in verified
            if report.verified is not None
        ]
        try:
            self._journal.record_many(self._api.api_url, self._api.app_id, rows)
        except JournalError as journal_error:
            if state.fatal is None:
                # Every later row would fail the same way: send nothing more.
                state.fatal = JournalFailed(
                    f"{journal_error}; files not yet sent were not sent: once the journal can "
                    "be written again, run the same command to send them"
                )
            reason = (
                f"uploaded, but not recorded in the journal ({journal_error.reason}); "
                "a rerun may send it again"
            )
            return [
                dataclasses.replace(report, result=dataclasses.replace(report.result, error=reason))
                for report in done
            ]
        return done

    def _take_urls(self, state: _Run, report: _Urls) -> None:
        batch, state.url_batch = state.url_batch or [], None
        if isinstance(report.error, AccessRefused):
            state.fatal = report.error  # every later batch would be refused the same way
            return
        if isinstance(report.error, ApiUnreachable):
            # One request's retries have met the same wall: asking again for every later
            # batch would take minutes and end the same way. Files with URLs in hand still go.
            reason = f"not sent: {report.error}"
            for file in batch:
                self._record(state, failed(file, str(report.error)))
            for later in state.batches[state.next_batch :]:
                for file in later:
                    self._record(state, failed(file, reason))
            state.next_batch = len(state.batches)
            return
        if report.error is not None:
            reason = (
                str(report.error)
                if isinstance(report.error, ApiError)
                else redact(f"internal error: {type(report.error).__name__}: {report.error}")
            )
            for file in batch:
                self._record(state, failed(file, reason))
            return
        urls = report.urls or {}
        for file in batch:
            url = urls.get(file.filename)
            if url is None:
                self._record(state, failed(file, "the API returned no upload URL for this file"))
            else:
                state.ready.append((file, url))

    def _record(self, state: _Run, result: FileResult) -> None:
        if state.results.get(result.filename) is result:
            # The same report again: an interrupt came after it was told of and before it
            # left the queue, and the drain takes the queue from where it stood.
            return
        state.results[result.filename] = result
        self._events.file_finished(result)

    def _drain_after_interrupt(self, state: _Run) -> None:
        """Let in-flight PUTs finish for a few seconds; a second interrupt stops them at once."""
        state.ready.clear()
        if state.in_flight:
            self._events.notice(
                f"interrupted: letting {len(state.in_flight)} transfer(s) in "
                f"flight finish (up to {self._options.grace_s:.0f} s; interrupt "
                "again to stop at once)"
            )
        deadline = time.monotonic() + self._options.grace_s
        try:
            # URLs that arrive now are not used: their files stay unsent.
            self._take_reports(state, use_urls=False)
            while state.in_flight:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                if not state.arrived.wait(timeout=left):
                    break
                state.arrived.clear()
                self._take_reports(state, use_urls=False)
        except KeyboardInterrupt:
            pass
        self._cancel.set()
        for file in state.in_flight.values():
            self._record(state, failed(file, CUT_SHORT_REASON))
        state.in_flight.clear()

    # --- in the URL thread ---

    def _fetch_urls(self, names: list[str], state: _Run) -> None:
        try:
            report = _Urls(self._api.upload_urls(names))
        # Any failure, even a bug, must reach the scheduler, or it would wait for ever.
        except Exception as error:
            report = _Urls(None, error)
        _deliver(state, report)

    # --- in a worker thread ---

    def _send_and_report(self, file: LocalFile, signed_url: str, state: _Run) -> None:
        try:
            report = self._sender.send(file, signed_url)
        # Any failure, even a bug, must become this file's result, or the run would hang.
        except Exception as error:
            reason = redact(f"internal error: {type(error).__name__}: {error}")
            report = Sent(file, failed(file, reason))
        _deliver(state, report)


def arrived_so_far(reports: collections.deque[_Report], count: int) -> list[_Report]:
    """The first `count` reports, taken by index while workers may append more: iterating a
    deque that another thread appends to raises RuntimeError ("deque mutated during
    iteration"), which ended a push with a traceback."""
    return [reports[index] for index in range(count)]


def _deliver(state: _Run, report: Sent | _Urls) -> None:
    """From a worker or the URL thread: leave a report for the scheduler and wake it."""
    state.reports.append(report)
    state.arrived.set()
