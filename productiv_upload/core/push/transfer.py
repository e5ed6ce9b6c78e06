"""Sending one file to its signed URL: one PUT, streamed from disk, checked on arrival."""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

import urllib3

from productiv_upload.common.platform.files import open_to_read
from productiv_upload.common.redact import redact
from productiv_upload.common.text import printable
from productiv_upload.core.model import Identity, LocalFile
from productiv_upload.service.faults import diagnose, proxy_for
from productiv_upload.service.http import RETRY_STATUSES
from productiv_upload.service.storage import StorageAnswer, StorageClient
from productiv_upload.service.throttle import ByteRate
from productiv_upload.service.transport import Stalled, WaitCallback
from productiv_upload.service.urls import display_host

MAX_ERROR_BODY = 64 * 1024
MAX_READ = 1024 * 1024
_PLAIN_MD5_ETAG = re.compile(r'^"?([0-9a-fA-F]{32})"?$')
_XML_FIELD = re.compile(r"<(Code|Message)>([^<]{0,300})</\1>")

ProgressCallback = Callable[[int], None]  # bytes sent since the last call; negative to rewind


class BodyAborted(Exception):
    """Stops a PUT while its body is being sent.

    Deliberately not an OSError: urllib3 would take that for a network fault.
    """


class FileChanged(BodyAborted):
    """The file shrank or vanished while it was being sent."""


class Cancelled(BodyAborted):
    """The run is being interrupted."""


class FileUnreadable(BodyAborted):
    """Reading the file failed (an I/O error), not the network."""


@dataclass(frozen=True)
class PutOutcome:
    ok: bool
    size: int = 0  # bytes sent in the body
    mtime_ns: int = 0  # the file's modification time while it was sent
    sha256: str = ""  # of the bytes sent, for the journal
    identity: Identity | None = None  # the file as sent, if it can be trusted (journal)
    etag: str | None = None
    error: str | None = None
    retryable: bool = False  # a new try may succeed (network fault, 5xx, throttling)
    expired: bool = False  # the signed URL has expired: a fresh one may succeed
    retry_after: str | None = None
    host_down: bool = False  # storage's host cannot be reached: the files for it would fail too


class _HashingReader:
    """The request body: reads exactly `size` bytes, hashing and reporting them as they go.

    `__len__` lets requests send Content-Length; without it requests falls back to chunked
    transfer encoding, which S3 refuses (501).
    """

    def __init__(
        self,
        stream: BinaryIO,
        size: int,
        on_bytes: ProgressCallback,
        cancel: threading.Event,
        throttle: ByteRate | None = None,
    ) -> None:
        self._throttle = throttle
        self._stream = stream
        self._cancel = cancel
        self._remaining = size
        self._size = size
        self._on_bytes = on_bytes
        # Both digests are computed as the bytes go out: the file is read once.
        self.md5 = hashlib.md5()
        self.sha256 = hashlib.sha256()

    def __len__(self) -> int:
        return self._size

    def read(self, amount: int = -1) -> bytes:
        if self._remaining == 0:
            return b""
        if self._cancel.is_set():
            raise Cancelled("interrupted while it was being sent")
        # Never the whole file at once, whatever the caller asks: memory stays flat.
        want = min(self._remaining, amount if amount and amount > 0 else MAX_READ)
        try:
            chunk = self._stream.read(want)
        except OSError as error:
            raise FileUnreadable(f"cannot read the file: {error.strerror}") from None
        if not chunk:
            raise FileChanged("the file shrank while it was being sent")
        if self._throttle is not None:
            delay = self._throttle.delay_for(len(chunk))
            if delay and self._cancel.wait(delay):
                raise Cancelled("interrupted while it was being sent")
        self._remaining -= len(chunk)
        self.md5.update(chunk)
        self.sha256.update(chunk)
        self._on_bytes(len(chunk))
        return chunk


