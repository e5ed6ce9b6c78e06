"""The sandbox over HTTPS and over IPv6: the URLs it serves and hands out, and handshakes that
happen in the request's thread, so a silent or hostile client holds up no one else."""

from __future__ import annotations

import socket
import ssl
import time
import urllib.parse
from pathlib import Path

import certifi
import pytest
import requests
import trustme

from productiv_upload.sandbox import SANDBOX_APP_ID, SANDBOX_TOKEN, Sandbox
from tests.conftest import needs_ipv6
from tests.tls import StartTlsSandbox

API_HEADERS = {"Authorization": f"Bearer {SANDBOX_TOKEN}", "Content-Type": "application/json"}


def signed_url(sandbox: Sandbox, verify: str | bool = True) -> str:
    response = requests.get(
        f"{sandbox.api_url}/services/push/v1/customer/apps/{SANDBOX_APP_ID}/upload",
        params={"filenames": "a.json"},
        headers=API_HEADERS,
        timeout=5,
        verify=verify,
    )
    assert response.status_code == 200
    url: str = response.json()["a.json"]
    return url


def test_over_tls_the_api_token_endpoint_and_signed_urls_are_https(
    tls_sandbox: Sandbox, tls_ca_bundle: Path
) -> None:
    port = urllib.parse.urlsplit(tls_sandbox.api_url).port
    assert tls_sandbox.api_url == f"https://127.0.0.1:{port}"
    assert tls_sandbox.token_url == f"https://127.0.0.1:{port}/oauth2/token"

    url = signed_url(tls_sandbox, verify=str(tls_ca_bundle))
    stored = requests.put(url, data=b"{}", timeout=5, verify=str(tls_ca_bundle))

    assert url.startswith(f"https://127.0.0.1:{port}/productiv-data/")
    assert stored.status_code == 200
    assert tls_sandbox.stored_path(SANDBOX_APP_ID, "a.json").read_bytes() == b"{}"


def test_a_client_that_never_starts_its_handshake_holds_up_no_one(
    tls_sandbox: Sandbox, tls_ca_bundle: Path
) -> None:
    port = urllib.parse.urlsplit(tls_sandbox.api_url).port
    with socket.create_connection(("127.0.0.1", port)):  # connected, silent
        started = time.monotonic()
        signed_url(tls_sandbox, verify=str(tls_ca_bundle))
        assert time.monotonic() - started < 2


def test_clients_that_hang_up_or_distrust_the_certificate_are_not_reported(
    tls_sandbox: Sandbox, tls_ca_bundle: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    port = urllib.parse.urlsplit(tls_sandbox.api_url).port
    with socket.create_connection(("127.0.0.1", port)) as plain:
        plain.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")  # plain http to a TLS port
        plain.recv(100)
    with socket.create_connection(("127.0.0.1", port)):
        pass  # hung up before a byte
    with pytest.raises(requests.exceptions.SSLError):
        # certifi's bundle, which has not heard of the test CA
        requests.get(tls_sandbox.api_url, timeout=5, verify=certifi.where())

    signed_url(tls_sandbox, verify=str(tls_ca_bundle))  # still serving
    captured = capfd.readouterr()
    assert (captured.out, captured.err) == ("", "")


@pytest.mark.parametrize(
    ("cert_fixture", "reason"),
    [
        ("expired_cert", "certificate has expired"),
        ("not_yet_valid_cert", "certificate is not yet valid"),
        ("wrong_host_cert", "Hostname mismatch"),
        ("unknown_ca_cert", "unable to get local issuer certificate"),
    ],
)
def test_each_bad_certificate_fails_verification_for_its_own_reason(
    start_tls_sandbox: StartTlsSandbox, tls_ca_bundle: Path, cert_fixture: str, reason: str,
    request: pytest.FixtureRequest,
) -> None:  # fmt: skip
    cert: trustme.LeafCert = request.getfixturevalue(cert_fixture)
    sandbox = start_tls_sandbox(cert)
    by_name = sandbox.api_url.replace("127.0.0.1", "localhost")  # by IP: "IP address mismatch"

    with pytest.raises(requests.exceptions.SSLError, match=reason):
        requests.get(by_name, timeout=5, verify=str(tls_ca_bundle))


@needs_ipv6
def test_an_ipv6_sandbox_listens_on_ipv6_and_brackets_its_urls(tmp_path: Path) -> None:
    with Sandbox(tmp_path / "bucket", host="::1") as sandbox:
        port = urllib.parse.urlsplit(sandbox.api_url).port
        url = signed_url(sandbox)

        assert sandbox.api_url == f"http://[::1]:{port}"
        assert url.startswith(f"http://[::1]:{port}/productiv-data/")
        assert requests.put(url, data=b"{}", timeout=5).status_code == 200


@needs_ipv6
def test_an_ipv6_sandbox_speaks_tls_with_a_certificate_for_its_address(
    start_tls_sandbox: StartTlsSandbox, tls_cert: trustme.LeafCert, tls_ca_bundle: Path
) -> None:
    sandbox = start_tls_sandbox(tls_cert, host="::1")

    assert sandbox.api_url.startswith("https://[::1]:")
    assert signed_url(sandbox, verify=str(tls_ca_bundle)).startswith(sandbox.api_url)


def test_the_handshake_is_tls_1_2_or_newer(tls_sandbox: Sandbox, tls_ca: trustme.CA) -> None:
    port = urllib.parse.urlsplit(tls_sandbox.api_url).port
    context = ssl.create_default_context()
    tls_ca.configure_trust(context)
    with (
        socket.create_connection(("127.0.0.1", port)) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
