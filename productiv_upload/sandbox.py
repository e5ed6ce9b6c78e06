"""A strict local stand-in for Productiv's upload API and the S3 bucket it signs URLs for.

Standard library only, loopback only. It is how a new user tries the tool, how a cron script is
rehearsed without touching production, and what the test suite talks to. It is deliberately as
strict as the real services: whatever the real API or S3 would refuse, it refuses the same way.
"""

from __future__ import annotations

import base64
import collections
import hashlib
import hmac
import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from productiv_upload.sandbox_handler import (
    BUCKET,
    MAX_FILENAMES,
    MAX_PUT_BYTES,
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    RecordedRequest,
    SandboxHandler,
    SandboxServer,
    quote_segment,
    safe_name,
)

__all__ = [
    "BUCKET",
    "MAX_FILENAMES",
    "MAX_PUT_BYTES",
    "SANDBOX_APP_ID",
    "SANDBOX_CLIENT_ID",
    "SANDBOX_CLIENT_SECRET",
    "SANDBOX_TOKEN",
    "Faults",
    "RecordedRequest",
    "Sandbox",
]

# Well-known fake credentials: the sandbox is a rehearsal space, not a vault.
SANDBOX_APP_ID = "sandbox-app"
SANDBOX_TOKEN = "sandbox-token"
_ACCESS_KEY_ID = "AKIASANDBOX000000000"


@dataclass
class Faults:
    """Knobs that make the sandbox misbehave the way the real services sometimes do."""

    latency_s: float = 0.0  # added to every request before it is answered
    url_ttl_s: float = 3600.0  # lifetime of the signed URLs it hands out
    token_ttl_s: int = 3600  # `expires_in` of the tokens the token endpoint issues
    api_errors: collections.deque[tuple[int, str | None]] = field(
        default_factory=collections.deque
    )  # (status, Retry-After) answered to the next API requests, one each
    put_errors: collections.deque[int] = field(default_factory=collections.deque)
    drop_puts: int = 0  # this many PUTs get their connection cut halfway through the body
    omit_filenames: set[str] = field(default_factory=set)  # left out of the URL map
    wrong_etag_for: set[str] = field(default_factory=set)  # answered with a bogus ETag
    expire_next_urls: int = 0  # this many URLs are handed out already expired
    reject_as_expired: int = 0  # this many PUTs are answered 403 "Request has expired"
    stall_puts_s: float = 0.0  # PUTs wait this long, body read, before answering
    rate_limit_rps: int | None = None  # API requests past this many per second get 429
    short_answers: int = 0  # this many PUTs are stored, then answered with a truncated body
    api_redirect_to: str | None = None  # the API answers 302 to this URL
    api_body: bytes | None = None  # the API answers 200 with these bytes instead of a URL map
    signed_url_override: str | None = None  # handed out instead of every signed URL


