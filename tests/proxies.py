"""Forward proxies on loopback for the tests, as a company network puts in front of the tool.

Loaded by conftest as a plugin. Fixtures:
- `start_proxy(require_auth=..., refuse=..., inspect_with=..., upstream_ca=...)` starts a
  `ForwardProxy` on 127.0.0.1 (port 0) and stops it, every thread and socket with it, when
  the test ends.
- `unused_port`: a loopback port where nothing listens (a bound socket that never listens, held
  for the test, so no one else can take the port meanwhile).

A `ForwardProxy` tunnels `CONNECT host:port` both ways and relays plain-http requests given an
absolute URI, recording for each request its `target` ("CONNECT 127.0.0.1:PORT",
"GET http://127.0.0.1:PORT/...") and its Proxy-Authorization header. Modes:
- `require_auth=(user, password)`: 407 Proxy Authentication Required, with a Basic challenge,
  to a request without these credentials;
- `refuse=True`: 403 Forbidden to every CONNECT;
- `inspect_with=ca, upstream_ca=ca`: TLS inspection, as corporate proxies do: the proxy ends
  the client's TLS itself, with a certificate for the requested host issued on the spot by
  `inspect_with`, and opens its own TLS connection to the target, verified against `upstream_ca`.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import select
import socket
import ssl
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import trustme

_CHUNK = 64 * 1024
_RELAY_BUFFER = 64 * 1024  # each tunnel socket's kernel buffer
_POLL_S = 0.05  # how often a tunnel looks whether the proxy is stopping


@dataclass(frozen=True)
class ProxiedRequest:
    target: str  # "CONNECT host:port" or "METHOD absolute-URI"
    proxy_authorization: str | None


def basic_credentials(user: str, password: str) -> str:
    """The Proxy-Authorization value a client sends for `user` and `password`."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class ForwardProxy(ThreadingHTTPServer):
    # Request threads are joined on close (see `stop`), so none outlives its test.
    daemon_threads = False
    block_on_close = True

    def __init__(
        self,
        *,
        require_auth: tuple[str, str] | None = None,
        refuse: bool = False,
        inspect_with: trustme.CA | None = None,
        upstream_ca: trustme.CA | None = None,
    ) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.expected_authorization = basic_credentials(*require_auth) if require_auth else None
        self.refuse = refuse
        self.inspect_with = inspect_with
        self.upstream_context: ssl.SSLContext | None = None
        if inspect_with is not None:
            assert upstream_ca is not None, "an inspecting proxy verifies its targets"
            self.upstream_context = ssl.create_default_context()
            upstream_ca.configure_trust(self.upstream_context)
        self.requests: list[ProxiedRequest] = []
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def url(self, userinfo: str = "") -> str:
        """The proxy's URL, with `userinfo` ("user:password", encoded as given) if any."""
        return f"http://{userinfo + '@' if userinfo else ''}{self.address}"

    @property
    def targets(self) -> list[str]:
        with self._lock:
            return [request.target for request in self.requests]

    @property
    def proxy_authorizations(self) -> list[str | None]:
        with self._lock:
            return [request.proxy_authorization for request in self.requests]

    def record(self, request: ProxiedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def context_for(self, host: str) -> ssl.SSLContext:
        """The server context an inspecting proxy presents for `host`, issued once."""
        assert self.inspect_with is not None
        with self._lock:
            if host not in self._contexts:
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                self.inspect_with.issue_cert(host).configure_cert(context)
                self._contexts[host] = context
            return self._contexts[host]

    # Every client connection is known, so `stop` can end those a client keeps alive.

    def get_request(self) -> tuple[socket.socket, Any]:
        connection, address = super().get_request()
        with self._lock:
            self._open.add(connection)
        return connection, address

    def shutdown_request(self, request: Any) -> None:
        with self._lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients hang up on proxies all the time; the tests check what arrived

    def start(self) -> ForwardProxy:
        self._thread = threading.Thread(
            target=self.serve_forever, args=(_POLL_S,), name="test-proxy", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.shutdown()
        with self._lock:
            still_open = list(self._open)
        for connection in still_open:
            with contextlib.suppress(OSError):  # already closed by the client
                connection.shutdown(socket.SHUT_RDWR)  # wakes a thread waiting for a request
        self.server_close()  # joins the request threads
        if self._thread is not None:
            self._thread.join()


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ForwardProxy

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _refuse(self, status: int, headers: dict[str, str] | None = None) -> None:
        body = f"{status} {http.client.responses[status]}\n".encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def _admitted(self) -> bool:
        authorization = self.headers.get("Proxy-Authorization")
        self.server.record(ProxiedRequest(f"{self.command} {self.path}", authorization))
        expected = self.server.expected_authorization
        if expected is not None and authorization != expected:
            self._refuse(407, {"Proxy-Authenticate": 'Basic realm="test proxy"'})
            return False
        return True

    def do_CONNECT(self) -> None:
        if not self._admitted():
            return
        if self.server.refuse:
            self._refuse(403)
            return
        host, _, port = self.path.rpartition(":")
        host = host.removeprefix("[").removesuffix("]")
        try:
            upstream = socket.create_connection((host, int(port)), timeout=10)
        except (OSError, ValueError):
            self._refuse(502)
            return
        self.close_connection = True  # the connection is the tunnel's from here on
        with upstream:
            self.send_response(200, "Connection established")
            self.end_headers()
            self.wfile.flush()
            # A proxy relays as it receives, with buffers of its own far smaller than the
            # megabytes loopback grows them to: a slow target is then felt by the client.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RELAY_BUFFER)
            upstream.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _RELAY_BUFFER)
            if self.server.inspect_with is None:
                _tunnel(self.connection, upstream, self.server.stopping)
            else:
                self._inspect(host, upstream)

    def _inspect(self, host: str, upstream: socket.socket) -> None:
        assert self.server.upstream_context is not None
        try:
            client_side = self.server.context_for(host).wrap_socket(
                self.connection, server_side=True
            )
        except OSError:
            return  # the client distrusts our certificate: as it should, unless told otherwise
        with client_side:
            try:
                target_side = self.server.upstream_context.wrap_socket(
                    upstream, server_hostname=host
                )
            except OSError:
                return  # the target's certificate failed: the client gets nothing from it
            with target_side:
                _tunnel(client_side, target_side, self.server.stopping)

    def _forward(self) -> None:
        """Relay a plain-http request given with an absolute URI (`GET http://host/...`)."""
        if not self._admitted():
            return
        target = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {
            name: value
            for name, value in self.headers.items()
            if name.lower() not in ("proxy-authorization", "proxy-connection", "connection")
        }
        path = f"{target.path}?{target.query}" if target.query else target.path
        upstream = http.client.HTTPConnection(target.netloc, timeout=10)
        try:
            upstream.request(self.command, path or "/", body=body, headers=headers)
            answer = upstream.getresponse()
            payload = answer.read()
        except OSError:
            self._refuse(502)
            return
        finally:
            upstream.close()
        self.send_response(answer.status, answer.reason)
        for name, value in answer.getheaders():
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_PUT = do_POST = _forward


def _tunnel(one: socket.socket, other: socket.socket, stopping: threading.Event) -> None:
    """Copy bytes both ways until either side closes or the proxy stops.

    One thread, non-blocking reads: a TLS socket may read a record that holds no data (a TLS
    1.3 session ticket), which a blocking read would wait on while the other side has bytes.
    """
    peer = {one: other, other: one}
    for side in peer:
        side.settimeout(0)
    while not stopping.is_set():
        ready: list[socket.socket] = [
            s for s in peer if isinstance(s, ssl.SSLSocket) and s.pending()
        ]
        if not ready:
            ready, _, _ = select.select(list(peer), [], [], _POLL_S)
        for source in ready:
            try:
                data = source.recv(_CHUNK)
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
                continue
            except OSError:
                return  # a reset, or a TLS alert: the tunnel is over
            if not data:
                return
            target = peer[source]
            target.settimeout(10)
            try:
                target.sendall(data)
            except OSError:
                return
            target.settimeout(0)


StartProxy = Callable[..., ForwardProxy]


@pytest.fixture
def start_proxy() -> Iterator[StartProxy]:
    started: list[ForwardProxy] = []

    def start(**modes: Any) -> ForwardProxy:
        proxy = ForwardProxy(**modes).start()
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.stop()


@pytest.fixture
def unused_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        yield holder.getsockname()[1]
