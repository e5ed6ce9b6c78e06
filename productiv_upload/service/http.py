"""Every HTTP session the tool uses is built here, so each one has a User-Agent and timeouts."""

from __future__ import annotations

import os
import random
import ssl
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import InvalidHeader, MaxRetryError, ReadTimeoutError
from urllib3.util.retry import Retry

from productiv_upload import __version__
from productiv_upload.common.platform.sockets import KEEPALIVE_SOCKET_OPTIONS
from productiv_upload.service.faults import diagnose, retrying_cannot_help
from productiv_upload.service.retry import MAX_RETRY_AFTER_S
from productiv_upload.service.trust import resolve_trust

USER_AGENT = f"productiv-upload/{__version__}"
DEFAULT_CONNECT_TIMEOUT_S = 10.0
DEFAULT_READ_TIMEOUT_S = 60.0
# A kept-alive connection idle longer than this is closed rather than reused. S3 closes
# connections idle for about 20 s (as S3 clients report, aiobotocore's pull request 21 among
# them): one reused just then meets the server's close in flight and fails, and NATs and
# firewalls forget idle flows without a word, which costs a whole --timeout to find out. A new
# connection costs one handshake; 15 s keeps the reuse that matters (files sent back to back)
# with a margin under S3's limit.
MAX_IDLE_S = 15.0
# Statuses worth asking again: throttling and the server's own trouble.
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


class _Session(requests.Session):
    """A session that applies its timeouts to every call that does not give its own."""

    def __init__(self, timeout: tuple[float, float]) -> None:
        super().__init__()
        self.timeout = timeout

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        return super().request(*args, **kwargs)

    def merge_environment_settings(self, *args: Any, **kwargs: Any) -> Any:
        settings: Any = super().merge_environment_settings(*args, **kwargs)
        # REQUESTS_CA_BUNDLE and CURL_CA_BUNDLE were read once, into the adapter's context
        # (service/trust.py); proxies and NO_PROXY still come from the environment here.
        settings["verify"] = True
        return settings


class _FreshHTTPPool(HTTPConnectionPool):
    """A pool that does not reuse a connection idle for longer than MAX_IDLE_S."""

    def _get_conn(self, timeout: float | None = None) -> Any:
        connection = super()._get_conn(timeout)
        idle_since = getattr(connection, "idle_since", None)
        if idle_since is not None and time.monotonic() - idle_since > MAX_IDLE_S:
            connection.close()  # the request that takes it connects anew
        return connection

    def _put_conn(self, conn: Any) -> None:
        if conn is not None:
            conn.idle_since = time.monotonic()
        super()._put_conn(conn)


class _FreshHTTPSPool(_FreshHTTPPool, HTTPSConnectionPool):
    pass


_FRESH_POOLS = {"http": _FreshHTTPPool, "https": _FreshHTTPSPool}


class _TrustAdapter(HTTPAdapter):
    """An adapter whose every https:// connection, direct or through a proxy's tunnel, is
    checked against one SSL context, and never also against certifi's bundle; whose
    connections the kernel probes while idle; and whose pools do not reuse a connection idle
    for long (a NAT may have forgotten it silently: each would cost a whole --timeout)."""

    def __init__(self, ssl_context: ssl.SSLContext | None, **kwargs: Any) -> None:
        self._ssl_context = ssl_context
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs.update(self._connection_options())
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _FRESH_POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        fresh = proxy not in self.proxy_manager
        proxy_kwargs.update(self._connection_options())
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if fresh:
            manager.pool_classes_by_scheme = _FRESH_POOLS
        return manager

    def _connection_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            "socket_options": [*HTTPConnection.default_socket_options, *KEEPALIVE_SOCKET_OPTIONS]
        }
        if self._ssl_context is not None:
            options["ssl_context"] = self._ssl_context
        return options

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        super().cert_verify(conn, url, verify, cert)  # type: ignore[no-untyped-call]
        if self._ssl_context is not None and url.lower().startswith("https"):
            # requests would load certifi's bundle into our context on top of what it trusts.
            conn.ca_certs = conn.ca_cert_dir = None


