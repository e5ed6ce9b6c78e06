"""A host name that does not resolve is named, for the API and for storage, and not retried.

The tool runs in a private mount namespace whose /etc/nsswitch.conf looks host names up in
/etc/hosts alone: a name that is not there fails in glibc exactly as an unknown DNS name does
(EAI_NONAME), and no DNS server is ever asked.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from productiv_upload.sandbox import SANDBOX_APP_ID, SANDBOX_TOKEN, Sandbox
from tests.conftest import make_files

NSSWITCH = Path("/etc/nsswitch.conf")


@pytest.fixture
def hosts_file_only(tmp_path: Path) -> list[str]:
    """The command prefix that runs a process with host names from /etc/hosts alone."""
    if not NSSWITCH.is_file():
        pytest.skip(f"{NSSWITCH} is missing: this is not a glibc system")
    replacement = tmp_path / "nsswitch.conf"
    replacement.write_text("hosts: files\n")
    script = f'mount --bind "$0" {NSSWITCH} && exec "$@"'
    prefix = ["unshare", "-m", "sh", "-c", script, str(replacement)]
    probe = subprocess.run([*prefix, "true"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"this machine refuses a private mount namespace: {probe.stderr.strip()}")
    return prefix


def _push(prefix: list[str], *args: str) -> tuple[int, list[dict[str, object]], float]:
    started = time.monotonic()
    done = subprocess.run(
        [*prefix, sys.executable, "-m", "productiv_upload", "push", "--json", *args],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    return done.returncode, json.loads(done.stdout)["files"], elapsed


def test_an_api_host_that_does_not_resolve_is_named_at_once(
    hosts_file_only: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRODUCTIV_API_URL", "https://api.example.invalid")
    monkeypatch.setenv("PRODUCTIV_APP_ID", SANDBOX_APP_ID)
    monkeypatch.setenv("PRODUCTIV_ACCESS_TOKEN", SANDBOX_TOKEN)
    make_files(tmp_path / "exports", 5)

    code, files, elapsed = _push(
        hosts_file_only, "--retries", "5", str(tmp_path / "exports" / "*.json")
    )

    assert code == 1
    reasons = {f["error"] for f in files}
    assert reasons == {
        "could not reach the API at api.example.invalid: could not resolve host api.example.invalid"
    }
    assert elapsed < 10  # no backoff between five retries of an answer that cannot change


def test_a_storage_host_that_does_not_resolve_fails_its_files_after_one_file(
    hosts_file_only: list[str], sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    sandbox.faults.signed_url_override = (
        "https://storage.example.invalid/bucket/a.json?AWSAccessKeyId=AKIA&Signature=c2ln"
        "&Expires=9999999999"
    )
    make_files(tmp_path / "exports", 40)

    code, files, elapsed = _push(
        hosts_file_only, "--retries", "5", "-j", "2", str(tmp_path / "exports" / "*.json")
    )

    assert code == 1
    reason = "storage at storage.example.invalid: could not resolve host storage.example.invalid"
    tried = [f for f in files if f["attempts"]]
    assert 1 <= len(tried) <= 2  # the files the two workers had started
    assert all(f["attempts"] == 1 and f["error"] == reason for f in tried)
    assert {f["error"] for f in files if not f["attempts"]} == {f"not sent: {reason}"}
    assert elapsed < 10
    assert sandbox.requests_of("put") == []
