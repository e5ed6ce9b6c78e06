"""PUTs to signed storage URLs: a keep-alive client of its own, with no credentials of ours."""

from __future__ import annotations

import errno
import http.client
import os
import ssl
import threading
import time
import urllib.parse
import weakref
from dataclasses import dataclass
from typing import Any

import requests
import urllib3
from urllib3.connection import HTTPConnection
from urllib3.util.ssl_match_hostname import CertificateError
from urllib3.util.wait import wait_for_read

from productiv_upload.common.platform.sockets import KEEPALIVE_SOCKET_OPTIONS
from productiv_upload.service.faults import CA_ADVICE
from productiv_upload.service.http import (
    DEFAULT_CONNECT_TIMEOUT_S,
    DEFAULT_READ_TIMEOUT_S,
    MAX_IDLE_S,
    USER_AGENT,
)
from productiv_upload.service.transport import (
    Stalled,
    StorageConnection,
    TlsStorageConnection,
    WaitCallback,
)
from productiv_upload.service.trust import resolve_trust

STORAGE_BLOCK_SIZE = 256 * 1024


@dataclass(frozen=True)
class StorageAnswer:
    """Storage's answer to one PUT, read (up to a cap) and its connection released."""

    status: int
    reason: str
    body: bytes  # at most the `max_body` the caller allowed
    etag: str | None = None
    retry_after: str | None = None


_Route = tuple[str, str, int | None, str | None]  # scheme, host, port, proxy