def put_file(
    storage: StorageClient,
    signed_url: str,
    file: LocalFile,
    on_bytes: ProgressCallback,
    cancel: threading.Event,
    throttle: ByteRate | None = None,
    on_wait: WaitCallback | None = None,
) -> PutOutcome:
    """PUT the file's current bytes to `signed_url` once; never raises for a per-file failure.

    `on_wait` hears how long nothing has moved, during a long silence (see StorageClient.put).
    """
    try:
        fd = open_to_read(file.path)  # a FIFO put in the file's place does not hang it
    except OSError as error:
        return PutOutcome(False, error=f"cannot open the file: {error.strerror}")
    with os.fdopen(fd, "rb", buffering=0) as stream:
        before = os.fstat(stream.fileno())
        read_at = time.time_ns()
        if not stat.S_ISREG(before.st_mode):
            return PutOutcome(False, error="no longer a regular file; it was not sent")
        reader = _HashingReader(stream, before.st_size, on_bytes, cancel, throttle)
        # Content-Length is always sent, so the body is never chunked (S3 answers 501).
        body: _HashingReader | bytes = reader if before.st_size else b""
        try:
            answer = storage.put(
                signed_url, body, before.st_size, max_body=MAX_ERROR_BODY, on_wait=on_wait
            )
        except BodyAborted as error:
            return PutOutcome(False, error=str(error))
        except Stalled as error:
            # Silence, not refusal: retried on a new connection.
            return PutOutcome(
                False, error=f"storage at {display_host(signed_url)}: {error}", retryable=True
            )
        except (
            urllib3.exceptions.LocationParseError,
            urllib3.exceptions.ProxySchemeUnknown,
        ) as error:
            return PutOutcome(False, error=f"storage: {redact(printable(str(error), 200))}")
        except (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError) as error:
            fault = diagnose(
                error, signed_url, proxy_for(signed_url, os.environ), storage.ca_advice
            )
            return PutOutcome(
                False,
                error=f"storage at {display_host(signed_url)}: {fault.reason}",
                retryable=fault.retryable,
                host_down=fault.host_down,
            )
        after = os.fstat(stream.fileno())
    sent_md5 = reader.md5.hexdigest()

    if answer.status != 200:
        return _refused(answer)
    if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
        return PutOutcome(
            False, error="the file changed while it was being sent; not counted as uploaded"
        )
    etag = answer.etag
    match = _PLAIN_MD5_ETAG.match(etag or "")
    if match and match.group(1).lower() != sent_md5:
        return PutOutcome(
            False, error="storage's ETag does not match the MD5 of the bytes sent", retryable=True
        )
    # Touched while it was sent (its change time moved) but not visibly changed: the upload
    # stands, and the next run compares the file's content with what was sent.
    held_still = after.st_ctime_ns == before.st_ctime_ns
    return PutOutcome(
        True,
        size=before.st_size,
        mtime_ns=before.st_mtime_ns,
        sha256=reader.sha256.hexdigest(),
        identity=Identity.trusted(before, read_at) if held_still else None,
        etag=etag,
    )


def _refused(answer: StorageAnswer) -> PutOutcome:
    status = answer.status
    fields = dict(_XML_FIELD.findall(answer.body.decode("utf-8", "replace")))
    code, message = fields.get("Code", ""), fields.get("Message", "")
    # Storage's own words may quote the request: keep any signature out of them.
    detail = redact(
        printable(f"{code}: {message}" if code else message or answer.reason or "", 200)
    )
    if status == 403 and "expired" in message.lower():
        return PutOutcome(False, error="storage: the signed URL has expired (403)", expired=True)
    if status == 403 and code == "SignatureDoesNotMatch":
        return PutOutcome(
            False,
            error="storage rejected the signed URL (403 SignatureDoesNotMatch)"
            "; something between here and S3 (a proxy?) changed the request's "
            "headers",
        )
    return PutOutcome(
        False,
        error=f"storage answered {status}" + (f" ({detail})" if detail else ""),
        retryable=status in RETRY_STATUSES,
        retry_after=answer.retry_after,
    )
