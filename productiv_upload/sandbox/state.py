"""What the sandbox knows and does, apart from HTTP: apps, tokens, faults, signing, what landed.

The HTTP handler (`handler`) reads and changes this state; the server (`server`) binds it to a
socket. Standard library only.
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

# Facts of the services being emulated, and the sandbox's well-known fake credentials.
SANDBOX_CLIENT_ID = "sandbox-client"
SANDBOX_CLIENT_SECRET = "sandbox-secret"
SCOPE = "https://api.productiv.com/connector.write"
BUCKET = "productiv-data"
MAX_FILENAMES = 100
MAX_PUT_BYTES = 5 * 1024**3


@dataclass(frozen=True)
class RecordedRequest:
    kind: str  # "api", "put" or "token"
    method: str
    path: str  # raw request target, query string included
    headers: tuple[tuple[str, str], ...]
    status: int
    client_port: int  # tells keep-alive connections apart
    form: tuple[tuple[str, str], ...] = ()  # a token request's fields, client_secret masked

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


def quote_segment(segment: str) -> str:
    return urllib.parse.quote(segment, safe="")


def safe_name(segment: str) -> str:
    """A name for `segment` on local disk: no separators, no leading dot, under 255 bytes."""
    quoted = quote_segment(segment)
    if quoted.startswith("."):
        quoted = "%2E" + quoted[1:]
    if len(quoted) > 200:  # percent-encoding triples non-ASCII names
        quoted = quoted[:120] + "~" + hashlib.sha256(segment.encode()).hexdigest()[:40]
    return quoted


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
    # Faults of a slow or broken network, for the stall tests (README: "Stalled connections").
    put_read_rate: float | None = None  # bytes per second at which PUT bodies are read
    stop_reading_puts: int = 0  # this many PUTs stop reading a body after its first MiB
    # The Nth PUT on one kept-alive connection is read whole and then never answered, once, as
    # when the network silently forgets an idle flow (0: never).
    silent_on_put: int = 0
    rate_limit_rps: int | None = None  # API requests past this many per second get 429
    short_answers: int = 0  # this many PUTs are stored, then answered with a truncated body
    api_redirect_to: str | None = None  # the API answers 302 to this URL
    api_body: bytes | None = None  # the API answers 200 with these bytes instead of a URL map
    signed_url_override: str | None = None  # handed out instead of every signed URL
    # Called with a URL request's file names before it is answered: a test's hook into the
    # moment between a client listing its files and sending them.
    before_urls: Callable[[list[str]], None] | None = None


class SandboxState:
    """The sandbox's memory, shared by the threads that answer requests."""

    def __init__(
        self,
        storage_dir: Path,
        base_url: str,
        *,
        apps: tuple[str, ...] = (SANDBOX_APP_ID,),
        any_app: bool = False,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.storage_dir = Path(storage_dir)
        self.storage_dir.mkdir(parents=True, exist_ok=True)
        self.base_url = base_url  # where signed URLs point
        self.apps = set(apps)  # the app ids it knows; others get 404, as from the real API
        # The sandbox a user starts takes any app id, so the README's examples run as written.
        self.any_app = any_app
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
        # Set when the server stops: connections held silent by a fault let go.
        self.released = threading.Event()

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

    def take_silence(self, puts_on_connection: int) -> bool:
        """Whether this PUT, the connection's number `puts_on_connection`, goes unanswered."""
        with self._lock:
            if self.faults.silent_on_put and puts_on_connection == self.faults.silent_on_put:
                self.faults.silent_on_put = 0
                return True
            return False

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
