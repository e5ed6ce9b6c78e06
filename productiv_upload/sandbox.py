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
import json
import re
import secrets
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

# Well-known fake credentials: the sandbox is a rehearsal space, not a vault.
SANDBOX_APP_ID = "sandbox-app"
SANDBOX_TOKEN = "sandbox-token"
SANDBOX_CLIENT_ID = "sandbox-client"
SANDBOX_CLIENT_SECRET = "sandbox-secret"
BUCKET = "productiv-data"
MAX_FILENAMES = 100
MAX_PUT_BYTES = 5 * 1024**3
_ACCESS_KEY_ID = "AKIASANDBOX000000000"
_UPLOAD_PATH = re.compile(r"^/services/push/v1/customer/apps/([^/]+)/upload$")
_READ_CHUNK = 256 * 1024


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


@dataclass(frozen=True)
class RecordedRequest:
    kind: str  # "api", "put" or "token"
    method: str
    path: str  # raw request target, query string included
    headers: tuple[tuple[str, str], ...]
    status: int
    client_port: int  # tells keep-alive connections apart

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


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
        self.apps = set(apps)
        self.faults = Faults()
        self.requests: list[RecordedRequest] = []
        self._log = log
        self._lock = threading.Lock()
        self._signing_key = secrets.token_bytes(32)
        self._issued_tokens: dict[str, float] = {}
        self._put_counts: collections.Counter[tuple[str, str]] = collections.Counter()
        self._api_times: collections.deque[float] = collections.deque()
        self._server = _Server((host, port), _Handler)
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
        return self.storage_dir / _safe_name(app_id) / _safe_name(filename)

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
        resource = f"/{BUCKET}/{_quote(app_id)}/{_quote(filename)}"
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


def _quote(segment: str) -> str:
    return urllib.parse.quote(segment, safe="")


