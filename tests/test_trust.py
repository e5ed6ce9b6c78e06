"""Which certificates are trusted (README: "Company networks"), and certificates that fail.

Over real TLS against the sandbox: the system's store by default, --ca-bundle and the variables
in their order, a bad bundle refused before anything is sent, and each kind of certificate
failure named with the TLS library's reason, at once, never retried.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import trustme

from productiv_upload.sandbox import SANDBOX_APP_ID, SANDBOX_TOKEN, Sandbox
from tests.conftest import invoke, make_files, run_process
from tests.tls import StartTlsSandbox

pytestmark = pytest.mark.usefixtures("tls_ca_bundle")


def _point_at(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRODUCTIV_API_URL", sandbox.api_url)
    monkeypatch.setenv("PRODUCTIV_APP_ID", SANDBOX_APP_ID)
    monkeypatch.setenv("PRODUCTIV_ACCESS_TOKEN", SANDBOX_TOKEN)


def test_ca_bundle_is_trusted_for_the_api_and_storage(
    start_tls_sandbox: StartTlsSandbox, tls_cert: trustme.LeafCert, tls_ca_bundle: Path,
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    sandbox = start_tls_sandbox(tls_cert)
    _point_at(sandbox, monkeypatch)
    paths = make_files(tmp_path / "exports", 3)

    run = invoke("push", "--ca-bundle", str(tls_ca_bundle), *map(str, paths))

    assert run.exit_code == 0, run.stdout + run.stderr
    assert sandbox.api_url.startswith("https://")
    assert all(sandbox.put_count(SANDBOX_APP_ID, p.name) == 1 for p in paths)


@pytest.mark.parametrize(
    "variable", ["PRODUCTIV_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"]
)
def test_each_ca_variable_is_honoured(
    variable: str, start_tls_sandbox: StartTlsSandbox, tls_cert: trustme.LeafCert,
    tls_ca_bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    sandbox = start_tls_sandbox(tls_cert)
    _point_at(sandbox, monkeypatch)
    monkeypatch.setenv(variable, str(tls_ca_bundle))
    [path] = make_files(tmp_path, 1)

    run = invoke("push", str(path))
    shown = invoke("config", "show", "--json")

    assert run.exit_code == 0, run.stdout + run.stderr
    trust = json.loads(shown.stdout)["settings"]["trust"]
    assert trust["source"] == variable
    assert str(tls_ca_bundle) in trust["value"]


def test_ssl_cert_dir_is_honoured(
    start_tls_sandbox: StartTlsSandbox, tls_cert: trustme.LeafCert, tls_ca_bundle: Path,
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    folder = tmp_path / "certs"
    folder.mkdir()
    (folder / "test-ca.pem").write_bytes(tls_ca_bundle.read_bytes())
    subprocess.run(["openssl", "rehash", str(folder)], check=True, capture_output=True)
    sandbox = start_tls_sandbox(tls_cert)
    _point_at(sandbox, monkeypatch)
    monkeypatch.setenv("SSL_CERT_DIR", str(folder))
    [path] = make_files(tmp_path, 1)

    run = invoke("push", str(path))

    assert run.exit_code == 0, run.stdout + run.stderr


def test_the_first_setting_wins_in_the_documented_order(
    tls_ca_bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tmp_path / "other.pem"
    other.write_bytes(tls_ca_bundle.read_bytes())
    monkeypatch.setenv("PRODUCTIV_APP_ID", SANDBOX_APP_ID)
    config = tmp_path / "home" / ".config" / "productiv-upload" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(f'[default]\nca_bundle = "{other}"\n')
    for variable in ("SSL_CERT_FILE", "CURL_CA_BUNDLE", "REQUESTS_CA_BUNDLE"):
        monkeypatch.setenv(variable, str(other))

    def source(*args: str) -> str:
        shown = json.loads(invoke("config", "show", "--json", *args).stdout)
        return str(shown["settings"]["trust"]["source"])

    assert source() == "ca_bundle in the config file [default]"
    monkeypatch.setenv("PRODUCTIV_CA_BUNDLE", str(other))
    assert source() == "PRODUCTIV_CA_BUNDLE"
    assert source("--ca-bundle", str(tls_ca_bundle)) == "--ca-bundle"


def test_the_system_store_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRODUCTIV_APP_ID", SANDBOX_APP_ID)
    monkeypatch.setenv("PRODUCTIV_ACCESS_TOKEN", SANDBOX_TOKEN)

    shown = invoke("config", "show")

    assert shown.exit_code == 0
    [line] = [line for line in shown.stdout.splitlines() if line.startswith("trust")]
    assert "the operating system's certificate store" in line
    assert line.endswith("(default)")


@pytest.mark.parametrize(
    ("content", "reason"),
    [(None, "No such file or directory"), (b"not a certificate\n", "holds no PEM certificate")],
)
def test_an_unusable_bundle_is_refused_before_anything_is_sent(
    content: bytes | None, reason: str, sandbox: Sandbox, sandbox_env: dict[str, str],
    tmp_path: Path,
) -> None:  # fmt: skip
    bundle = tmp_path / "company-ca.pem"
    if content is not None:
        bundle.write_bytes(content)
    [path] = make_files(tmp_path, 1)

    run = invoke("push", "--ca-bundle", str(bundle), str(path))

    assert run.exit_code == 2
    assert f"the CA bundle {bundle} (from --ca-bundle)" in run.stderr
    assert reason in run.stderr
    assert sandbox.requests == []


BAD_CERTIFICATES = [
    ("unknown_ca_cert", "certificate verify failed: unable to get local issuer certificate"),
    ("expired_cert", "certificate verify failed: certificate has expired"),
    ("not_yet_valid_cert", "certificate verify failed: certificate is not yet valid"),
    ("wrong_host_cert", "certificate verify failed: Hostname mismatch"),
]


@pytest.mark.parametrize(("certificate", "reason"), BAD_CERTIFICATES)
def test_a_certificate_that_fails_is_named_and_not_retried(
    certificate: str, reason: str, start_tls_sandbox: StartTlsSandbox, tls_ca_bundle: Path,
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest,
) -> None:  # fmt: skip
    sandbox = start_tls_sandbox(request.getfixturevalue(certificate))
    _point_at(sandbox, monkeypatch)
    # By name, as production is reached (an IP address gets "IP address mismatch").
    api_url = sandbox.api_url.replace("127.0.0.1", "localhost")
    monkeypatch.setenv("PRODUCTIV_API_URL", api_url)
    paths = make_files(tmp_path, 3)

    started = time.monotonic()
    run = invoke(
        "push", "--retries", "5", "--ca-bundle", str(tls_ca_bundle), "--json", *map(str, paths)
    )
    elapsed = time.monotonic() - started

    assert run.exit_code == 1
    report = json.loads(run.stdout)
    assert {f["status"] for f in report["files"]} == {"failed"}
    error = report["files"][0]["error"]
    assert reason in error
    assert f"could not reach the API at {api_url.split('//')[1]}" in error
    # The way out names the trust in use: here the bundle given, not the system's store.
    assert f"only {tls_ca_bundle} (from --ca-bundle) is trusted: add the CA that signs it" in error
    assert sandbox.requests == []  # no token and no byte went over the failed connection
    assert elapsed < 10  # not 5 retries with backoff; the bench measures the real figure


def test_check_names_the_trust_and_the_certificate_failure(
    start_tls_sandbox: StartTlsSandbox, unknown_ca_cert: trustme.LeafCert,
    tls_cert: trustme.LeafCert, tls_ca_bundle: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    good = start_tls_sandbox(tls_cert)
    _point_at(good, monkeypatch)
    passed = invoke("check", "--ca-bundle", str(tls_ca_bundle))
    bad = start_tls_sandbox(unknown_ca_cert)
    monkeypatch.setenv("PRODUCTIV_API_URL", bad.api_url)
    failed = invoke("check", "--ca-bundle", str(tls_ca_bundle))

    assert passed.exit_code == 0, passed.stdout + passed.stderr
    assert f"trusting the certificates in {tls_ca_bundle} (from --ca-bundle)" in passed.stdout
    assert failed.exit_code == 1
    assert "unable to get local issuer certificate" in failed.stderr
    assert bad.requests == []


def _can_bind_mount() -> str | None:
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", "mount --bind /etc/hostname /etc/hostname"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return None if probe.returncode == 0 else probe.stderr.strip() or "unshare -m failed"


def test_a_ca_installed_in_the_system_store_is_trusted_without_any_setting(
    start_tls_sandbox: StartTlsSandbox, tls_cert: trustme.LeafCert, tls_ca_bundle: Path,
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """As `update-ca-certificates` leaves it: the system bundle with the company CA added, seen
    by the tool alone through a private mount namespace."""
    refused = _can_bind_mount()
    if refused is not None:
        pytest.skip(f"this machine refuses a private mount namespace: {refused}")
    system_bundle = Path("/etc/ssl/certs/ca-certificates.crt")
    if not system_bundle.is_file():
        pytest.skip(f"{system_bundle} is not this system's CA file")
    with_company_ca = tmp_path / "ca-certificates.crt"
    with_company_ca.write_bytes(system_bundle.read_bytes() + tls_ca_bundle.read_bytes())
    sandbox = start_tls_sandbox(tls_cert)
    for variable in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR"):
        monkeypatch.delenv(variable, raising=False)
    _point_at(sandbox, monkeypatch)
    paths = make_files(tmp_path / "exports", 2)
    tool = [sys.executable, "-m", "productiv_upload"]

    def in_namespace(*args: str) -> subprocess.CompletedProcess[str]:
        script = f'mount --bind "$0" {system_bundle} && exec "$@"'
        return subprocess.run(
            ["unshare", "-m", "sh", "-c", script, str(with_company_ca), *tool, *args],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    before = run_process("push", *map(str, paths))
    pushed = in_namespace("push", *map(str, paths))
    checked = in_namespace("check")

    assert before.exit_code == 1  # outside the namespace the test CA is unknown
    assert "unable to get local issuer certificate" in before.stdout + before.stderr
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    assert all(sandbox.put_count(SANDBOX_APP_ID, p.name) == 1 for p in paths)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"trusting the operating system's certificate store ({system_bundle})" in (
        checked.stdout
    )


def test_the_advice_names_a_variable_that_replaced_the_system_store(
    start_tls_sandbox: StartTlsSandbox, unknown_ca_cert: trustme.LeafCert, tls_ca_bundle: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """A stale REQUESTS_CA_BUNDLE: installing the CA in the system's store would not help."""
    _point_at(start_tls_sandbox(unknown_ca_cert), monkeypatch)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_ca_bundle))

    run = invoke("check")

    assert run.exit_code == 1
    assert (
        f"only {tls_ca_bundle} (from REQUESTS_CA_BUNDLE) is trusted: add the CA that signs it "
        "there, or unset REQUESTS_CA_BUNDLE to trust the system's store"
    ) in run.stderr


