"""Every HTTP session the tool uses is built here, so each one has a User-Agent and timeouts."""

from __future__ import annotations

import os
import random
import re
import urllib.parse
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import InvalidHeader
from urllib3.util.retry import Retry

from productiv_upload import __version__
from productiv_upload.retry import MAX_RETRY_AFTER_S

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


class _StorageSession(_Session):
    """The session for PUTs to signed URLs, with the environment read once per host.

    requests re-reads the proxy variables (and ~/.netrc) on every call, about a third of the
    CPU of a small PUT. Here HTTPS_PROXY / HTTP_PROXY / NO_PROXY and the CA bundle variables are
    resolved once per scheme and host, with requests' own rules, and reused.
    """

    def __init__(self, timeout: tuple[float, float]) -> None:
        super().__init__(timeout)
        self.trust_env = False  # never ~/.netrc, and no per-call environment scan
        self.verify = (
            os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        )
        self._proxies: dict[tuple[str, str], dict[str, str]] = {}

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        url = str(args[1] if len(args) > 1 else kwargs["url"])
        parts = urllib.parse.urlsplit(url)
        key = (parts.scheme, parts.netloc)
        if key not in self._proxies:
            self._proxies[key] = requests.utils.get_environ_proxies(url)
        kwargs.setdefault("proxies", self._proxies[key])
        return super().request(*args, **kwargs)


class _LargeBlockAdapter(HTTPAdapter):
    """Sends request bodies in 256 KiB blocks instead of urllib3's 16 KiB: fewer, cheaper calls."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, blocksize=STORAGE_BLOCK_SIZE, **kwargs)


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


def _strip_authorization(request: requests.PreparedRequest) -> requests.PreparedRequest:
    # Signed URLs carry their own authority; a second mechanism leaks our token and S3 refuses
    # it. Being the session's `auth` also stops requests from adding ~/.netrc credentials.
    request.headers.pop("Authorization", None)
    return request


def make_session(
    *,
    pool_size: int,
    timeout: tuple[float, float] | None = None,
    retry: Retry | None = None,
    for_storage: bool = False,
) -> requests.Session:
    """Build a session whose connection pool holds `pool_size` keep-alive connections per host.

    Proxies come from HTTPS_PROXY / HTTP_PROXY / NO_PROXY as requests reads them. A storage
    session never sends an Authorization header, whatever the environment holds.
    """
    timeouts = timeout or (DEFAULT_CONNECT_TIMEOUT_S, DEFAULT_READ_TIMEOUT_S)
    session = _StorageSession(timeouts) if for_storage else _Session(timeouts)
    session.headers["User-Agent"] = USER_AGENT
    adapter = (_LargeBlockAdapter if for_storage else HTTPAdapter)(
        pool_connections=4,
        pool_maxsize=pool_size,
        max_retries=retry
        if retry is not None
        # read=False: a read timeout surfaces as itself, not as a generic connection error.
        else Retry(total=0, read=False, redirect=False, raise_on_status=False),
    )
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    if for_storage:
        session.auth = _strip_authorization
    return session


_ERRNO_TEXT = re.compile(r"\[Errno -?\d+\] ([^'\")]+)")


def describe_network_error(error: requests.RequestException) -> str:
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
