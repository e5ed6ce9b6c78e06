"""Every HTTP session the tool uses is built here, so each one has a User-Agent and timeouts."""

from __future__ import annotations

import random
import re
from typing import Any

import requests
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
