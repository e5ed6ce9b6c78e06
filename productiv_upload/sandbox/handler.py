"""The sandbox's HTTP side: how the emulated API, token endpoint and bucket answer requests.

The state they read and change (tokens, faults, what was stored) lives in `state.SandboxState`,
which the server hands to each request.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import select
import socket
import ssl
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from productiv_upload.sandbox.state import (
    BUCKET,
    MAX_FILENAMES,
    MAX_PUT_BYTES,
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SCOPE,
    RecordedRequest,
    SandboxState,
)

_UPLOAD_PATH = re.compile(r"^/services/push/v1/customer/apps/([^/]+)/upload$")
_READ_CHUNK = 256 * 1024
# A client that connects and never completes the handshake gives up its thread after this long.
_HANDSHAKE_TIMEOUT_S = 30.0
_SLOW_CHUNK = 16 * 1024  # read at a time by a slow reader, so its rate stays even
_HELD_S = 60.0  # the longest a fault keeps a connection silent, should nobody release it


class SandboxServer(ThreadingHTTPServer):
    """An HTTP server on an IPv4 or IPv6 address, speaking TLS when given a server context."""

    daemon_threads = True
    request_queue_size = 128  # up to 64 parallel PUTs connect at once
    state: SandboxState

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        *,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        # The family is a class attribute that the base class reads when it makes the socket.
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.tls = tls
        super().__init__(address, handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        connection, client_address = super().get_request()
        if self.tls is None:
            return connection, client_address
        # No handshake here: this runs in the accept loop, where one slow or silent client
        # would keep every other one waiting. `finish_request` does it in the request's thread.
        try:
            wrapped = self.tls.wrap_socket(
                connection, server_side=True, do_handshake_on_connect=False
            )
        except OSError:
            connection.close()
            raise  # the base class skips a connection whose accept failed
        return wrapped, client_address

    def finish_request(self, request: Any, client_address: Any) -> None:
        if isinstance(request, ssl.SSLSocket):
            try:
                request.settimeout(_HANDSHAKE_TIMEOUT_S)
                request.do_handshake()
                request.settimeout(None)
            except OSError:  # ssl.SSLError included: a client that distrusts us, or hung up
                return  # the base class closes the socket
        super().finish_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that hang up mid-request are part of what the sandbox is for; stay quiet.
        pass


class SandboxHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real endpoints
    server: SandboxServer
    _form: tuple[tuple[str, str], ...] = ()
    _puts_here = 0  # PUTs on this connection so far

    def log_message(self, format: str, *args: Any) -> None:
        pass  # Sandbox.record does the logging, with signatures left out

    @property
    def sandbox(self) -> SandboxState:
        return self.server.state

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
                self._form,
            )
        )
        self._form = ()
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
        if self.headers.get("Content-Type") != "application/json":
            self._api_error(400, "content-type must be application/json")
            return
        faults = self.sandbox.faults
        if faults.api_redirect_to is not None:
            self._answer("api", 302, headers={"Location": faults.api_redirect_to})
            return
        if faults.api_body is not None:
            self._answer("api", 200, faults.api_body, content_type="application/json")
            return
        injected = self.sandbox.next_api_error()
        if injected is not None:
            status, retry_after = injected
            extra = {"Retry-After": retry_after} if retry_after is not None else None
            self._api_error(status, "Injected fault", extra)
            return
        app_id = urllib.parse.unquote(match.group(1))
        if not self.sandbox.any_app and app_id not in self.sandbox.apps:
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
        if faults.before_urls is not None:
            faults.before_urls(filenames)
        urls = {
            name: faults.signed_url_override or self.sandbox.signed_url(app_id, name)
            for name in filenames
            if name not in self.sandbox.faults.omit_filenames
        }
        self._answer("api", 200, json.dumps(urls).encode(), content_type="application/json")

    # --- the OAuth2 token endpoint ---

    def do_POST(self) -> None:
        self._delay()
        length = int(self.headers.get("Content-Length") or 0)
        form = urllib.parse.parse_qs(self.rfile.read(length).decode("utf-8", "replace"))
        fields = {key: values[0] for key, values in form.items()}
        self._form = tuple(
            (key, "<hidden>" if key == "client_secret" else value) for key, value in fields.items()
        )
        if urllib.parse.urlsplit(self.path).path != "/oauth2/token":
            self._answer("token", 404, b"{}", content_type="application/json")
            return
        if self.headers.get("Content-Type") != "application/x-www-form-urlencoded":
            self._token_error(400, "invalid_request", "Expected a form-encoded body")
            return
        if fields.get("grant_type") != "client_credentials" or (
            fields.get("client_id"),
            fields.get("client_secret"),
        ) != (SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET):
            self._token_error(401, "invalid_client", "Client authentication failed")
            return
        if fields.get("scope") != SCOPE:
            self._token_error(400, "invalid_scope", f"The scope must be {SCOPE}")
            return
        token, ttl = self.sandbox.issue_token()
        issued = {"access_token": token, "token_type": "Bearer", "expires_in": ttl}
        self._answer("token", 200, json.dumps(issued).encode(), content_type="application/json")

    def _token_error(self, status: int, error: str, description: str) -> None:
        body = json.dumps({"error": error, "error_description": description}).encode()
        self._answer("token", status, body, content_type="application/json")

    # --- the S3 bucket ---

    def do_PUT(self) -> None:
        self.sandbox.put_started()
        try:
            self._put()
        finally:
            self.sandbox.put_ended()

    def _put(self) -> None:
        self._puts_here += 1
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
        if self.sandbox.take_silence(self._puts_here):
            self.rfile.read(length)  # read, never stored, never answered
            self._hold()
            return
        app_id, filename = urllib.parse.unquote(parts[2]), urllib.parse.unquote(parts[3])
        self._store(app_id, filename, length)

    def _hold(self) -> None:
        """Keep the connection open and silent until the client leaves or the server stops."""
        deadline = time.monotonic() + _HELD_S
        while time.monotonic() < deadline and not self.sandbox.released.wait(0.1):
            readable, _, _ = select.select([self.connection], [], [], 0)
            try:
                if readable and self.connection.recv(1, socket.MSG_PEEK) == b"":
                    break  # the client hung up
            except OSError:
                break
        self.close_connection = True

    def _read_body_part(self, wanted: int) -> bytes:
        rate = self.sandbox.faults.put_read_rate
        if rate is None:
            return self.rfile.read(min(wanted, _READ_CHUNK))
        chunk = self.rfile.read(min(wanted, _SLOW_CHUNK))
        time.sleep(len(chunk) / rate)
        return chunk

    def _store(self, app_id: str, filename: str, length: int) -> None:
        target = self.sandbox.stored_path(app_id, filename)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{threading.get_ident()}.part")
        md5 = hashlib.md5()
        remaining = length
        if self.sandbox.faults.put_read_rate is not None or self.sandbox.faults.stop_reading_puts:
            # A small receive buffer, so a slow or stopped reader holds the sender back at
            # once, as a slow link would, instead of after megabytes.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        # Left unread by a reader that stops (the last byte, at least): none stops otherwise.
        unread = max(length - 1024 * 1024, 1) if self.sandbox.take_fault("stop_reading_puts") else 0
        with open(partial, "wb") as out:
            while remaining:
                if remaining == unread:
                    self._hold()
                    break
                chunk = self._read_body_part(remaining - unread)
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
        if self.sandbox.take_fault("short_answers"):
            # Promise a body, send two bytes of it, hang up: a proxy failing mid-answer.
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b"OK")
            self.close_connection = True
            return
        etag = md5.hexdigest()
        if filename in self.sandbox.faults.wrong_etag_for:
            etag = hashlib.md5(b"not the body").hexdigest()
        self._answer("put", 200, headers={"ETag": f'"{etag}"'})
