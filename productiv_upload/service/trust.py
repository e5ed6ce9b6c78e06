"""Which certificates are trusted, and where that came from (README: "Company networks").

By default the operating system's store decides, through truststore, as curl, git and pip do,
so a company CA installed with `update-ca-certificates` is trusted with no setting at all.
A CA bundle given by `--ca-bundle` (or a variable naming one) replaces it. certifi's bundle is
used only on a system with no store. Verification itself can never be turned off.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass

import certifi
import truststore

from productiv_upload.common.errors import UsageError
from productiv_upload.common.platform.certificates import (
    HASHED_NAME,
    system_store_exists,
    system_store_location,
)
from productiv_upload.common.text import printable

# The variables other tools read, in the order that the first one set wins (README: "Company
# networks"); PRODUCTIV_CA_BUNDLE and the config file come before them all.
BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
OPENSSL_VARIABLES = ("SSL_CERT_FILE", "SSL_CERT_DIR")


@dataclass(frozen=True)
class Trust:
    """The certificates every https:// connection of a run is checked against."""

    cafile: str | None = None  # a PEM bundle that replaces the system store
    capath: str | None = None  # a folder of hashed certificates (SSL_CERT_DIR, or a bundle dir)
    source: str = "default"  # where it came from: "--ca-bundle", "SSL_CERT_FILE", ...
    use_certifi: bool = False  # the system has no store at all

    @property
    def from_system(self) -> bool:
        return self.cafile is None and self.capath is None and not self.use_certifi

    def describe(self, *, with_source: bool = True) -> str:
        """One line for `config show` and `check`: what is trusted, and why."""
        if self.use_certifi:
            return f"certifi's CA bundle {certifi.where()} (this system has no certificate store)"
        if self.from_system:
            return f"the operating system's certificate store ({system_store_location()})"
        places = " and ".join(printable(p) for p in (self.cafile, self.capath) if p)
        return f"the certificates in {places}" + (f" (from {self.source})" if with_source else "")

    def advice(self) -> str:
        """The way out of a certificate that failed verification, for this trust."""
        if self.use_certifi:
            return "this system has no certificate store: pass --ca-bundle FILE with that CA"
        if self.from_system:
            return (
                "if a company proxy or CA signs it, trust that CA: install it in the system's "
                "store, or pass --ca-bundle FILE"
            )
        places = " and ".join(printable(p) for p in (self.cafile, self.capath) if p)
        if self.source.startswith("--") or self.source.startswith("ca_bundle"):
            way = f"or point {self.source} at one that holds it"
        else:
            way = f"or unset {self.source} to trust the system's store"
        return (
            f"only {places} (from {self.source}) is trusted: add the CA that signs it there, {way}"
        )

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that checks the chain and the host name, always."""
        if self.from_system:
            return truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        cafile = certifi.where() if self.use_certifi else self.cafile
        return ssl.create_default_context(cafile=cafile, capath=self.capath)


def resolve_trust(
    flag: str | None,
    environ: Mapping[str, str],
    profile_value: str | None = None,
    profile_label: str = "config file",
) -> Trust:
    """--ca-bundle, PRODUCTIV_CA_BUNDLE, the profile's ca_bundle, then the other tools'
    variables; else the system's store. A bundle that cannot be used is bad usage."""
    chosen: list[tuple[str, str]] = []
    if flag is not None:
        chosen.append((flag, "--ca-bundle"))
    elif environ.get("PRODUCTIV_CA_BUNDLE"):
        chosen.append((environ["PRODUCTIV_CA_BUNDLE"], "PRODUCTIV_CA_BUNDLE"))
    elif profile_value:
        chosen.append((profile_value, f"ca_bundle in the {profile_label}"))
    else:
        for variable in BUNDLE_VARIABLES:
            if environ.get(variable):
                chosen.append((environ[variable], variable))
                break
        else:
            chosen.extend((environ[v], v) for v in OPENSSL_VARIABLES if environ.get(v))
    if not chosen:
        return Trust(use_certifi=not system_store_exists())
    cafile = capath = None
    for path, source in chosen:
        if source == "SSL_CERT_DIR" or os.path.isdir(path):
            capath = _checked_folder(path, source)
        else:
            cafile = _checked_bundle(path, source)
    return Trust(cafile, capath, " and ".join(source for _, source in chosen))


def _checked_bundle(path: str, source: str) -> str:
    """The bundle must be readable and hold at least one certificate, or nothing would verify."""
    shown = f"the CA bundle {printable(path)} (from {source})"
    try:
        with open(path, "rb") as bundle:
            start = bundle.read(64)
    except OSError as error:
        raise UsageError(f"cannot read {shown}: {error.strerror}") from None
    # As OpenSSL reads it when connecting: comments, a byte-order mark and any encoding of the
    # text around the certificates are fine.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        context.load_verify_locations(cafile=path)
    except (ssl.SSLError, ValueError):
        count = 0
    else:
        count = context.cert_store_stats()["x509"]
    if count == 0 and start[:1] == b"\x30" and b"-----BEGIN" not in start:
        raise UsageError(
            f"{shown} is a DER (binary) certificate, not PEM text: convert it with "
            f"openssl x509 -inform DER -in {printable(path)} -out company-ca.pem"
        )
    if count == 0:
        raise UsageError(f"{shown} holds no PEM certificate")
    return path


def _checked_folder(path: str, source: str) -> str:
    shown = f"the CA folder {printable(path)} (from {source})"
    try:
        names = os.listdir(path)
    except OSError as error:
        raise UsageError(f"cannot read {shown}: {error.strerror}") from None
    if not any(HASHED_NAME.match(name) for name in names):
        raise UsageError(
            f"{shown} holds no hashed certificate names (run `openssl rehash` on it), "
            "or give a PEM file with --ca-bundle"
        )
    return path