class Sandbox:
    """The API, the token endpoint and the bucket, served by one HTTP server on loopback."""

    def __init__(
        self,
        storage_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        apps: tuple[str, ...] = (SANDBOX_APP_ID,),
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.storage_dir = Path(storage_dir)
        self.storage_dir.mkdir(parents=True, exist_ok=True)
        self.apps = set(apps)
        self.faults = Faults()
        self.requests: list[RecordedRequest] = []
        self._log = log
        self._lock = threading.Lock()
        self._signing_key = secrets.token_bytes(32)
        self._issued_tokens: dict[str, float] = {}
        self._put_counts: collections.Counter[tuple[str, str]] = collections.Counter()
        self._api_times: collections.deque[float] = collections.deque()
        self._puts_now = 0
        self.peak_puts = 0  # the most PUTs ever in progress at once
        self._server = SandboxServer((host, port), SandboxHandler)
        self._server.sandbox = self
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self._server.socket.getsockname()[:2]
        return f"http://{host}:{port}"

    @property
    def api_url(self) -> str:
        return self.base_url

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/oauth2/token"

    def start(self) -> Sandbox:
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="sandbox", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def close(self) -> None:
        """Release the port after `serve_forever` has returned in this thread."""
        self._server.server_close()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # What landed, for tests and for the user.

    def stored_path(self, app_id: str, filename: str) -> Path:
        # Quoting keeps hostile names ("../x", "a/b") inside the app's folder.
        return self.storage_dir / safe_name(app_id) / safe_name(filename)

    def put_count(self, app_id: str, filename: str) -> int:
        with self._lock:
            return self._put_counts[(app_id, filename)]

    def requests_of(self, kind: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.kind == kind]

    # Used by the handler.

    def sign(
        self,
        resource: str,
        expires: int,
        content_md5: str = "",
        content_type: str = "",
        amz_headers: str = "",
    ) -> str:
        # S3's query-string signature (version 2): HMAC over method, Content-MD5, Content-Type,
        # expiry, x-amz-* headers and the resource path.
        string_to_sign = f"PUT\n{content_md5}\n{content_type}\n{expires}\n{amz_headers}{resource}"
        digest = hmac.new(self._signing_key, string_to_sign.encode(), hashlib.sha1).digest()
        return base64.b64encode(digest).decode()

    def signed_url(self, app_id: str, filename: str) -> str:
        resource = f"/{BUCKET}/{quote_segment(app_id)}/{quote_segment(filename)}"
        expires = int(time.time() + self.faults.url_ttl_s)
        if self.take_fault("expire_next_urls"):
            expires = int(time.time()) - 60
        query = urllib.parse.urlencode(
            {
                "AWSAccessKeyId": _ACCESS_KEY_ID,
                "Signature": self.sign(resource, expires),
                "Expires": str(expires),
            }
        )
        return f"{self.base_url}{resource}?{query}"

    def issue_token(self) -> tuple[str, int]:
        token = "sbx-" + secrets.token_urlsafe(24)
        ttl = self.faults.token_ttl_s
        with self._lock:
            self._issued_tokens[token] = time.time() + ttl
        return token, ttl

    def token_is_valid(self, token: str) -> bool:
        if token == SANDBOX_TOKEN:
            return True
        with self._lock:
            expiry = self._issued_tokens.get(token)
        return expiry is not None and expiry > time.time()

    def next_api_error(self) -> tuple[int, str | None] | None:
        with self._lock:
            return self.faults.api_errors.popleft() if self.faults.api_errors else None

    def next_put_error(self) -> int | None:
        with self._lock:
            return self.faults.put_errors.popleft() if self.faults.put_errors else None

    def put_started(self) -> None:
        with self._lock:
            self._puts_now += 1
            self.peak_puts = max(self.peak_puts, self._puts_now)

    def put_ended(self) -> None:
        with self._lock:
            self._puts_now -= 1

    def revoke_issued_tokens(self) -> None:
        """Make every token issued so far invalid, as if it had expired early."""
        with self._lock:
            self._issued_tokens.clear()

    def over_rate_limit(self) -> bool:
        """Count an API request; True when it is one too many for the last second."""
        limit = self.faults.rate_limit_rps
        now = time.monotonic()
        with self._lock:
            self._api_times.append(now)
            while self._api_times and self._api_times[0] <= now - 1.0:
                self._api_times.popleft()
            return limit is not None and len(self._api_times) > limit

    def take_fault(self, knob: str) -> bool:
        """Use up one of a counted fault (drop_puts, reject_as_expired...)."""
        with self._lock:
            left = getattr(self.faults, knob)
            if left > 0:
                setattr(self.faults, knob, left - 1)
                return True
            return False

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)
            if request.kind == "put" and request.status == 200:
                parts = urllib.parse.urlsplit(request.path).path.split("/")
                key = (urllib.parse.unquote(parts[2]), urllib.parse.unquote(parts[3]))
                self._put_counts[key] += 1
        if self._log is not None:
            self._log(
                f"{request.method} {urllib.parse.urlsplit(request.path).path} {request.status}"
            )