RetryCallback = Callable[[int, str], None]  # (the attempt that failed, why)


class JitteredRetry(Retry):
    """urllib3's Retry with full jitter, and a ceiling on what Retry-After may ask for; tells
    `on_retry` why each attempt it retries failed (urllib3 keeps only the last reason)."""

    on_retry: RetryCallback | None = None
    # Called when a request met silence (a read timeout): where one kept-alive connection was
    # forgotten by the network, its idle siblings (storage's) likely were too.
    on_silence: Callable[[], None] | None = None

    def new(self, **kw: Any) -> Self:
        retry = super().new(**kw)
        retry.on_retry, retry.on_silence = self.on_retry, self.on_silence
        return retry

    def get_backoff_time(self) -> float:
        # A uniform draw below the exponential ceiling keeps parallel clients out of lockstep.
        return random.uniform(0, super().get_backoff_time())  # noqa: S311 (jitter, not secrecy)

    def parse_retry_after(self, retry_after: str) -> float:
        try:
            seconds = super().parse_retry_after(retry_after)
        except InvalidHeader:
            return 0.0  # unreadable: fall back to the backoff rather than fail the request
        return min(seconds, MAX_RETRY_AFTER_S)

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: Any = None,
        error: Exception | None = None,
        _pool: Any = None,
        _stacktrace: TracebackType | None = None,
    ) -> Self:
        # A certificate that fails, a proxy that refuses, a name that does not exist: asking
        # again meets the same answer, after seconds of backoff.
        if error is not None and retrying_cannot_help(error):
            raise MaxRetryError(_pool, url or "", error) from error
        if self.on_silence is not None and isinstance(error, ReadTimeoutError):
            self.on_silence()
        retry = super().increment(method, url, response, error, _pool, _stacktrace)
        if self.on_retry is not None:  # reached only when there is a next attempt
            if error is not None:
                reason = diagnose(error, url or "").reason
            else:
                reason = f"answered {getattr(response, 'status', 'nothing')}"
            self.on_retry(len(self.history) + 1, reason)
        return retry


def api_retry(
    retries: int,
    on_retry: RetryCallback | None = None,
    on_silence: Callable[[], None] | None = None,
) -> Retry:
    """Retries for the API's GET: connection faults, throttling and 5xx, honouring Retry-After."""
    retry = JitteredRetry(
        total=retries,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"GET"}),  # never resend the token request's secret blindly
        backoff_factor=0.5,
        backoff_max=30.0,
        respect_retry_after_header=True,
        raise_on_status=False,  # the last answer is turned into a message by the caller
        redirect=False,
    )
    retry.on_retry, retry.on_silence = on_retry, on_silence
    return retry


def make_session(
    *,
    pool_size: int,
    timeout: tuple[float, float] | None = None,
    retry: Retry | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> requests.Session:
    """Build an API session whose pool holds `pool_size` keep-alive connections per host.

    Proxies come from HTTPS_PROXY / HTTP_PROXY / NO_PROXY as requests reads them; certificates
    are checked against `ssl_context`, by default the trust the environment asks for.
    """
    if ssl_context is None:
        ssl_context = resolve_trust(None, os.environ).ssl_context()
    session = _Session(timeout or (DEFAULT_CONNECT_TIMEOUT_S, DEFAULT_READ_TIMEOUT_S))
    session.headers["User-Agent"] = USER_AGENT
    adapter = _TrustAdapter(
        ssl_context,
        pool_connections=4,
        pool_maxsize=pool_size,
        max_retries=retry
        if retry is not None
        # read=False: a read timeout surfaces as itself, not as a generic connection error.
        else Retry(total=0, read=False, redirect=False, raise_on_status=False),
    )
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