@pytest.mark.parametrize(
    "wrapping",
    [
        pytest.param(lambda pem: b"\xef\xbb\xbf" + pem, id="byte-order mark"),
        pytest.param(lambda pem: "# Zertifikat für den Proxy\n".encode() + pem, id="comment"),
    ],
)
def test_a_bundle_saved_by_a_text_editor_is_read_as_openssl_reads_it(
    wrapping: Callable[[bytes], bytes], start_tls_sandbox: StartTlsSandbox,
    tls_cert: trustme.LeafCert, tls_ca_bundle: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    _point_at(start_tls_sandbox(tls_cert), monkeypatch)
    bundle = tmp_path / "company-ca.pem"
    bundle.write_bytes(wrapping(tls_ca_bundle.read_bytes()))

    run = invoke("check", "--ca-bundle", str(bundle))

    assert run.exit_code == 0, run.stdout + run.stderr


def test_a_der_certificate_is_refused_with_the_command_that_converts_it(
    tls_ca: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRODUCTIV_APP_ID", SANDBOX_APP_ID)
    monkeypatch.setenv("PRODUCTIV_ACCESS_TOKEN", SANDBOX_TOKEN)
    der = tmp_path / "company-ca.cer"  # as Windows exports it
    pem = tmp_path / "ca.pem"
    tls_ca.cert_pem.write_to_path(str(pem))
    subprocess.run(["openssl", "x509", "-in", str(pem), "-outform", "DER", "-out", str(der)],
                   check=True, capture_output=True)  # fmt: skip

    run = invoke("config", "show", "--ca-bundle", str(der))

    assert run.exit_code == 2
    assert "is a DER (binary) certificate, not PEM text: convert it with openssl x509 " in (
        run.stdout
    )
    assert f"-inform DER -in {der} -out company-ca.pem" in run.stdout
