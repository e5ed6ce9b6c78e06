"""One file to its signed URL, in a worker thread: tries, waits, fresh URLs, hosts found down.

The scheduler in pusher.py hands a `FileSender` a file and its URL; the sender hands back a
`Sent`, and never raises for the file's own failure.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from productiv_upload.common.errors import AccessRefused, ApiError, UploadError
from productiv_upload.common.redact import redact
from productiv_upload.core.model import FileResult, LocalFile, Status
from productiv_upload.core.push.events import PushEvents
from productiv_upload.core.push.transfer import PutOutcome, put_file
from productiv_upload.service.api import ProductivApi
from productiv_upload.service.retry import backoff_delay
from productiv_upload.service.storage import StorageClient
from productiv_upload.service.throttle import ByteRate
from productiv_upload.service.urls import check_signed_url, display_host, signed_url_has_expired

EXPIRED_URLS_REASON = (
    "the API keeps handing out signed URLs that have already expired; "
    "is this machine's clock right?"
)


@dataclass(frozen=True)
class Sent:
    """What a worker hands back for one file: its result, and what the journal needs of it."""

    file: LocalFile
    result: FileResult
    verified: PutOutcome | None = None  # storage confirmed the bytes; not journaled yet


class FileSender:
    """One per run, its `send` called from every worker at once: what one file learns, the
    others use.

    `hosts_down`: storage hosts that one file's retries found unreachable, and why; the files
    bound for them fail at once rather than each after its own retries. `fatal`: set when the
    whole run must stop (the token was refused while asking for a fresh URL); the scheduler
    reads it. Both change by single assignments (a dict item, an attribute), without a lock.
    """

    def __init__(
        self,
        api: ProductivApi,
        storage: StorageClient,
        events: PushEvents,
        cancel: threading.Event,
        throttle: ByteRate | None,
        *,
        retries: int,
        storage_hosts: tuple[str, ...] | None,
    ) -> None:
        self._api = api
        self._storage = storage
        self._events = events
        self._cancel = cancel
        self._throttle = throttle
        self._retries = retries
        self._storage_hosts = storage_hosts
        self.hosts_down: dict[str, str] = {}
        self.fatal: UploadError | None = None

    def send(self, file: LocalFile, signed_url: str) -> Sent:
        """Upload one file with retries; returns its result, never raises for a file's failure."""
        self._events.file_started(file)
        attempts = refreshes = 0
        error = "not sent"
        while attempts <= self._retries:
            refusal = check_signed_url(signed_url, storage_hosts=self._storage_hosts)
            if refusal is not None:
                return Sent(file, failed(file, refusal, attempts))
            down = self.hosts_down.get(display_host(signed_url))
            if down is not None:
                return Sent(file, failed(file, f"not sent: {down}", attempts))
            if signed_url_has_expired(signed_url):
                refreshes += 1
                if refreshes > self._retries:
                    return Sent(file, failed(file, EXPIRED_URLS_REASON, attempts))
                try:
                    signed_url = self._fresh_url(file)
                except UploadError as fresh_error:
                    return Sent(file, self._refresh_failed(file, fresh_error, attempts))
                continue
            attempts += 1
            sent = 0

            def on_bytes(count: int) -> None:
                nonlocal sent
                sent += count
                self._events.bytes_sent(file, count)

            def on_wait(seconds: float) -> None:
                self._events.waiting(file, seconds)

            outcome = put_file(
                self._storage, signed_url, file, on_bytes, self._cancel, self._throttle, on_wait
            )
            if outcome.ok:
                size = outcome.size
                result = FileResult(file.path, file.filename, size, Status.UPLOADED, attempts)
                return Sent(file, result, outcome)
            self._events.bytes_sent(file, -sent)  # the next try starts from the first byte
            error = outcome.error or "failed"
            if outcome.host_down and (not outcome.retryable or attempts > self._retries):
                self.hosts_down[display_host(signed_url)] = error
            if self._cancel.is_set() or not (outcome.retryable or outcome.expired):
                break
            if attempts <= self._retries:
                # The file's result keeps only the last reason: each earlier one is told here.
                self._events.attempt_failed(file, attempts, redact(error))
            if outcome.expired:
                try:
                    signed_url = self._fresh_url(file)
                except UploadError as fresh_error:
                    return Sent(file, self._refresh_failed(file, fresh_error, attempts))
            elif attempts <= self._retries and self._cancel.wait(
                backoff_delay(attempts, outcome.retry_after)
            ):
                break
        return Sent(file, failed(file, error, attempts))

    def _refresh_failed(self, file: LocalFile, error: UploadError, attempts: int) -> FileResult:
        if isinstance(error, AccessRefused):
            self.fatal = error  # the next batch would be refused the same way
        return failed(file, str(error), attempts)

    def _fresh_url(self, file: LocalFile) -> str:
        url = self._api.upload_urls([file.filename]).get(file.filename)
        if url is None:
            raise ApiError("the API returned no new upload URL for this file")
        return url


def failed(file: LocalFile, error: str, attempts: int = 0) -> FileResult:
    """A failed result for `file`, its reason masked.

    Masked here, where the reason is made, as well as on output: a table that folds a long
    line could otherwise split a signature past the output filter.
    """
    return FileResult(file.path, file.filename, file.size, Status.FAILED, attempts, redact(error))
