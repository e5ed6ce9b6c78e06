"""HTTPS_PROXY / HTTP_PROXY / NO_PROXY are honoured for the API, the token endpoint and storage:
https:// goes through CONNECT with TLS verified at the target, the proxy's credentials go to the
proxy alone and nowhere else, and a TLS-inspecting proxy works once its CA is trusted."""

from __future__ import annotations

import json
import os
import urllib.parse
from pathlib import Path

import pytest
import trustme

from productiv_upload.sandbox import SANDBOX_APP_ID, SANDBOX_TOKEN, Sandbox
from tests.conftest import Run, invoke, make_files, use_client_credentials
from tests.proxies import StartProxy, basic_credentials
from tests.tls import StartTlsSandbox, trust


def sandbox_address(sandbox: Sandbox) -> str:
    return urllib.parse.urlsplit(sandbox.api_url).netloc


def point_at(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRODUCTIV_API_URL", sandbox.api_url)
    monkeypatch.setenv("PRODUCTIV_APP_ID", SANDBOX_APP_ID)
    monkeypatch.setenv("PRODUCTIV_ACCESS_TOKEN", SANDBOX_TOKEN)


# --- plain http through the proxy ---


def test_api_and_storage_requests_go_through_http_proxy_with_its_credentials(
    sandbox: Sandbox, sandbox_env: dict[str, str], start_proxy: StartProxy, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    proxy = start_proxy()
    monkeypatch.setenv("HTTP_PROXY", proxy.url("someone:pa55"))
    [path] = make_files(tmp_path, 1)

    run = invoke("push", str(path))

    assert run.exit_code == 0, run.stdout + run.stderr
    assert [target.split(" ")[0] for target in proxy.targets] == ["GET", "PUT"]
    assert all(target.split(" ")[1].startswith(sandbox.api_url) for target in proxy.targets)
    assert proxy.proxy_authorizations == [basic_credentials("someone", "pa55")] * 2
    assert sandbox.put_count(SANDBOX_APP_ID, path.name) == 1


def test_a_proxy_given_without_scheme_means_http(
    sandbox: Sandbox, sandbox_env: dict[str, str], start_proxy: StartProxy, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    proxy = start_proxy()
    monkeypatch.setenv("HTTP_PROXY", proxy.address)
    [path] = make_files(tmp_path, 1)

    run = invoke("push", str(path))

    assert run.exit_code == 0, run.stdout + run.stderr
    assert [target.split(" ")[0] for target in proxy.targets] == ["GET", "PUT"]


def test_no_proxy_bypasses_the_proxy(
    sandbox: Sandbox, sandbox_env: dict[str, str], start_proxy: StartProxy, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    proxy = start_proxy()
    monkeypatch.setenv("HTTP_PROXY", proxy.url())
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    [path] = make_files(tmp_path, 1)

    run = invoke("push", str(path))

    assert run.exit_code == 0, run.stderr
    assert proxy.targets == []


# --- https through CONNECT ---


def test_https_goes_through_connect_tunnels_with_tls_verified_at_the_target(
    tls_sandbox: Sandbox, start_proxy: StartProxy, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    # The API and token endpoint by name, the signed URLs by address: two tunnels to tell apart.
    api_url = tls_sandbox.api_url.replace("127.0.0.1", "localhost")
    use_client_credentials(tls_sandbox, monkeypatch)
    monkeypatch.setenv("PRODUCTIV_API_URL", api_url)
    monkeypatch.setenv("PRODUCTIV_TOKEN_URL", f"{api_url}/oauth2/token")
    proxy = start_proxy()
    monkeypatch.setenv("HTTPS_PROXY", proxy.url())
    files = make_files(tmp_path, 3)

    run = invoke("push", "--batch-size", "2", *map(str, files))

    assert run.exit_code == 0, run.stdout + run.stderr
    port = urllib.parse.urlsplit(api_url).port
    # Nothing crossed the proxy outside a tunnel; TLS inside each was with the sandbox itself,
    # whose certificate the tool verified (only the test CA is trusted).
    assert set(proxy.targets) == {f"CONNECT localhost:{port}", f"CONNECT 127.0.0.1:{port}"}
    assert [r.status for r in tls_sandbox.requests_of("token")] == [200]
    assert [r.status for r in tls_sandbox.requests_of("api")] == [200, 200]
    assert all(tls_sandbox.put_count(SANDBOX_APP_ID, f.name) == 1 for f in files)


@pytest.mark.parametrize("no_proxy", ["127.0.0.1", "*", "localhost,127.0.0.1"])
def test_no_proxy_bypasses_the_proxy_for_https_too(
    tls_sandbox: Sandbox, start_proxy: StartProxy, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, no_proxy: str,
) -> None:  # fmt: skip
    use_client_credentials(tls_sandbox, monkeypatch)
    proxy = start_proxy()
    monkeypatch.setenv("HTTPS_PROXY", proxy.url())
    monkeypatch.setenv("NO_PROXY", no_proxy)
    [path] = make_files(tmp_path, 1)

    run = invoke("push", str(path))

    assert run.exit_code == 0, run.stdout + run.stderr
    assert proxy.targets == []
    assert tls_sandbox.put_count(SANDBOX_APP_ID, path.name) == 1


def test_a_tunnelled_upload_cut_mid_body_is_retried_on_a_new_tunnel(
    tls_sandbox: Sandbox, start_proxy: StartProxy, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    point_at(tls_sandbox, monkeypatch)
    proxy = start_proxy()
    monkeypatch.setenv("HTTPS_PROXY", proxy.url())
    [path] = make_files(tmp_path, 1, size=300_000)
    tls_sandbox.faults.drop_puts = 1

    run = invoke("push", "--json", str(path))

    assert run.exit_code == 0, run.stdout + run.stderr
    assert json.loads(run.stdout)["files"][0]["attempts"] == 2
    stored = tls_sandbox.stored_path(SANDBOX_APP_ID, path.name)
    assert stored.read_bytes() == path.read_bytes()


def test_a_certificate_failing_behind_the_proxy_stops_everything_at_the_handshake(
    start_tls_sandbox: StartTlsSandbox, unknown_ca_cert: trustme.LeafCert, tls_ca_bundle: Path,
    start_proxy: StartProxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    sandbox = start_tls_sandbox(unknown_ca_cert)
    trust(monkeypatch, tls_ca_bundle)
    point_at(sandbox, monkeypatch)
    proxy = start_proxy()
    monkeypatch.setenv("HTTPS_PROXY", proxy.url())
    [path] = make_files(tmp_path, 1)

    run = invoke("push", "--retries", "1", str(path))  # today, a failed check is retried

    assert run.exit_code != 0
    assert f"CONNECT {sandbox_address(sandbox)}" in proxy.targets
    assert sandbox.requests == []  # no request, so no token, crossed the failed handshake


def test_credentials_in_the_proxy_url_are_percent_decoded_and_sent_on_every_connect(
    tls_sandbox: Sandbox, start_proxy: StartProxy, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    point_at(tls_sandbox, monkeypatch)
    proxy = start_proxy(require_auth=("us@er", "p:ss"))
    monkeypatch.setenv("HTTPS_PROXY", proxy.url("us%40er:p%3Ass"))
    files = make_files(tmp_path, 2)

    run = invoke("push", *map(str, files))

    assert run.exit_code == 0, run.stdout + run.stderr
    assert proxy.targets
    assert set(proxy.proxy_authorizations) == {basic_credentials("us@er", "p:ss")}


def test_the_proxy_password_is_never_printed_logged_reported_or_stored(
    tls_sandbox: Sandbox, start_proxy: StartProxy, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    user, password = "proxy-user", "Pr0xy:s3cret@pw"
    encoded = urllib.parse.quote(password, safe="")
    use_client_credentials(tls_sandbox, monkeypatch)
    proxy = start_proxy(require_auth=(user, password))
    monkeypatch.setenv("HTTPS_PROXY", proxy.url(f"{user}:{encoded}"))
    files = make_files(tmp_path / "exports", 3)
    tls_sandbox.faults.put_errors.append(500)  # a retry, so the log has more to say
    log_file, report_file = tmp_path / "run.log", tmp_path / "report.json"

    run = invoke("push", "--json", "--debug", "--log-file", str(log_file),
                 "--report", str(report_file), *map(str, files))  # fmt: skip
    history = invoke("history", "--json")
    config = invoke("config", "show")

    assert run.exit_code == 0, run.stdout + run.stderr
    assert json.loads(run.stdout)["counts"]["uploaded"] == 3
    written = {
        "stdout": run.stdout, "stderr": run.stderr,
        "history": history.stdout + history.stderr, "config show": config.stdout + config.stderr,
        "--log-file": log_file.read_text(), "--report": report_file.read_text(),
    }  # fmt: skip
    state_dir = Path(os.environ["PRODUCTIV_UPLOAD_STATE_DIR"])
    stored = {str(p): p.read_bytes() for p in state_dir.rglob("*") if p.is_file()}
    assert stored, "the run journaled nothing"
    secrets = (password, encoded, basic_credentials(user, password).split()[1])
    for secret in secrets:
        for where, text in written.items():
            assert secret not in text, f"{secret!r} appears in {where}"
        for where, data in stored.items():
            assert secret.encode() not in data, f"{secret!r} is stored in {where}"


# --- a TLS-inspecting proxy ---


def test_a_tls_inspecting_proxy_works_once_its_ca_is_trusted(
    tls_sandbox: Sandbox, tls_ca: trustme.CA, inspecting_ca: trustme.CA, both_cas_bundle: Path,
    start_proxy: StartProxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    use_client_credentials(tls_sandbox, monkeypatch)
    trust(monkeypatch, both_cas_bundle)
    proxy = start_proxy(inspect_with=inspecting_ca, upstream_ca=tls_ca)
    monkeypatch.setenv("HTTPS_PROXY", proxy.url())
    files = make_files(tmp_path, 3)

    run = invoke("push", *map(str, files))

    assert run.exit_code == 0, run.stdout + run.stderr
    assert set(proxy.targets) == {f"CONNECT {sandbox_address(tls_sandbox)}"}
    assert [r.status for r in tls_sandbox.requests_of("token")] == [200]
    assert all(tls_sandbox.put_count(SANDBOX_APP_ID, f.name) == 1 for f in files)


def test_a_tls_inspecting_proxy_whose_ca_is_not_trusted_gets_nothing(
    tls_sandbox: Sandbox, tls_ca: trustme.CA, inspecting_ca: trustme.CA,
    start_proxy: StartProxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    use_client_credentials(tls_sandbox, monkeypatch)  # the test CA alone is trusted
    proxy = start_proxy(inspect_with=inspecting_ca, upstream_ca=tls_ca)
    monkeypatch.setenv("HTTPS_PROXY", proxy.url())
    [path] = make_files(tmp_path, 1)

    run = invoke("push", "--retries", "1", str(path))  # today, a failed check is retried

    assert run.exit_code != 0
    assert proxy.targets
    assert tls_sandbox.requests == []  # the secret and the file stayed with the tool


# --- a proxy that refuses, or is not there ---


def assert_names_the_proxy(run: Run, address: str, answer: str) -> None:
    """The proxy by its address and variable, with its answer, in each file's reason."""
    output = run.stdout + run.stderr
    assert run.exit_code == 1, output
    assert f"the proxy {address} (from HTTPS_PROXY) {answer}" in output, output


def test_a_proxy_asking_for_credentials_is_named_with_its_407(
    tls_sandbox: Sandbox, start_proxy: StartProxy, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    point_at(tls_sandbox, monkeypatch)
    proxy = start_proxy(require_auth=("someone", "the-right-one"))
    monkeypatch.setenv("HTTPS_PROXY", proxy.url("someone:n0t-the-pa55"))
    files = make_files(tmp_path, 20)

    run = invoke("push", "--batch-size", "5", "--retries", "2", *map(str, files))

    assert_names_the_proxy(
        run, proxy.address, "refused the tunnel: 407 Proxy Authentication Required; put the "
        "right user and password in HTTPS_PROXY",
    )  # fmt: skip
    assert "n0t-the-pa55" not in run.stdout + run.stderr
    assert len(proxy.targets) <= 3  # one request's tries, not every batch's
    assert tls_sandbox.requests == []


def test_a_proxy_refusing_connect_is_named_with_its_403(
    tls_sandbox: Sandbox, start_proxy: StartProxy, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    point_at(tls_sandbox, monkeypatch)
    proxy = start_proxy(refuse=True)
    monkeypatch.setenv("HTTPS_PROXY", proxy.url())
    files = make_files(tmp_path, 20)

    run = invoke("push", "--batch-size", "5", "--retries", "2", *map(str, files))

    assert_names_the_proxy(run, proxy.address, "refused the tunnel: 403 Forbidden")
    assert len(proxy.targets) <= 3
    assert tls_sandbox.requests == []


def test_a_proxy_that_is_not_listening_is_named(
    tls_sandbox: Sandbox, unused_port: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    point_at(tls_sandbox, monkeypatch)
    monkeypatch.setenv("HTTPS_PROXY", f"http://someone:n0t-the-pa55@127.0.0.1:{unused_port}")
    files = make_files(tmp_path, 20)

    run = invoke("push", "--batch-size", "5", "--retries", "2", *map(str, files))

    output = run.stdout + run.stderr
    assert run.exit_code == 1, output
    assert f"cannot reach the proxy 127.0.0.1:{unused_port} (from HTTPS_PROXY): connection " in (
        output
    )
    assert "n0t-the-pa55" not in output
    assert tls_sandbox.requests == []


# --- stalls through the tunnel: the same rule as direct, --timeout is silence ---


def test_a_slow_upload_through_the_tunnel_is_never_cut_by_the_timeout(
    tls_sandbox: Sandbox, start_proxy: StartProxy, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    point_at(tls_sandbox, monkeypatch)
    proxy = start_proxy()
    monkeypatch.setenv("HTTPS_PROXY", proxy.url())
    path = tmp_path / "slow.json"
    path.write_bytes(os.urandom(2 * 1024 * 1024))
    # 4 s for the body, twice --timeout; what the tunnel's buffers hold (a few hundred KB)
    # drains within it once the last byte has left (README: "Company networks").
    tls_sandbox.faults.put_read_rate = 512 * 1024

    run = invoke("push", "--json", "--timeout", "2", str(path))

    assert run.exit_code == 0, run.stdout + run.stderr
    [entry] = json.loads(run.stdout)["files"]
    assert (entry["status"], entry["attempts"]) == ("uploaded", 1)
    assert tls_sandbox.put_count(SANDBOX_APP_ID, "slow.json") == 1
    assert any(target.startswith("CONNECT 127.0.0.1:") for target in proxy.targets)


def test_a_tunnel_gone_silent_costs_one_timeout_then_a_new_tunnel(
    tls_sandbox: Sandbox, start_proxy: StartProxy, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    point_at(tls_sandbox, monkeypatch)
    proxy = start_proxy()
    monkeypatch.setenv("HTTPS_PROXY", proxy.url())
    spool = tmp_path / "spool"
    spool.mkdir()
    for name in ("a.json", "b.json"):
        (spool / name).write_bytes(os.urandom(4096))
    tls_sandbox.faults.silent_on_put = 2  # answers a.json, then reads b.json and says nothing

    run = invoke("push", "--json", "-j", "1", "--timeout", "2", str(spool / "*.json"))

    assert run.exit_code == 0, run.stdout + run.stderr
    attempts = {f["filename"]: f["attempts"] for f in json.loads(run.stdout)["files"]}
    assert attempts == {"a.json": 1, "b.json": 2}
    assert tls_sandbox.put_count(SANDBOX_APP_ID, "b.json") == 1


def test_a_proxy_url_with_credentials_but_no_scheme_is_named_as_unusable(
    tls_sandbox: Sandbox, start_proxy: StartProxy, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    point_at(tls_sandbox, monkeypatch)
    proxy = start_proxy()
    monkeypatch.setenv("HTTPS_PROXY", f"someone:n0t-the-pa55@{proxy.address}")
    files = make_files(tmp_path, 2)

    run = invoke("push", *map(str, files))

    output = run.stdout + run.stderr
    assert run.exit_code == 1, output
    assert (
        "the proxy URL in HTTPS_PROXY cannot be used; write it as http://user:pass@host:port"
        in (output)
    )
    assert "n0t-the-pa55" not in output
