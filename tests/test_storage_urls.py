"""Where signed URLs may send files: http:// only to loopback hosts, and only to allowed hosts.

Each test runs the installed command as a user would, against the sandbox, and checks from the
sandbox's own log that nothing was sent where the tool refused to send it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from productiv_upload.sandbox import SANDBOX_APP_ID, Sandbox
from tests.conftest import Run, make_files


def run_installed(*args: str, env: dict[str, str] | None = None) -> Run:
    """The console script pip installed, in a real process."""
    command = Path(sys.executable).parent / "productiv-upload"
    assert command.exists(), (
        f"the productiv-upload command is not installed beside {sys.executable}"
    )
    completed = subprocess.run(
        [str(command), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **(env or {})},
    )
    return Run(completed.returncode, completed.stdout, completed.stderr)


def sandbox_port(sandbox: Sandbox) -> int:
    return int(sandbox.base_url.rsplit(":", 1)[1])


def test_plain_http_signed_url_to_a_remote_host_is_refused_though_the_api_is_on_loopback(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    # 2130706433 is 127.0.0.1 written as one number: not a loopback address to the tool's
    # check, yet the system resolver would connect it to the sandbox, so a PUT that should
    # not have happened shows up in the sandbox's log.
    [path] = make_files(tmp_path / "exports", 1)
    good = sandbox.signed_url(SANDBOX_APP_ID, path.name)
    sandbox.faults.signed_url_override = good.replace("127.0.0.1", "2130706433")

    run = run_installed("push", "--json", str(path))

    assert run.exit_code == 1, run.stderr
    [entry] = json.loads(run.stdout)["files"]
    assert entry["status"] == "failed"
    assert entry["error"] == (
        f"the API returned a signed URL over plain http:// to 2130706433:{sandbox_port(sandbox)}, "
        "which is not a loopback address; only https:// is used for remote storage"
    )
    assert sandbox.requests_of("put") == []
    assert "Signature=" not in run.stdout + run.stderr


def test_plain_http_signed_url_to_a_loopback_host_is_used(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    [path] = make_files(tmp_path / "exports", 1)

    run = run_installed("push", "--json", str(path))

    assert run.exit_code == 0, run.stderr
    assert sandbox.stored_path(SANDBOX_APP_ID, path.name).read_bytes() == path.read_bytes()


def test_storage_host_flag_refuses_other_hosts_and_names_the_setting(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    files = make_files(tmp_path / "exports", 2)

    run = run_installed(
        "push", "--storage-host", "*.amazonaws.com", "--storage-host", "s3.example.com",
        *map(str, files),
    )  # fmt: skip

    assert run.exit_code == 1
    reason = (
        f"the signed URL points to 127.0.0.1:{sandbox_port(sandbox)}, which is not an allowed "
        "storage host (*.amazonaws.com, s3.example.com); to allow it, set storage_hosts "
        "(config file), --storage-host or PRODUCTIV_STORAGE_HOSTS"
    )
    # Each file's line, then the summary's list of failures.
    assert run.stdout.count(reason) == 4, run.stdout
    assert sandbox.requests_of("put") == []


def test_storage_hosts_from_the_environment_allow_a_matching_host(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    files = make_files(tmp_path / "exports", 3)

    run = run_installed(
        "push", "-q", *map(str, files), env={"PRODUCTIV_STORAGE_HOSTS": "s3.example.com, 127.0.0.*"}
    )

    assert run.exit_code == 0, run.stdout + run.stderr
    assert len(sandbox.requests_of("put")) == 3


def test_storage_hosts_from_a_config_profile_refuse_other_hosts(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[default]\nstorage_hosts = ["*.amazonaws.com"]\n')
    [path] = make_files(tmp_path / "exports", 1)

    run = run_installed("push", "--json", str(path), env={"PRODUCTIV_UPLOAD_CONFIG": str(config)})

    assert run.exit_code == 1
    [entry] = json.loads(run.stdout)["files"]
    assert "which is not an allowed storage host (*.amazonaws.com)" in entry["error"]
    assert sandbox.requests_of("put") == []


def test_check_refuses_a_signed_url_to_a_host_that_is_not_allowed(
    sandbox: Sandbox, sandbox_env: dict[str, str]
) -> None:
    run = run_installed("check", "--storage-host", "*.amazonaws.com")

    assert run.exit_code == 1
    assert "FAILED: the signed URL points to 127.0.0.1:" in run.stdout
    assert "not an allowed storage host (*.amazonaws.com)" in run.stdout


@pytest.mark.parametrize(
    ("args", "env", "value", "source"),
    [
        (["--api-url", "https://api.productiv.com"], {}, "*.amazonaws.com",
         "default for this API URL"),
        (["--api-url", "https://api.staging.example.com"], {}, "any host",
         "default for this API URL"),
        (["--storage-host", "*.example.com", "--storage-host", "[::1]"], {},
         "*.example.com, ::1", "command line"),
        ([], {"PRODUCTIV_STORAGE_HOSTS": "A.Example.com,b.example.com"},
         "a.example.com, b.example.com", "PRODUCTIV_STORAGE_HOSTS"),
    ],
)  # fmt: skip
def test_config_show_gives_the_resolved_storage_hosts_and_their_source(
    args: list[str], env: dict[str, str], value: str, source: str
) -> None:
    run = run_installed(
        "config", "show", "--json", "--app-id", "app", *args,
        env={"PRODUCTIV_ACCESS_TOKEN": "fake-token-123456", **env},
    )  # fmt: skip

    assert run.exit_code == 0, run.stdout + run.stderr
    setting = json.loads(run.stdout)["settings"]["storage_hosts"]
    assert setting == {"value": value, "source": source}


def test_config_show_names_the_config_file_profile_as_the_source(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[default]\napp_id = "app"\nstorage_hosts = "s3.example.com"\n')

    run = run_installed(
        "config", "show", env={"PRODUCTIV_UPLOAD_CONFIG": str(config),
                               "PRODUCTIV_ACCESS_TOKEN": "fake-token-123456"},
    )  # fmt: skip

    assert run.exit_code == 0, run.stdout + run.stderr
    assert "storage_hosts  s3.example.com  (config file [default])" in run.stdout


@pytest.mark.parametrize("pattern", ["https://s3.example.com", "s3.example.com:443", "a b", ","])
def test_a_storage_host_that_is_not_a_host_pattern_is_bad_usage(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path, pattern: str
) -> None:
    [path] = make_files(tmp_path / "exports", 1)

    run = run_installed("push", "--storage-host", pattern, str(path))

    assert run.exit_code == 2
    assert "storage hosts from command line" in run.stderr
    assert sandbox.requests_of("api") == []
