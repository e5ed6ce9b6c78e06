"""Checks on the URLs the tool is given or handed, before anything connects to them."""

from __future__ import annotations

import fnmatch
import ipaddress
import time
import urllib.parse
from datetime import UTC, datetime

from productiv_upload.common.text import printable


def is_loopback_host(host: str | None) -> bool:
    """localhost, 127.0.0.0/8 or ::1; an IPv6 address may come in its URL's brackets."""
    if not host:
        return False
    host = host.removeprefix("[").removesuffix("]")
    if host.lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    # ::ffff:127.0.0.1 is 127.0.0.1 (ipaddress says so only from Python 3.13 on).
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


def check_service_url(url: str, what: str) -> str | None:
    """Return why `url` may not be used for `what`, or None when it is fine."""
    if "://" not in url:
        return _missing_scheme(url, what)
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname
    except ValueError:
        return f"{what} is not a valid URL"
    if parts.scheme not in ("http", "https") or not host:
        return f"{what} must be an https:// URL with a host"
    if parts.username or parts.password:
        return f"{what} must not carry a user name or password; use the credential settings"
    if parts.scheme == "http" and not is_loopback_host(host):
        return f"{what} must use https:// (http:// is only allowed for loopback hosts)"
    return None


def _missing_scheme(url: str, what: str) -> str:
    """`127.0.0.1:8765` for `http://127.0.0.1:8765`: say so, with the URL it probably meant."""
    # Shown without what could be a secret: user info before an '@', a query or a fragment.
    shown = printable(url.split("?", 1)[0].split("#", 1)[0].rsplit("@", 1)[-1], 200)
    try:
        host = urllib.parse.urlsplit(f"//{shown}").hostname
    except ValueError:
        host = None
    scheme = "http" if is_loopback_host(host) else "https"
    return f"{what} {shown} has no scheme: write {scheme}://{shown}"


STORAGE_HOSTS_SETTING = "storage_hosts (config file), --storage-host or PRODUCTIV_STORAGE_HOSTS"


def parse_host_patterns(text: str) -> tuple[str, ...]:
    """Comma-separated host patterns (`*.amazonaws.com`, `s3.example.com`), checked and lowered."""
    patterns = []
    for item in text.split(","):
        pattern = item.strip().lower().removeprefix("[").removesuffix("]")
        if not pattern:
            continue
        # One colon is a port, a slash a scheme or path: patterns match host names alone.
        if "/" in pattern or pattern.count(":") == 1 or any(c.isspace() for c in pattern):
            raise ValueError(
                f"{pattern!r} is not a host pattern; give a host name such as *.example.com"
            )
        patterns.append(pattern)
    if not patterns:
        raise ValueError("no host pattern given")
    return tuple(patterns)


def host_matches(host: str, patterns: tuple[str, ...]) -> bool:
    host = host.lower().rstrip(".")
    return any(fnmatch.fnmatchcase(host, pattern) for pattern in patterns)


def check_signed_url(url: str, *, storage_hosts: tuple[str, ...] | None = None) -> str | None:
    """Return why a signed upload URL must not be used, or None when it may be PUT to.

    http:// is accepted only when the URL's own host is a loopback address: whatever the API
    is, export files never cross a network in clear text. `storage_hosts` (None: any host)
    are the host patterns signed URLs may point to.
    """
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname
    except ValueError:
        return "the API returned a signed URL that is not a valid URL"
    if not host:
        return "the API returned a signed URL without a host"
    shown = display_host(url)
    if parts.scheme == "http" and not is_loopback_host(host):
        return (
            f"the API returned a signed URL over plain http:// to {shown}, which is not a "
            "loopback address; only https:// is used for remote storage"
        )
    if parts.scheme not in ("http", "https"):
        scheme = parts.scheme or "none"
        return f"the API returned a signed URL with scheme {scheme!r}; only https:// is used"
    if storage_hosts is not None and not host_matches(host, storage_hosts):
        return (
            f"the signed URL points to {shown}, which is not an allowed storage host "
            f"({', '.join(storage_hosts)}); to allow it, set {STORAGE_HOSTS_SETTING}"
        )
    return None


def signed_url_expiry(url: str) -> float | None:
    """When a signed URL stops working (epoch seconds), if the URL says so."""
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    try:
        if "Expires" in query:
            return float(query["Expires"])
        if "X-Amz-Date" in query and "X-Amz-Expires" in query:
            signed_at = datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ")
            return signed_at.replace(tzinfo=UTC).timestamp() + float(query["X-Amz-Expires"])
    except ValueError:
        return None
    return None


def signed_url_has_expired(url: str, *, now: float | None = None) -> bool:
    expiry = signed_url_expiry(url)
    return expiry is not None and expiry <= (time.time() if now is None else now)


def display_url(url: str) -> str:
    """A URL fit for messages: no user name, password, query or fragment."""
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "an invalid URL"
    if ":" in host:
        host = f"[{host}]"  # an IPv6 address, bracketed as in the URL
    return f"{parts.scheme}://{host}{port}{parts.path}" if parts.scheme else "an invalid URL"


def display_host(url: str) -> str:
    """host[:port] of a URL for messages; never its user info, path or query."""
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "an invalid URL"
    if not host:
        return "no host"
    return f"[{host}]{port}" if ":" in host else f"{host}{port}"
