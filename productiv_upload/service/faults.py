"""What went wrong on the network, in words a user can act on (README: "Troubleshooting").

requests, urllib3, http.client and ssl each wrap the others' exceptions; `diagnose` digs out the
one that says what happened (a certificate, a proxy's answer, a name that does not resolve, a
refusal, a reset, a timeout), decides whether trying again can help, and whether the fault is
the host's rather than the request's, so that the files bound for that host stop at once.
"""

from __future__ import annotations

import errno
import http.client
import re
import socket
import ssl
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import requests
import urllib3
from urllib3.util.ssl_match_hostname import CertificateError

from productiv_upload.service.urls import display_host

# http.client's words when a proxy does not open a CONNECT tunnel.
_TUNNEL_REFUSED = re.compile(r"Tunnel connection failed: (\d{3})\s*([^'\"\)]*)")
_UNRESOLVED = {socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)}
_UNREACHABLE = {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EHOSTDOWN}
CA_ADVICE = (
    "if a company proxy or CA signs it, trust that CA: install it in the system's store, "
    "or pass --ca-bundle FILE"
)


@dataclass(frozen=True)
class Proxy:
    """The proxy a request went through, as a message may show it: no password."""

    url: str
    variable: str  # where it came from: HTTPS_PROXY, https_proxy, ...

    @property
    def shown(self) -> str:
        # "host:port" alone means http://, as requests reads it.
        return display_host(self.url if "://" in self.url else f"http://{self.url}")


@dataclass(frozen=True)
class Fault:
    reason: str  # what happened, after "could not reach the API at HOST: " or the like
    retryable: bool  # a new try may succeed
    host_down: bool = False  # every request to this host would meet it (fail the rest fast)
    permanent_tls: bool = False  # a certificate that failed: nothing was sent


def proxy_for(url: str, environ: Mapping[str, str]) -> Proxy | None:
    """The proxy requests would use for `url` (NO_PROXY rules included), and its variable."""
    proxies = requests.utils.get_environ_proxies(url)
    scheme = urllib.parse.urlsplit(url).scheme
    chosen = proxies.get(scheme) or proxies.get("all")
    if not chosen:
        return None
    for name in (f"{scheme}_proxy", f"{scheme.upper()}_PROXY", "all_proxy", "ALL_PROXY"):
        if environ.get(name) == chosen:
            return Proxy(chosen, name)
    return Proxy(chosen, f"{scheme.upper()}_PROXY")


def diagnose(
    error: BaseException, url: str, proxy: Proxy | None = None, ca_advice: str = CA_ADVICE
) -> Fault:
    """The fault behind `error`, met on a request to `url` (never shown: it may be signed);
    `ca_advice` is the way out of a failed certificate for the trust in use."""
    chain = list(_causes(error))
    unusable = _unusable_proxy(chain, proxy)
    if unusable is not None:
        return unusable
    for cause in chain:
        if isinstance(cause, ssl.SSLCertVerificationError):
            detail = cause.verify_message or cause.reason or str(cause)
            return Fault(
                f"its certificate failed verification (certificate verify failed: {detail}); "
                f"{ca_advice}",
                retryable=False,
                host_down=True,
                permanent_tls=True,
            )
        if isinstance(cause, CertificateError):
            return Fault(
                f"its certificate failed verification ({cause}); {ca_advice}",
                retryable=False,
                host_down=True,
                permanent_tls=True,
            )
    for cause in chain:
        refused = _TUNNEL_REFUSED.search(str(cause)) if isinstance(cause, OSError) else None
        if refused and proxy is not None:
            answer = f"{refused.group(1)} {refused.group(2).strip()}".strip()
            return _tunnel_refused(int(refused.group(1)), answer, _hostname(url), proxy)
    if proxy is not None and any(_is_proxy_error(cause) for cause in chain):
        inner = _network_fault(
            chain, _hostname(proxy.url if "://" in proxy.url else f"//{proxy.url}")
        )
        return Fault(
            f"cannot reach the proxy {proxy.shown} (from {proxy.variable}): {inner.reason}",
            retryable=inner.retryable,
            host_down=True,
        )
    return _network_fault(chain, _hostname(url))


def _unusable_proxy(chain: list[BaseException], proxy: Proxy | None) -> Fault | None:
    """A proxy variable requests cannot use at all (user info without a scheme, SOCKS)."""
    unusable = (requests.exceptions.InvalidProxyURL, requests.exceptions.InvalidSchema)
    for cause in chain:
        if isinstance(cause, unusable):
            variable = proxy.variable if proxy is not None else "the proxy variable"
            if "socks" in str(cause).lower():
                way = "SOCKS proxies are not supported: use an HTTP proxy"
            else:
                way = "write it as http://user:pass@host:port"
            return Fault(f"the proxy URL in {variable} cannot be used; {way}", retryable=False)
    return None