class StorageClient:
    """PUTs to signed URLs, without requests.

    requests costs about a third of a small PUT's CPU (environment scans, hooks, cookie jars)
    and offers nothing a signed-URL PUT needs. This client sends no credentials of ours: no
    Authorization header, no ~/.netrc. Proxies follow HTTPS_PROXY / HTTP_PROXY / NO_PROXY with
    requests' own rules, resolved once per host, and go through urllib3; certificates are
    checked against the run's trust (README: "Company networks").

    Without a proxy, each PUT goes over a keep-alive `http.client` connection kept here: a
    urllib3 pool's `urlopen` re-encodes every signed query byte by byte and builds retry,
    timeout, header and response objects on each call, together over a third of a small PUT's
    CPU, for nothing a single PUT without retries needs.
    """

    def __init__(
        self,
        *,
        pool_size: int,
        timeout: tuple[float, float] | None = None,
        ssl_context: ssl.SSLContext | None = None,
        ca_advice: str = CA_ADVICE,
    ) -> None:
        self.ca_advice = ca_advice  # for messages about a storage certificate that failed
        connect, read = timeout or (DEFAULT_CONNECT_TIMEOUT_S, DEFAULT_READ_TIMEOUT_S)
        self._connect_s, self._read_s = connect, read
        self._timeout = urllib3.Timeout(connect=connect, read=read)
        self._pool_size = pool_size
        # The run's trust (service/trust.py), or what the environment asks for, made on the
        # first https:// PUT.
        self._tls: ssl.SSLContext | None = ssl_context
        self._pool_options: dict[str, Any] = {
            "maxsize": pool_size,
            "blocksize": STORAGE_BLOCK_SIZE,  # 256 KiB sends: fewer, cheaper calls than 16 KiB
            "headers": {"User-Agent": USER_AGENT},
            # Through a proxy too, the kernel finds a connection that died while idle.
            "socket_options": [*HTTPConnection.default_socket_options, *KEEPALIVE_SOCKET_OPTIONS],
        }
        self._via_proxy: dict[str, urllib3.ProxyManager] = {}
        self._route: dict[tuple[str, str], str | None] = {}
        self._idle: dict[_Route, list[StorageConnection]] = {}
        self._lock = threading.Lock()
        # As urllib3's pools do: idle sockets are closed when the client goes away.
        weakref.finalize(self, _close_all, self._idle)

    def close(self) -> None:
        """Close the idle connections (the client remains usable)."""
        with self._lock:
            _close_all(self._idle)

    def put(
        self,
        url: str,
        body: Any,
        length: int,
        *,
        max_body: int,
        on_wait: WaitCallback | None = None,
    ) -> StorageAnswer:
        """Send one PUT and read at most `max_body` bytes of the answer.

        Network faults raise urllib3's exceptions (or OSError), as a urllib3 pool would;
        `Stalled` when nothing moved for the read timeout (directly, not through a proxy).
        `on_wait` hears, every few seconds, how long nothing has moved, and 0.0 once it moves.
        """
        headers = {"User-Agent": USER_AGENT, "Content-Length": str(length)}
        parts = urllib.parse.urlsplit(url)
        proxy = self._proxy_for(url, parts)
        if proxy is not None and parts.scheme == "http":
            # Plain http through a proxy (loopback storage only): urllib3's absolute-URI form.
            manager = self._manager_for(proxy)
            return _put_via_proxy(manager, url, body, headers, self._timeout, max_body)
        route = (parts.scheme, parts.hostname or "", parts.port, proxy)
        target = f"{parts.path or '/'}?{parts.query}" if parts.query else parts.path or "/"
        connection = self._take(route)
        connection.watch(on_wait)
        try:
            response = _send(connection, target, body, headers)
            answer = StorageAnswer(
                response.status,
                response.reason or "",
                response.read(max_body),
                response.getheader("ETag"),
                response.getheader("Retry-After"),
            )
            complete = not response.read(1)
            if complete and response.length:
                # The server closed before the length it announced (http.client's read of a
                # part does not check; urllib3 would have raised the same).
                raise http.client.IncompleteRead(answer.body, response.length)
        except Stalled:
            connection.close()  # a silent connection is never reused: the retry connects anew
            raise
        except (ssl.SSLCertVerificationError, CertificateError) as error:
            connection.close()
            raise urllib3.exceptions.SSLError(error) from error
        except (OSError, http.client.HTTPException) as error:
            connection.close()
            raise _as_urllib3_error(error, self._read_s) from error
        except BaseException:
            connection.close()  # a half-sent request (an aborted body): never reused
            raise
        if complete and not response.will_close:
            self._give_back(route, connection)
        else:
            connection.close()  # an oversized answer: drop the connection rather than drain it
        return answer

    def _take(self, route: _Route) -> StorageConnection:
        stale: list[StorageConnection] = []
        with self._lock:
            idle = self._idle.get(route)
            connection = idle.pop() if idle else None
            too_old = time.monotonic() - MAX_IDLE_S
            if idle is not None and connection is not None and connection.idle_since < too_old:
                # The newest went back last: the others are older still.
                stale, idle[:] = [connection, *idle], []
                connection = None
        for old in stale:
            old.close()  # maybe forgotten on the way: never worth a --timeout to find out
        if connection is not None:
            if connection.sock is not None and wait_for_read(connection.sock, timeout=0.0):
                connection.close()  # closed by the server while idle: the request reconnects
            return connection
        scheme, host, port, proxy = route
        if scheme == "https" and proxy is not None:
            # Through the proxy's CONNECT tunnel, with the same watch on silence as direct.
            proxy_parts = urllib.parse.urlsplit(proxy)
            tunnelled = TlsStorageConnection(
                proxy_parts.hostname or "",
                proxy_parts.port or 80,
                connect_s=self._connect_s,
                idle_s=self._read_s,
                blocksize=STORAGE_BLOCK_SIZE,
                context=self._ssl_context(),
            )
            tunnelled.set_tunnel(host, port, headers=_proxy_headers(proxy))
            return tunnelled
        if scheme == "https":
            return TlsStorageConnection(
                host,
                port,
                connect_s=self._connect_s,
                idle_s=self._read_s,
                blocksize=STORAGE_BLOCK_SIZE,
                context=self._ssl_context(),
            )
        return StorageConnection(
            host, port, connect_s=self._connect_s, idle_s=self._read_s, blocksize=STORAGE_BLOCK_SIZE
        )

    def _ssl_context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = resolve_trust(None, os.environ).ssl_context()
        return self._tls

    def _give_back(self, route: _Route, connection: StorageConnection) -> None:
        connection.idle_since = time.monotonic()
        with self._lock:
            idle = self._idle.setdefault(route, [])
            if len(idle) < self._pool_size:
                idle.append(connection)
                return
        connection.close()

    def _proxy_for(self, url: str, parts: urllib.parse.SplitResult) -> str | None:
        """The proxy for this URL's host (NO_PROXY applied, once per host), or None."""
        key = (parts.scheme, parts.netloc)
        if key not in self._route:
            proxies = requests.utils.get_environ_proxies(url)
            proxy = proxies.get(parts.scheme) or proxies.get("all")
            # As requests does: "host:port" means http://.
            if proxy is not None and "://" not in proxy:
                proxy = f"http://{proxy}"
            self._route[key] = proxy
        return self._route[key]

    def _manager_for(self, proxy: str) -> urllib3.ProxyManager:
        with self._lock:
            if proxy not in self._via_proxy:
                self._via_proxy[proxy] = urllib3.ProxyManager(
                    proxy,
                    proxy_headers=_proxy_headers(proxy),
                    ssl_context=self._ssl_context(),
                    **self._pool_options,
                )
            return self._via_proxy[proxy]


