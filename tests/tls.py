"""Test certificates and sandboxes over HTTPS, made with trustme; loaded by conftest as a plugin.

Session-scoped, made once per run:
- `tls_ca`: the test CA; `tls_ca_bundle`: a PEM file holding it alone, for REQUESTS_CA_BUNDLE.
- `tls_cert`: a server certificate from `tls_ca` for localhost, 127.0.0.1 and ::1;
  `tls_server_context`: a server-side context presenting it.
- `expired_cert`, `not_yet_valid_cert`, `wrong_host_cert`: from `tls_ca`, each wrong in one way;
  `unknown_ca_cert`: right in every way but issued by a CA nobody trusts.
- `inspecting_ca`: a second CA, the one a TLS-inspecting proxy signs its certificates with
  (tests/proxies.py); `both_cas_bundle`: a PEM file holding `tls_ca` and `inspecting_ca`.

Per test:
- `tls_sandbox`: a running Sandbox over HTTPS with `tls_cert`, the test CA trusted through
  REQUESTS_CA_BUNDLE (which the tool honours for the API, the token endpoint and storage).
- `start_tls_sandbox(cert, host=...)`: starts a Sandbox over HTTPS with any certificate, bad
  ones included; each is stopped when the test ends. It trusts nothing by itself.
- `over_http_and_https`: a mark that runs a test taking the `sandbox` fixture twice, against
  the sandbox over plain http and over https with the test CA trusted.
"""

from __future__ import annotations

import datetime
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import trustme

from productiv_upload.sandbox import Sandbox

SERVER_NAMES = ("localhost", "127.0.0.1", "::1")
WRONG_HOST = "wrong-host.example"

over_http_and_https = pytest.mark.parametrize("sandbox", ["http", "https"], indirect=True)


def server_context(cert: trustme.LeafCert) -> ssl.SSLContext:
    """A server-side TLS context presenting `cert` (and its chain)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert.configure_cert(context)
    return context


def trust(monkeypatch: pytest.MonkeyPatch, bundle: Path) -> None:
    """Have the tool trust exactly the CAs in `bundle` (as it does today: REQUESTS_CA_BUNDLE)."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))


def _days_from_now(days: int) -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=days)


@pytest.fixture(scope="session")
def tls_ca() -> trustme.CA:
    return trustme.CA(organization_name="productiv-upload tests")


@pytest.fixture(scope="session")
def tls_ca_bundle(tls_ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tls") / "test-ca.pem"
    tls_ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture(scope="session")
def tls_cert(tls_ca: trustme.CA) -> trustme.LeafCert:
    return tls_ca.issue_cert(*SERVER_NAMES)


@pytest.fixture(scope="session")
def tls_server_context(tls_cert: trustme.LeafCert) -> ssl.SSLContext:
    return server_context(tls_cert)


@pytest.fixture(scope="session")
def expired_cert(tls_ca: trustme.CA) -> trustme.LeafCert:
    return tls_ca.issue_cert(
        *SERVER_NAMES, not_before=_days_from_now(-30), not_after=_days_from_now(-1)
    )


@pytest.fixture(scope="session")
def not_yet_valid_cert(tls_ca: trustme.CA) -> trustme.LeafCert:
    return tls_ca.issue_cert(
        *SERVER_NAMES, not_before=_days_from_now(1), not_after=_days_from_now(30)
    )


@pytest.fixture(scope="session")
def wrong_host_cert(tls_ca: trustme.CA) -> trustme.LeafCert:
    return tls_ca.issue_cert(WRONG_HOST)


@pytest.fixture(scope="session")
def unknown_ca_cert() -> trustme.LeafCert:
    return trustme.CA(organization_name="a CA nobody trusts").issue_cert(*SERVER_NAMES)


@pytest.fixture(scope="session")
def inspecting_ca() -> trustme.CA:
    return trustme.CA(organization_name="a company's TLS-inspecting proxy")


@pytest.fixture(scope="session")
def both_cas_bundle(
    tls_ca: trustme.CA, inspecting_ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    path = tmp_path_factory.mktemp("tls") / "test-and-proxy-cas.pem"
    path.write_bytes(tls_ca.cert_pem.bytes() + inspecting_ca.cert_pem.bytes())
    return path


StartTlsSandbox = Callable[..., Sandbox]


@pytest.fixture
def start_tls_sandbox(tmp_path: Path) -> Iterator[StartTlsSandbox]:
    started: list[Sandbox] = []

    def start(cert: trustme.LeafCert, *, host: str = "127.0.0.1") -> Sandbox:
        folder = tmp_path / f"bucket-tls-{len(started)}"
        sandbox = Sandbox(folder, host=host, tls=server_context(cert)).start()
        started.append(sandbox)
        return sandbox

    yield start
    for sandbox in started:
        sandbox.stop()


@pytest.fixture
def tls_sandbox(
    start_tls_sandbox: StartTlsSandbox,
    tls_cert: trustme.LeafCert,
    tls_ca_bundle: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Sandbox:
    trust(monkeypatch, tls_ca_bundle)
    return start_tls_sandbox(tls_cert)
