"""IPv6 works wherever IPv4 does: an API at http://[::1]:PORT, signed URLs with IPv6 literals
(http:// still only to loopback), the sandbox listening on ::1, and messages that bracket the
address as a URL does."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from productiv_upload.sandbox import SANDBOX_APP_ID, SANDBOX_TOKEN, Sandbox
from productiv_upload.service.urls import check_service_url, display_url, is_loopback_host
from tests.conftest import invoke, make_files, needs_ipv6, run_process, use_client_credentials
from tests.tls import StartTlsSandbox, trust


@pytest.fixture
def ipv6_sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    with Sandbox(tmp_path / "bucket", host="::1") as server:
        monkeypatch.setenv("PRODUCTIV_API_URL", server.api_url)
        monkeypatch.setenv("PRODUCTIV_APP_ID", SANDBOX_APP_ID)
        monkeypatch.setenv("PRODUCTIV_ACCESS_TOKEN", SANDBOX_TOKEN)
        yield server


@needs_ipv6
def test_a_push_to_an_api_on_ipv6_loopback_sends_every_file_there(
    ipv6_sandbox: Sandbox, tmp_path: Path
) -> None:
    files = make_files(tmp_path / "exports", 5)

    run = invoke("push", "--batch-size", "2", "--json", *map(str, files))

    assert run.exit_code == 0, run.stdout + run.stderr
    assert json.loads(run.stdout)["counts"]["uploaded"] == 5
    assert ipv6_sandbox.api_url.startswith("http://[::1]:")
    assert len(ipv6_sandbox.requests_of("api")) == 3
    for path in files:
        stored = ipv6_sandbox.stored_path(SANDBOX_APP_ID, path.name)
        assert stored.read_bytes() == path.read_bytes()


@needs_ipv6
def test_client_credentials_and_the_journal_work_over_ipv6_and_tls(
    start_tls_sandbox: StartTlsSandbox, tls_cert: trustme.LeafCert, tls_ca_bundle: Path,
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    sandbox = start_tls_sandbox(tls_cert, host="::1")  # the certificate names ::1
    trust(monkeypatch, tls_ca_bundle)
    use_client_credentials(sandbox, monkeypatch)
    files = make_files(tmp_path / "exports", 3)

    first = invoke("push", *map(str, files))
    rerun = invoke("push", "--json", *map(str, files))

    assert sandbox.token_url.startswith("https://[::1]:")
    assert first.exit_code == 0, first.stdout + first.stderr
    assert json.loads(rerun.stdout)["counts"] == {"uploaded": 0, "skipped": 3, "failed": 0}
    assert all(sandbox.put_count(SANDBOX_APP_ID, f.name) == 1 for f in files)


@needs_ipv6
def test_check_names_ipv6_storage_in_brackets(ipv6_sandbox: Sandbox) -> None:
    port = urllib.parse.urlsplit(ipv6_sandbox.api_url).port

    run = invoke("check")

    assert run.exit_code == 0, run.stdout + run.stderr
    assert f"at http://[::1]:{port} " in run.stdout
    assert f"(storage at [::1]:{port})" in run.stdout


@needs_ipv6
def test_a_plain_http_signed_url_to_a_remote_ipv6_address_is_refused_unsent(
    ipv6_sandbox: Sandbox, tmp_path: Path
) -> None:
    [path] = make_files(tmp_path / "exports", 1)
    good = ipv6_sandbox.signed_url(SANDBOX_APP_ID, path.name)
    ipv6_sandbox.faults.signed_url_override = good.replace("[::1]", "[2001:db8::5]")

    run = invoke("push", "--json", str(path))

    assert run.exit_code == 1
    [entry] = json.loads(run.stdout)["files"]
    port = urllib.parse.urlsplit(good).port
    assert entry["error"] == (
        f"the API returned a signed URL over plain http:// to [2001:db8::5]:{port}, "
        "which is not a loopback address; only https:// is used for remote storage"
    )
    assert ipv6_sandbox.requests_of("put") == []


@pytest.mark.parametrize(
    "host", ["::1", "[::1]", "127.0.0.1", "127.8.9.10", "localhost", "::ffff:127.0.0.1"]
)
def test_loopback_hosts_in_every_spelling(host: str) -> None:
    assert is_loopback_host(host)


ALL_INTERFACES = "0.0.0.0"  # noqa: S104 (a value the tests expect refused, never bound)


@pytest.mark.parametrize(
    "host", ["2001:db8::1", "[2001:db8::1]", "::", ALL_INTERFACES, "::ffff:10.0.0.1"]
)
def test_other_addresses_are_not_loopback(host: str) -> None:
    assert not is_loopback_host(host)


def test_an_http_api_url_on_ipv6_loopback_is_accepted_and_a_remote_one_refused() -> None:
    assert check_service_url("http://[::1]:8080", "--api-url") is None
    assert check_service_url("https://[2001:db8::1]:8443", "--api-url") is None
    assert check_service_url("http://[2001:db8::1]:8080", "--api-url") == (
        "--api-url must use https:// (http:// is only allowed for loopback hosts)"
    )
    assert display_url("http://user:pw@[2001:db8::1]:8080/path?q=1") == (
        "http://[2001:db8::1]:8080/path"
    )


def test_an_ipv6_api_url_without_scheme_is_told_its_scheme() -> None:
    assert check_service_url("[::1]:8080", "--api-url") == (
        "--api-url [::1]:8080 has no scheme: write http://[::1]:8080"
    )


def test_a_remote_plain_http_ipv6_api_url_is_refused_with_the_address_bracketed() -> None:
    run = run_process("push", "--api-url", "http://[2001:db8::1]:8080", "--app-id", "x",
                      "--dry-run", __file__)  # fmt: skip

    assert run.exit_code == 2
    assert "http://[2001:db8::1]:8080" in run.stderr


# --- `productiv-upload sandbox --host` ---


@needs_ipv6
def test_the_sandbox_command_listens_on_ipv6_loopback_and_prints_bracketed_urls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRODUCTIV_ACCESS_TOKEN", SANDBOX_TOKEN)
    server = subprocess.Popen(
        [sys.executable, "-m", "productiv_upload", "sandbox", "--host", "::1",
         "--dir", str(tmp_path / "bucket")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        banner = []
        for line in server.stdout:
            banner.append(line.strip())
            if line.startswith("Stop it with"):
                break
        [api_url] = [line.split("=", 1)[1] for line in banner if "PRODUCTIV_API_URL=" in line]
        files = make_files(tmp_path / "exports", 2)
        run = run_process("push", "--api-url", api_url, "--app-id", "myAppId",
                          *map(str, files))  # fmt: skip
    finally:
        server.terminate()
        server.communicate(timeout=10)

    assert api_url.startswith("http://[::1]:")
    assert run.exit_code == 0, run.stderr
    assert (tmp_path / "bucket" / "myAppId" / files[0].name).read_bytes() == files[0].read_bytes()


@pytest.mark.parametrize("host", [ALL_INTERFACES, "::", "192.0.2.7", "example.com"])
def test_the_sandbox_command_refuses_an_address_other_machines_could_reach(host: str) -> None:
    run = run_process("sandbox", "--host", host)

    assert run.exit_code == 2
    assert run.stdout == ""
    assert run.stderr == (
        f"productiv-upload: error: --host {host} is not a loopback address; "
        "the sandbox listens only on 127.0.0.1 (or another 127.x.y.z), ::1 or localhost\n"
    )