def _tunnel_refused(status: int, answer: str, host: str, proxy: Proxy) -> Fault:
    where = f"the proxy {proxy.shown} (from {proxy.variable})"
    if status in (401, 407):  # some proxies (tinyproxy) answer 401 to wrong credentials
        advice = f"put the right user and password in {proxy.variable} (http://user:pass@host:port)"
    elif status == 403:
        advice = f"ask its administrator to allow {host}, or add {host} to NO_PROXY"
    elif status >= 500:
        advice = "the proxy could not reach it; try again later"
    else:
        advice = "ask the proxy's administrator what it wants"
    return Fault(
        f"{where} refused the tunnel: {answer}; {advice}",
        retryable=status >= 500,
        host_down=True,
    )


def _network_fault(chain: list[BaseException], hostname: str) -> Fault:
    for cause in chain:
        if isinstance(cause, socket.gaierror):
            if cause.errno in _UNRESOLVED:
                return Fault(f"could not resolve host {hostname}", retryable=False, host_down=True)
            return Fault(
                f"could not resolve host {hostname} ({_strerror(cause)})",
                retryable=True,
                host_down=True,
            )
    for cause in chain:
        if isinstance(cause, ssl.SSLEOFError | ssl.SSLZeroReturnError):
            return Fault("connection closed by the server (TLS)", retryable=True)
        if isinstance(cause, ssl.SSLError):
            detail = cause.reason or _strerror(cause)
            return Fault(f"the TLS handshake failed ({detail})", retryable=False, host_down=True)
    for cause in chain:
        if isinstance(cause, ConnectionRefusedError):
            return Fault("connection refused", retryable=True, host_down=True)
        if isinstance(cause, OSError) and cause.errno in _UNREACHABLE:
            return Fault(_strerror(cause), retryable=True, host_down=True)
        if isinstance(cause, urllib3.exceptions.ConnectTimeoutError) and not isinstance(
            cause, urllib3.exceptions.NewConnectionError
        ):
            return Fault("timed out connecting", retryable=True, host_down=True)
    for cause in chain:
        if isinstance(cause, requests.ConnectTimeout):
            return Fault("timed out connecting", retryable=True, host_down=True)
        if isinstance(cause, TimeoutError | requests.Timeout | urllib3.exceptions.TimeoutError):
            return Fault(f"timed out ({_timeout_words(cause)})", retryable=True)
    for cause in chain:
        if isinstance(cause, ConnectionResetError | BrokenPipeError):
            return Fault("connection reset by the server", retryable=True)
        if isinstance(cause, http.client.RemoteDisconnected | http.client.IncompleteRead):
            return Fault("connection closed by the server", retryable=True)
    for cause in chain:
        if isinstance(cause, OSError) and cause.strerror:
            return Fault(_strerror(cause), retryable=True)
    return Fault(f"connection failed ({type(chain[-1]).__name__})", retryable=True)


def _causes(error: BaseException) -> Iterator[BaseException]:
    """The error and everything it wraps, outermost first, each once."""
    seen: set[int] = set()
    pending = [error]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        wrapped = [current.__cause__, current.__context__]
        wrapped += [getattr(current, name, None) for name in ("reason", "original_error")]
        wrapped += list(current.args)
        pending.extend(w for w in wrapped if isinstance(w, BaseException))


def _hostname(url: str) -> str:
    try:
        return urllib.parse.urlsplit(url).hostname or "the host"
    except ValueError:
        return "the host"


def _is_proxy_error(error: BaseException) -> bool:
    return isinstance(error, urllib3.exceptions.ProxyError | requests.exceptions.ProxyError)


def _strerror(error: OSError) -> str:
    text = error.strerror or str(error)
    return text[0].lower() + text[1:] if text else type(error).__name__


def _timeout_words(error: BaseException) -> str:
    # The storage client's stall detector says what did not move; urllib3's words carry a
    # pool's repr, which names the host again.
    text = str(error)
    return text if "nothing moved" in text else "nothing moved for --timeout seconds"


def retrying_cannot_help(error: BaseException) -> bool:
    """For the API's retry policy: a certificate, a proxy's refusal, a name that is unknown."""
    return not diagnose(error, "", _SOME_PROXY).retryable


_SOME_PROXY = Proxy("proxy", "a proxy variable")  # only to recognise a tunnel's refusal
