"""The core of `push`: batches of names to signed URLs, then parallel PUTs, one result per file.

No output happens here: progress leaves through a `PushEvents` object that the caller chooses.
"""

from __future__ import annotations

import collections
import threading
import urllib.parse
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Protocol

from productiv_upload.common.errors import AccessRefused, ApiError, UploadError, UsageError
from productiv_upload.common.redact import redact
from productiv_upload.common.text import printable
from productiv_upload.core.discover import LocalFile
from productiv_upload.core.journal import Journal, JournalError, Upload, utc_now
from productiv_upload.core.report import FileResult, Status
from productiv_upload.core.settings import ServiceSettings
from productiv_upload.core.transfer import PutOutcome, put_file
from productiv_upload.service.api import MAX_BATCH, ProductivApi
from productiv_upload.service.http import StorageClient, api_retry, make_session
from productiv_upload.service.retry import backoff_delay
from productiv_upload.service.throttle import ByteRate
from productiv_upload.service.tokens import ClientCredentials, StaticToken, TokenSource
from productiv_upload.service.urls import check_signed_url, signed_url_has_expired

DEFAULT_CONCURRENCY = 8
DEFAULT_RETRIES = 5
GRACE_S = 5.0  # how long in-flight PUTs may finish after an interrupt
# Servers and proxies commonly refuse request lines over 8 KiB (414): 100 long non-ASCII names,
# percent-encoded, would pass that.
MAX_QUERY_BYTES = 6000


class PushEvents(Protocol):
    """What the core tells whoever shows progress. Called from worker threads."""

    def file_started(self, file: LocalFile) -> None: ...

    def bytes_sent(self, file: LocalFile, count: int) -> None: ...

    def file_finished(self, result: FileResult) -> None: ...

    def notice(self, message: str) -> None: ...


class NullEvents:
    """Shows nothing: for tests, and for callers that only want the results."""

    def file_started(self, file: LocalFile) -> None:
        pass

    def bytes_sent(self, file: LocalFile, count: int) -> None:
        pass

    def file_finished(self, result: FileResult) -> None:
        pass

    def notice(self, message: str) -> None:
        pass


@dataclass(frozen=True)
class PushOptions:
    concurrency: int = DEFAULT_CONCURRENCY
    batch_size: int = MAX_BATCH
    retries: int = DEFAULT_RETRIES
    # Host patterns signed URLs may point to (None: any); http:// only ever to loopback hosts.
    storage_hosts: tuple[str, ...] | None = None
    grace_s: float = GRACE_S
    limit_rate: float | None = None  # bytes per second, across all transfers


@dataclass
class PushOutcome:
    results: list[FileResult]
    fatal: UploadError | None = None  # what stopped the run early (the service refused access)
    interrupted: bool = False


def make_batches(
    files: Sequence[LocalFile], size: int, *, max_query_bytes: int = MAX_QUERY_BYTES
) -> list[list[LocalFile]]:
    """Split into batches of at most `size` names whose encoded query stays under the limit."""
    if not 1 <= size <= MAX_BATCH:
        raise ValueError(f"batch size must be 1..{MAX_BATCH}")
    batches: list[list[LocalFile]] = []
    batch: list[LocalFile] = []
    query_bytes = 0
    for file in files:
        cost = len("&filenames=") + len(urllib.parse.quote(file.filename, safe=""))
        if batch and (len(batch) == size or query_bytes + cost > max_query_bytes):
            batches.append(batch)
            batch, query_bytes = [], 0
        batch.append(file)
        query_bytes += cost
    if batch:
        batches.append(batch)
    return batches


