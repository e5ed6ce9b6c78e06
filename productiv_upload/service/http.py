"""Every HTTP session the tool uses is built here, so each one has a User-Agent and timeouts."""

from __future__ import annotations

import os
import random
import re
import urllib.parse
from typing import Any

import certifi
import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.exceptions import InvalidHeader
from urllib3.util.retry import Retry

from productiv_upload import __version__
from productiv_upload.service.retry import MAX_RETRY_AFTER_S

USER_AGENT = f"productiv-upload/{__version__}"
DEFAULT_CONNECT_TIMEOUT_S = 10.0
DEFAULT_READ_TIMEOUT_S = 60.0
# Statuses worth asking again: throttling and the server's own trouble.
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
STORAGE_BLOCK_SIZE = 256 * 1024


class _Session(requests.Session):
    """A session that applies its timeouts to every call that does not give its own."""

    def __init__(self, timeout: tuple[float, float]) -> None:
        super().__init__()
        self.timeout = timeout

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        return super().request(*args, **kwargs)


class JitteredRetry(Retry):
    """urllib3's Retry with full jitter, and a ceiling on what Retry-After may ask for."""

    def get_backoff_time(self) -> float:
        # A uniform draw below the exponential ceiling keeps parallel clients out of lockstep.
        return random.uniform(0, super().get_backoff_time())  # noqa: S311 (jitter, not secrecy)

    def parse_retry_after(self, retry_after: str) -> float:
        try:
            seconds = super().parse_retry_after(retry_after)
        except InvalidHeader:
            return 0.0  # unreadable: fall back to the backoff rather than fail the request
        return min(seconds, MAX_RETRY_AFTER_S)


def api_retry(retries: int) -> Retry:
    """Retries for the API's GET: connection faults, throttling and 5xx, honouring Retry-After."""
    return JitteredRetry(
        total=retries,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"GET"}),  # never resend the token request's secret blindly
        backoff_factor=0.5,
        backoff_max=30.0,
        respect_retry_after_header=True,
        raise_on_status=False,  # the last answer is turned into a message by the caller
        redirect=False,
    )


def make_session(
    *,
    pool_size: int,
    timeout: tuple[float, float] | None = None,
    retry: Retry | None = None,
) -> requests.Session:
    """Build an API session whose pool holds `pool_size` keep-alive connections per host.

    Proxies come from HTTPS_PROXY / HTTP_PROXY / NO_PROXY as requests reads them.
    """
    session = _Session(timeout or (DEFAULT_CONNECT_TIMEOUT_S, DEFAULT_READ_TIMEOUT_S))
    session.headers["User-Agent"] = USER_AGENT
    adapter = HTTPAdapter(
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


class StorageClient:
    """PUTs to signed URLs, on urllib3 directly.

    requests costs about a third of a small PUT's CPU (environment scans, hooks, cookie jars)
    and offers nothing a signed-URL PUT needs. This client sends no credentials of ours: no
    Authorization header, no ~/.netrc. Proxies follow HTTPS_PROXY / HTTP_PROXY / NO_PROXY with
    requests' own rules, resolved once per host; certificates are checked against
    REQUESTS_CA_BUNDLE or certifi's bundle, as requests does.
    """

    def __init__(self, *, pool_size: int, timeout: tuple[float, float] | None = None) -> None:
        connect, read = timeout or (DEFAULT_CONNECT_TIMEOUT_S, DEFAULT_READ_TIMEOUT_S)
        self._timeout = urllib3.Timeout(connect=connect, read=read)
        ca_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        self._pool_options: dict[str, Any] = {
            "maxsize": pool_size,
            "blocksize": STORAGE_BLOCK_SIZE,  # 256 KiB sends: fewer, cheaper calls than 16 KiB
            "headers": {"User-Agent": USER_AGENT},
        }
        if ca_bundle and os.path.isdir(ca_bundle):
            self._pool_options["ca_cert_dir"] = ca_bundle  # a hashed folder, as requests allows
        else:
            self._pool_options["ca_certs"] = ca_bundle or certifi.where()
        self._direct = urllib3.PoolManager(**self._pool_options)
        self._via_proxy: dict[str, urllib3.ProxyManager] = {}
        self._route: dict[tuple[str, str], urllib3.PoolManager] = {}

    def put(self, url: str, body: Any, length: int) -> urllib3.BaseHTTPResponse:
        """Send one PUT; the caller reads (a capped part of) the answer and releases it."""
        options: dict[str, Any] = {
            "body": body,
            "headers": {"User-Agent": USER_AGENT, "Content-Length": str(length)},
            "retries": False,  # the caller's retry loop also rewinds the body and renews the URL
            "redirect": False,
            "preload_content": False,
            "timeout": self._timeout,
        }
        manager = self._manager_for(url)
        if manager is not self._direct:
            return manager.urlopen("PUT", url, **options)
        # Straight to the host's pool with the path: each urllib3 layer would otherwise parse
        # and re-escape the long signed query again (4 times; a tenth of a small PUT's CPU).
        parts = urllib.parse.urlsplit(url)
        pool = self._direct.connection_from_host(parts.hostname, parts.port, parts.scheme)
        target = f"{parts.path or '/'}?{parts.query}" if parts.query else parts.path or "/"
        return pool.urlopen("PUT", target, **options)

    def _manager_for(self, url: str) -> urllib3.PoolManager:
        parts = urllib.parse.urlsplit(url)
        key = (parts.scheme, parts.netloc)
        if key not in self._route:
            proxies = requests.utils.get_environ_proxies(url)
            proxy = proxies.get(parts.scheme) or proxies.get("all")
            if proxy is None:
                self._route[key] = self._direct
            else:
                # As requests does: "host:port" means http://, and user info becomes
                # Proxy-Authorization (urllib3 would otherwise drop it and get 407s).
                if "://" not in proxy:
                    proxy = f"http://{proxy}"
                if proxy not in self._via_proxy:
                    user, password = requests.utils.get_auth_from_url(proxy)
                    headers = (
                        urllib3.make_headers(proxy_basic_auth=f"{user}:{password}")
                        if user
                        else None
                    )
                    self._via_proxy[proxy] = urllib3.ProxyManager(
                        proxy, proxy_headers=headers, **self._pool_options
                    )
                self._route[key] = self._via_proxy[proxy]
        return self._route[key]


_ERRNO_TEXT = re.compile(r"\[Errno -?\d+\] ([^'\")]+)")


def describe_network_error(error: Exception) -> str:
    """A short reason for a failed connection, without the URL (and its signature) in it."""
    if isinstance(error, requests.Timeout) or "timed out" in str(error):
        return "timed out"
    match = _ERRNO_TEXT.search(str(error))
    if match:
        return match.group(1).strip().lower()
    if isinstance(error, requests.ConnectionError):
        if "RemoteDisconnected" in str(error) or "reset" in str(error).lower():
            return "connection closed by the server"
        return "connection failed"
    return type(error).__name__
