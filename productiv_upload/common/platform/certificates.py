"""Where the operating system keeps the certificates it trusts.

truststore asks the platform to verify (the Keychain on macOS, the certificate store on
Windows, OpenSSL's default paths on Linux); this says where that is, for messages, and whether
a Linux system has a store at all (a slim container may not: certifi's bundle then).
"""

from __future__ import annotations

import os
import re
import ssl
import sys

HASHED_NAME = re.compile(r"^[0-9a-fA-F]{8}\.\d+$")  # OpenSSL's c_rehash names in a CA folder


def system_store_exists() -> bool:
    """Whether the system offers a store (macOS and Windows always do)."""
    return not sys.platform.startswith("linux") or system_store_location() != "none found"


def system_store_location() -> str:
    """Where OpenSSL finds the system's CAs on Linux (what truststore uses there)."""
    if not sys.platform.startswith("linux"):
        return {"darwin": "Keychain", "win32": "Windows certificate store"}.get(
            sys.platform, sys.platform
        )
    defaults = ssl.get_default_verify_paths()
    if defaults.cafile:
        # As an administrator knows it: Debian's /usr/lib/ssl/cert.pem is a link to
        # /etc/ssl/certs/ca-certificates.crt, which update-ca-certificates writes.
        return os.path.realpath(defaults.cafile)
    if (
        defaults.capath
        and os.path.isdir(defaults.capath)
        and any(HASHED_NAME.match(name) for name in os.listdir(defaults.capath))
    ):
        return defaults.capath
    for candidate in _CA_FILE_CANDIDATES:
        if os.path.isfile(candidate):
            return candidate
    return "none found"


# Where distributions keep the bundle when OpenSSL's own default is missing (truststore looks
# at the same places).
_CA_FILE_CANDIDATES = (
    "/etc/ssl/cert.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/pki/tls/cert.pem",
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/ssl/ca-bundle.pem",
)