@dataclass
class _Run:
    """The mutable state of one run, owned by the scheduling (main) thread."""

    batches: list[list[LocalFile]]
    results: dict[str, FileResult] = field(default_factory=dict)
    ready: collections.deque[tuple[LocalFile, str]] = field(default_factory=collections.deque)
    in_flight: dict[Future[FileResult], LocalFile] = field(default_factory=dict)
    url_request: Future[dict[str, str]] | None = None
    url_batch: list[LocalFile] = field(default_factory=list)
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
    ) -> None:
        self._api = api
        self._journal = journal
        # Set by a worker when the whole run must stop (a refused token, a broken journal).
        self._worker_fatal: UploadError | None = None
        self._storage = storage
        self._options = options
        self._events = events or NullEvents()
        self._cancel = threading.Event()
        self._throttle = ByteRate(options.limit_rate) if options.limit_rate else None

    def run(self, files: Sequence[LocalFile]) -> PushOutcome:
        state = _Run(make_batches(files, self._options.batch_size))
        url_pool = ThreadPoolExecutor(1, thread_name_prefix="urls")
        put_pool = ThreadPoolExecutor(self._options.concurrency, thread_name_prefix="put")
        interrupted = False
        try:
            self._schedule(state, url_pool, put_pool)
        except KeyboardInterrupt:
            interrupted = True
            self._drain_after_interrupt(state)
        finally:
            url_pool.shutdown(wait=False, cancel_futures=True)
            put_pool.shutdown(wait=not interrupted, cancel_futures=True)

        unfinished = "interrupted before it was sent" if interrupted else "not sent"
        if state.fatal is not None:
            # The full message is printed once at the end; each file carries its first clause.
            unfinished = f"not sent: {str(state.fatal).split(';')[0]}"
        results = [
            state.results.get(f.filename)
            or FileResult(f.path, f.filename, f.size, Status.FAILED, 0, unfinished)
            for f in files
        ]
        return PushOutcome(results, state.fatal, interrupted)

    def _schedule(
        self, state: _Run, url_pool: ThreadPoolExecutor, put_pool: ThreadPoolExecutor
    ) -> None:
        concurrency = self._options.concurrency
        while True:
            if state.fatal is None:
                # Ask for the next batch's URLs only when the files at hand are about to run
                # out: the workers never wait, and signed URLs do not sit unused for long.
                if (
                    state.url_request is None
                    and state.next_batch < len(state.batches)
                    and len(state.ready) <= concurrency
                ):
                    state.url_batch = state.batches[state.next_batch]
                    state.next_batch += 1
                    names = [f.filename for f in state.url_batch]
                    state.url_request = url_pool.submit(self._api.upload_urls, names)
                if state.url_request is not None and state.url_request.done():
                    self._take_urls(state)
                    continue
                while state.ready and len(state.in_flight) < concurrency:
                    file, url = state.ready.popleft()
                    state.in_flight[put_pool.submit(self._send, file, url)] = file
            if (
                not state.in_flight
                and state.url_request is None
                and (
                    state.fatal is not None
                    or (not state.ready and state.next_batch >= len(state.batches))
                )
            ):
                return
            waiting: set[Future[Any]] = set(state.in_flight)
            if state.url_request is not None:
                waiting.add(state.url_request)
            done, _ = wait(waiting, return_when=FIRST_COMPLETED)
            for future in done:
                if future in state.in_flight:
                    self._record(state, self._result_of(future, state.in_flight.pop(future)))
            if self._worker_fatal is not None and state.fatal is None:
                state.fatal = self._worker_fatal

    @staticmethod
    def _result_of(future: Future[FileResult], file: LocalFile) -> FileResult:
        try:
            return future.result()
        except Exception as error:
            return _failed(file, redact(f"internal error: {type(error).__name__}: {error}"))

    def _take_urls(self, state: _Run) -> None:
        assert state.url_request is not None
        request, batch = state.url_request, state.url_batch
        state.url_request = None
        try:
            urls = request.result()
        except AccessRefused as error:
            state.fatal = error  # every later batch would be refused the same way
            return
        except ApiError as error:
            for file in batch:
                self._record(state, _failed(file, str(error)))
            return
        for file in batch:
            url = urls.get(file.filename)
            if url is None:
                self._record(state, _failed(file, "the API returned no upload URL for this file"))
            else:
                state.ready.append((file, url))

    def _record(self, state: _Run, result: FileResult) -> None:
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
        try:
            done, _ = wait(set(state.in_flight), timeout=self._options.grace_s)
        except KeyboardInterrupt:
            done = set()
        self._cancel.set()
        for future in done:
            self._record(state, self._result_of(future, state.in_flight.pop(future)))
        for file in state.in_flight.values():
            self._record(state, _failed(file, "interrupted while it was being sent"))
        state.in_flight.clear()

    # --- in a worker thread ---

    def _send(self, file: LocalFile, signed_url: str) -> FileResult:
        """Upload one file with retries; returns its result, never raises for a file's failure."""
        self._events.file_started(file)
        attempts = refreshes = 0
        error = "not sent"
        while attempts <= self._options.retries:
            refusal = check_signed_url(signed_url, storage_hosts=self._options.storage_hosts)
            if refusal is not None:
                return _failed(file, refusal, attempts)
            if signed_url_has_expired(signed_url):
                refreshes += 1
                if refreshes > self._options.retries:
                    return _failed(
                        file,
                        "the API keeps handing out signed URLs that have "
                        "already expired; is this machine's clock right?",
                        attempts,
                    )
                try:
                    signed_url = self._fresh_url(file)
                except UploadError as fresh_error:
                    return self._refresh_failed(file, fresh_error, attempts)
                continue
            attempts += 1
            sent = 0

            def on_bytes(count: int) -> None:
                nonlocal sent
                sent += count
                self._events.bytes_sent(file, count)

            outcome = put_file(
                self._storage, signed_url, file, on_bytes, self._cancel, self._throttle
            )
            if outcome.ok:
                return self._verified(file, outcome, attempts)
            self._events.bytes_sent(file, -sent)  # the next try starts from the first byte
            error = outcome.error or "failed"
            if self._cancel.is_set() or not (outcome.retryable or outcome.expired):
                break
            if outcome.expired:
                try:
                    signed_url = self._fresh_url(file)
                except UploadError as fresh_error:
                    return self._refresh_failed(file, fresh_error, attempts)
            elif attempts <= self._options.retries and self._cancel.wait(
                backoff_delay(attempts, outcome.retry_after)
            ):
                break
        return _failed(file, error, attempts)

    def _verified(self, file: LocalFile, outcome: PutOutcome, attempts: int) -> FileResult:
        """Record a verified upload in the journal at once: a kill after this never resends it."""
        error = None
        if self._journal is not None:
            upload = Upload(
                self._api.api_url,
                self._api.app_id,
                file.filename,
                printable(file.path, limit=4096),  # for people reading history; not a key
                outcome.size,
                outcome.mtime_ns,
                outcome.sha256,
                outcome.etag,
                utc_now(),
            )
            try:
                self._journal.record(upload)
            except JournalError as journal_error:
                self._worker_fatal = journal_error
                error = f"uploaded, but not recorded in the journal: {journal_error}"
        return FileResult(file.path, file.filename, outcome.size, Status.UPLOADED, attempts, error)

    def _refresh_failed(self, file: LocalFile, error: UploadError, attempts: int) -> FileResult:
        if isinstance(error, AccessRefused):
            self._worker_fatal = error  # the next batch would be refused the same way
        return _failed(file, str(error), attempts)

    def _fresh_url(self, file: LocalFile) -> str:
        url = self._api.upload_urls([file.filename]).get(file.filename)
        if url is None:
            raise ApiError("the API returned no new upload URL for this file")
        return url


