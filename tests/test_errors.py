"""Service errors: clear messages carrying the service's own words, the right exit codes."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest

from productiv_upload.sandbox import Sandbox
from tests.conftest import invoke, make_files


def test_invalid_token_is_exit_3_with_the_service_message(
    sandbox: Sandbox,
    sandbox_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PRODUCTIV_ACCESS_TOKEN", "expired-token-value")
    files = make_files(tmp_path / "exports", 3)

    run = invoke("push", "--json", *map(str, files))

    assert run.exit_code == 3
    assert "Invalid access_token" in run.stderr
    assert "expired-token-value" not in run.stdout + run.stderr
    assert sandbox.requests_of("put") == []
    report = json.loads(run.stdout)
    assert report["counts"]["failed"] == 3  # every file given appears, failed, with the reason
    assert all("Invalid access_token" in f["error"] for f in report["files"])


def test_unknown_app_is_exit_3(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    [path] = make_files(tmp_path, 1)

    run = invoke("push", "--app-id", "no-such-app", str(path))

    assert run.exit_code == 3
    assert "no-such-app" in run.stderr
    assert "404" in run.stderr


def test_missing_scope_is_exit_3(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    [path] = make_files(tmp_path, 1)
    sandbox.faults.api_errors.append((403, None))

    run = invoke("push", str(path))

    assert run.exit_code == 3
    assert "403" in run.stderr
    assert "connector.write" in run.stderr


def test_refused_batch_fails_its_files_and_the_run_goes_on(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    files = make_files(tmp_path / "exports", 4)
    sandbox.faults.api_errors.append((422, None))

    run = invoke("push", "--json", "--batch-size", "2", *map(str, files))

    assert run.exit_code == 1
    statuses = [f["status"] for f in json.loads(run.stdout)["files"]]
    assert statuses == ["failed", "failed", "uploaded", "uploaded"]
    assert "422" in json.loads(run.stdout)["files"][0]["error"]
    assert len(sandbox.requests_of("api")) == 2  # a 422 is not retried


def test_throttled_url_request_waits_for_retry_after(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    [path] = make_files(tmp_path, 1)
    sandbox.faults.api_errors.append((429, "1"))
    started = time.monotonic()

    run = invoke("push", str(path))

    assert run.exit_code == 0, run.stderr
    assert time.monotonic() - started >= 1.0
    assert [r.status for r in sandbox.requests_of("api")] == [429, 200]


def test_server_errors_beyond_the_retries_fail_the_batch(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    [path] = make_files(tmp_path, 1)
    sandbox.faults.api_errors.extend([(500, None), (500, None)])

    run = invoke("push", "--retries", "1", str(path))

    assert run.exit_code == 1
    assert "the API failed (500: Injected fault)" in run.stdout
    assert len(sandbox.requests_of("api")) == 2


def test_unreachable_api_fails_the_files_with_a_clear_reason(
    sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    with socket.socket() as probe:  # a loopback port with nothing listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    [path] = make_files(tmp_path, 1)

    run = invoke("push", "--retries", "0", "--api-url", f"http://127.0.0.1:{port}", str(path))

    assert run.exit_code == 1
    assert f"could not reach the API at 127.0.0.1:{port}: connection refused" in run.stdout


def test_signature_never_appears_in_a_storage_failure(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    [path] = make_files(tmp_path, 1)
    sandbox.faults.put_errors.extend([500, 500])

    run = invoke("push", "--json", "--retries", "1", str(path))

    assert run.exit_code == 1
    [entry] = json.loads(run.stdout)["files"]
    assert entry["error"] == "storage answered 500 (InternalError: Injected fault)"
    assert entry["attempts"] == 2
    assert "Signature" not in run.stdout + run.stderr