def _safe_name(segment: str) -> str:
    quoted = _quote(segment)
    return "%2E" + quoted[1:] if quoted.startswith(".") else quoted


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # up to 64 parallel PUTs connect at once
    sandbox: Sandbox

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that hang up mid-request are part of what the sandbox is for; stay quiet.
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real endpoints
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass  # Sandbox.record does the logging, with signatures left out

    @property
    def sandbox(self) -> Sandbox:
        return self.server.sandbox

    def _delay(self) -> None:
        if self.sandbox.faults.latency_s > 0:
            time.sleep(self.sandbox.faults.latency_s)

    def _answer(
        self,
        kind: str,
        status: int,
        body: bytes = b"",
        *,
        content_type: str | None = None,
        headers: dict[str, str] | None = None,
        close: bool = False,
    ) -> None:
        # Recorded before answering, so a client that has its answer sees the record.
        self.sandbox.record(
            RecordedRequest(
                kind,
                self.command,
                self.path,
                tuple(self.headers.items()),
                status,
                self.client_address[1],
            )
        )
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        if close:
            # The request body was not read: the connection cannot be reused.
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def _api_error(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        body = json.dumps({"code": str(status), "message": message, "success": False}).encode()
        self._answer("api", status, body, content_type="application/json", headers=headers)

    def _s3_error(self, status: int, code: str, message: str, *, close: bool = False) -> None:
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
        ).encode()
        self._answer("put", status, body, content_type="application/xml", close=close)

    # --- the Productiv API ---

    def do_GET(self) -> None:
        self._delay()
        url = urllib.parse.urlsplit(self.path)
        match = _UPLOAD_PATH.match(url.path)
        if match is None:
            self._api_error(404, "Not found")
            return
        if self.sandbox.over_rate_limit():
            self._api_error(429, "Too many requests", {"Retry-After": "1"})
            return
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or not self.sandbox.token_is_valid(auth[7:]):
            self._api_error(401, "Invalid access_token")
            return
        injected = self.sandbox.next_api_error()
        if injected is not None:
            status, retry_after = injected
            extra = {"Retry-After": retry_after} if retry_after is not None else None
            self._api_error(status, "Injected fault", extra)
            return
        app_id = urllib.parse.unquote(match.group(1))
        if app_id not in self.sandbox.apps:
            self._api_error(404, f"App {app_id} not found")
            return
        query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        filenames = query.get("filenames", [])
        if not filenames or any(not name for name in filenames):
            self._api_error(400, "filenames is required")
            return
        if len(filenames) > MAX_FILENAMES:
            self._api_error(400, f"At most {MAX_FILENAMES} filenames per request")
            return
        urls = {
            name: self.sandbox.signed_url(app_id, name)
            for name in filenames
            if name not in self.sandbox.faults.omit_filenames
        }
        self._answer("api", 200, json.dumps(urls).encode(), content_type="application/json")

    # --- the OAuth2 token endpoint ---

    def do_POST(self) -> None:
        self._delay()
        length = int(self.headers.get("Content-Length") or 0)
        form = urllib.parse.parse_qs(self.rfile.read(length).decode("utf-8", "replace"))
        if urllib.parse.urlsplit(self.path).path != "/oauth2/token":
            self._answer("token", 404, b"{}", content_type="application/json")
            return
        fields = {key: values[0] for key, values in form.items()}
        if fields.get("grant_type") != "client_credentials" or (
            fields.get("client_id"),
            fields.get("client_secret"),
        ) != (SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET):
            body = {"error": "invalid_client", "error_description": "Client authentication failed"}
            self._answer("token", 401, json.dumps(body).encode(), content_type="application/json")
            return
        token, ttl = self.sandbox.issue_token()
        issued = {"access_token": token, "token_type": "Bearer", "expires_in": ttl}
        self._answer("token", 200, json.dumps(issued).encode(), content_type="application/json")

    # --- the S3 bucket ---

    def do_PUT(self) -> None:
        self._delay()
        url = urllib.parse.urlsplit(self.path)
        parts = url.path.split("/")
        if len(parts) != 4 or parts[1] != BUCKET or not parts[3]:
            self._s3_error(404, "NoSuchKey", "The specified key does not exist.", close=True)
            return
        if "Authorization" in self.headers:
            self._s3_error(400, "InvalidArgument", "Only one auth mechanism allowed", close=True)
            return
        if "Transfer-Encoding" in self.headers:
            self._s3_error(
                501,
                "NotImplemented",
                "A header you provided implies functionality that is not implemented",
                close=True,
            )
            return
        if self.headers.get("Content-Length") is None:
            self._s3_error(
                411,
                "MissingContentLength",
                "You must provide the Content-Length HTTP header.",
                close=True,
            )
            return
        length = int(self.headers["Content-Length"])
        if length > MAX_PUT_BYTES:
            self._s3_error(
                400,
                "EntityTooLarge",
                "Your proposed upload exceeds the maximum allowed size",
                close=True,
            )
            return
        query = {k: v[0] for k, v in urllib.parse.parse_qs(url.query).items()}
        if not {"AWSAccessKeyId", "Signature", "Expires"} <= query.keys():
            self._s3_error(403, "AccessDenied", "Access Denied", close=True)
            return
        if int(query["Expires"]) < time.time():
            self._s3_error(403, "AccessDenied", "Request has expired", close=True)
            return
        amz = "".join(
            f"{k.lower()}:{v.strip()}\n"
            for k, v in sorted(self.headers.items(), key=lambda item: item[0].lower())
            if k.lower().startswith("x-amz-")
        )
        expected = self.sandbox.sign(
            url.path,
            int(query["Expires"]),
            self.headers.get("Content-MD5", ""),
            self.headers.get("Content-Type", ""),
            amz,
        )
        if not hmac.compare_digest(expected, query["Signature"]):
            self._s3_error(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
                close=True,
            )
            return
        if self.sandbox.take_fault("drop_puts"):
            self.rfile.read(length // 2)
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        app_id, filename = urllib.parse.unquote(parts[2]), urllib.parse.unquote(parts[3])
        self._store(app_id, filename, length)

    def _store(self, app_id: str, filename: str, length: int) -> None:
        target = self.sandbox.stored_path(app_id, filename)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{threading.get_ident()}.part")
        md5 = hashlib.md5()
        remaining = length
        with open(partial, "wb") as out:
            while remaining:
                chunk = self.rfile.read(min(remaining, _READ_CHUNK))
                if not chunk:
                    break  # the client hung up: nothing is stored, as with S3
                md5.update(chunk)
                out.write(chunk)
                remaining -= len(chunk)
        if remaining:
            partial.unlink()
            self.close_connection = True
            return
        if self.sandbox.faults.stall_puts_s:
            time.sleep(self.sandbox.faults.stall_puts_s)
        if self.sandbox.take_fault("reject_as_expired"):
            partial.unlink()
            self._s3_error(403, "AccessDenied", "Request has expired")
            return
        injected = self.sandbox.next_put_error()
        if injected is not None:
            partial.unlink()
            self._s3_error(
                injected, "InternalError" if injected == 500 else "SlowDown", "Injected fault"
            )
            return
        partial.replace(target)
        etag = md5.hexdigest()
        if filename in self.sandbox.faults.wrong_etag_for:
            etag = hashlib.md5(b"not the body").hexdigest()
        self._answer("put", 200, headers={"ETag": f'"{etag}"'})