def _failed(file: LocalFile, error: str, attempts: int = 0) -> FileResult:
    # Masked here, where the reason is made, as well as on output: a table that folds a long
    # line could otherwise split a signature past the output filter.
    return FileResult(file.path, file.filename, file.size, Status.FAILED, attempts, redact(error))


def connect(
    service: ServiceSettings,
    options: PushOptions,
    *,
    upload_type: str | None = None,
    timeout: tuple[float, float] | None = None,
    on_secret: Callable[[str], None] | None = None,
) -> tuple[ProductivApi, StorageClient]:
    """Build the API client (bearer token, throttling retries) and the storage session (none).

    `on_secret` hears of every secret in play (configured or fetched), to keep it out of output.
    """
    api_session = make_session(pool_size=2, retry=api_retry(options.retries), timeout=timeout)
    credentials = service.credentials
    if credentials is None:
        raise UsageError("no credentials")
    tokens: TokenSource
    if credentials.access_token is not None:
        tokens = StaticToken(credentials.access_token, credentials.source)
    else:
        assert credentials.client_id is not None
        assert credentials.client_secret is not None
        tokens = ClientCredentials(
            service.token_url, credentials.client_id, credentials.client_secret, api_session,
            on_token=on_secret, origin=credentials.source,
        )  # fmt: skip
    if on_secret is not None:
        for secret in tokens.secrets():
            on_secret(secret)
    api = ProductivApi(
        service.api_url,
        service.app_id,
        tokens,
        api_session,
        upload_type=upload_type,
        app_id_source=service.sources.get("app_id", "--app-id"),
    )
    storage = StorageClient(pool_size=options.concurrency, timeout=timeout)
    return api, storage