def _proxy_headers(proxy: str) -> dict[str, str] | None:
    """User info in the proxy's URL becomes Proxy-Authorization, as requests does it (urllib3
    would otherwise drop it and get 407s); percent-encoded characters are decoded."""
    user, password = requests.utils.get_auth_from_url(proxy)
    return urllib3.make_headers(proxy_basic_auth=f"{user}:{password}") if user else None


def _close_all(idle: dict[_Route, list[StorageConnection]]) -> None:
    for connections in idle.values():
        for connection in connections:
            connection.close()
        connections.clear()


def _send(
    connection: StorageConnection, target: str, body: Any, headers: dict[str, str]
) -> http.client.HTTPResponse:
    """One request on one connection; the connection itself watches for silence."""
    try:
        connection.request("PUT", target, body=body, headers=headers)
    except BrokenPipeError:
        pass  # the server may have answered early (a refusal): read what it said
    except OSError as error:
        if error.errno not in (errno.EPROTOTYPE, errno.ECONNRESET):
            raise
    connection.wait_for_answer()
    return connection.getresponse()


def _as_urllib3_error(error: Exception, read_s: float) -> urllib3.exceptions.HTTPError:
    """The exception urllib3's pool raises for the same fault, so callers see one family.

    Other TLS errors than a failed certificate check (`EOF occurred in violation of protocol`
    when storage cuts a connection mid-body) are network faults, retried like a reset.
    """
    if isinstance(error, TimeoutError):
        pool: Any = None  # the connection is ours, not a pool's
        return urllib3.exceptions.ReadTimeoutError(
            pool, "", f"Read timed out. (read timeout={read_s})"
        )
    return urllib3.exceptions.ProtocolError("Connection aborted.", error)


def _put_via_proxy(
    manager: urllib3.ProxyManager,
    url: str,
    body: Any,
    headers: dict[str, str],
    timeout: urllib3.Timeout,
    max_body: int,
) -> StorageAnswer:
    try:
        response = manager.urlopen(
            "PUT",
            url,
            body=body,
            headers=headers,
            preload_content=False,
            timeout=timeout,
            retries=False,  # the caller's retry loop also rewinds the body and renews the URL
            redirect=False,
        )
    except urllib3.exceptions.SSLError as error:
        # urllib3 calls every TLS error an SSLError; only a failed certificate check is one.
        reason = error.args[0] if error.args else None
        if isinstance(reason, ssl.SSLCertVerificationError | CertificateError):
            raise
        raise urllib3.exceptions.ProtocolError("Connection aborted.", reason) from error
    answer = StorageAnswer(
        response.status,
        response.reason or "",
        response.read(max_body, decode_content=True),
        response.headers.get("ETag"),
        response.headers.get("Retry-After"),
    )
    if response.read(1):
        response.close()  # an oversized answer: drop the connection rather than drain it
    else:
        response.release_conn()
    return answer
