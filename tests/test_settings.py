"""Settings: flag > environment > config profile > default, secrets never shown, and `check`."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest

from productiv_upload.sandbox import SANDBOX_APP_ID, Sandbox
from tests.conftest import invoke, make_files

SECRET = "s3cr3t-client-value"
TOKEN = "tok-value-never-shown"


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "config.toml"
    monkeypatch.setenv("PRODUCTIV_UPLOAD_CONFIG", str(path))
    return path


def write_config(path: Path, text: str, mode: int = 0o600) -> None:
    path.write_text(text)
    path.chmod(mode)


def shown(*args: str) -> dict[str, Any]:
    run = invoke("config", "show", "--json", *args)
    settings: dict[str, Any] = json.loads(run.stdout)["settings"]
    return settings


def test_each_source_in_order_of_precedence(
    config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(config_file, '[default]\napp_id = "fromConfig"\ntoken_file = "/dev/null"\n')
    monkeypatch.setenv("PRODUCTIV_ACCESS_TOKEN", TOKEN)

    assert shown()["app_id"] == {"value": "fromConfig", "source": "config file [default]"}
    assert shown()["api_url"] == {"value": "https://api.productiv.com", "source": "default"}
    monkeypatch.setenv("PRODUCTIV_APP_ID", "fromEnv")
    assert shown()["app_id"] == {"value": "fromEnv", "source": "PRODUCTIV_APP_ID"}
    assert shown("--app-id", "fromFlag")["app_id"] == {
        "value": "fromFlag",
        "source": "command line",
    }


def test_profiles_are_picked_by_flag_or_environment(
    config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(
        config_file,
        '[default]\napp_id = "prodApp"\n'
        '[staging]\napp_id = "stagingApp"\napi_url = "https://staging.example.com"\n',
    )
    monkeypatch.setenv("PRODUCTIV_ACCESS_TOKEN", TOKEN)

    assert shown()["app_id"]["value"] == "prodApp"
    assert shown("--profile", "staging")["app_id"]["value"] == "stagingApp"
    monkeypatch.setenv("PRODUCTIV_PROFILE", "staging")
    staged = shown()
    assert staged["app_id"] == {"value": "stagingApp", "source": "config file [staging]"}
    assert staged["api_url"]["value"] == "https://staging.example.com"
    assert staged["profile"] == {"value": "staging", "source": "PRODUCTIV_PROFILE"}


def test_an_unknown_profile_is_exit_2_listing_the_known_ones(
    config_file: Path, tmp_path: Path
) -> None:
    write_config(config_file, '[default]\napp_id = "a"\n[staging]\napp_id = "b"\n')
    [path] = make_files(tmp_path, 1)

    run = invoke("push", "--profile", "prod", "--dry-run", str(path))

    assert run.exit_code == 2
    assert "no profile 'prod'" in run.stderr
    assert "default, staging" in run.stderr


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[default\napp_id = 1", "not valid TOML"),
        ('[defualt]\napp_id = "x"\n', "has no [default] profile (profiles: defualt)"),
        ('app_id = "x"\n', "must sit in a profile table such as [default]"),
        ('[default]\napp_idd = "x"\n', "unknown setting 'app_idd'"),
        ("[default]\napp_id = 3\n", "must be a non-empty string"),
    ],
)
def test_a_malformed_config_file_is_a_clear_exit_2(
    config_file: Path, tmp_path: Path, text: str, message: str
) -> None:
    write_config(config_file, text)
    [path] = make_files(tmp_path, 1)

    run = invoke("push", "--dry-run", str(path))

    assert run.exit_code == 2
    assert message in run.stderr
    assert str(config_file) in run.stderr


def test_client_credentials_from_a_profile_upload(
    sandbox: Sandbox, config_file: Path, tmp_path: Path
) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text("sandbox-secret\n")
    secret_file.chmod(0o600)
    write_config(
        config_file,
        f'[default]\napi_url = "{sandbox.api_url}"\ntoken_url = "{sandbox.token_url}"\n'
        f'app_id = "{SANDBOX_APP_ID}"\nclient_id = "sandbox-client"\n'
        f'client_secret_file = "{secret_file}"\n',
    )
    [path] = make_files(tmp_path / "exports", 1)

    run = invoke("push", str(path))

    assert run.exit_code == 0, run.stderr
    assert sandbox.put_count(SANDBOX_APP_ID, path.name) == 1
    assert len(sandbox.requests_of("token")) == 1


def test_a_secret_others_can_read_is_refused_with_the_chmod_to_run(
    config_file: Path, tmp_path: Path
) -> None:
    config = f'[default]\napp_id = "a"\nclient_id = "c"\nclient_secret = "{SECRET}"\n'
    write_config(config_file, config, mode=0o644)
    [path] = make_files(tmp_path, 1)

    run = invoke("push", str(path))

    assert run.exit_code == 2
    assert f"chmod 600 {config_file}" in run.stderr
    assert SECRET not in run.stdout + run.stderr


def test_config_show_hides_every_secret(config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(
        config_file, f'[default]\napp_id = "a"\nclient_id = "cid"\nclient_secret = "{SECRET}"\n'
    )

    plain = invoke("config", "show")
    monkeypatch.setenv("PRODUCTIV_ACCESS_TOKEN", TOKEN)
    with_token = invoke("config", "show")

    assert plain.exit_code == 0
    assert "client_secret <hidden>" in plain.stdout
    assert "access token <hidden>" in with_token.stdout
    for run in (plain, with_token):
        assert SECRET not in run.stdout + run.stderr
        assert TOKEN not in run.stdout + run.stderr


def test_config_show_names_the_problem_without_failing_to_show(config_file: Path) -> None:
    run = invoke("config", "show")

    assert run.exit_code == 2
    assert "problem: no app id" in run.stdout
    assert "state_dir" in run.stdout


# --- check ---


def test_check_succeeds_against_the_sandbox_uploading_nothing(
    sandbox: Sandbox, sandbox_env: dict[str, str]
) -> None:
    run = invoke("check")

    assert run.exit_code == 0, run.stderr
    assert run.stdout.splitlines()[-1].startswith("OK:")
    assert len(sandbox.requests_of("api")) == 1
    assert sandbox.requests_of("put") == []


@pytest.mark.parametrize(
    ("setup", "code", "words"),
    [
        ("bad-token", 3, "Invalid access_token"),
        ("unknown-app", 3, "does not know app"),
        ("no-scope", 3, "connector.write"),
        ("refused-secret", 3, "Client authentication failed"),
    ],
)
def test_check_says_exactly_what_is_wrong(
    sandbox: Sandbox, sandbox_env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
    setup: str, code: int, words: str,
) -> None:  # fmt: skip
    args: list[str] = []
    if setup == "bad-token":
        monkeypatch.setenv("PRODUCTIV_ACCESS_TOKEN", "not-a-token")
    elif setup == "unknown-app":
        args = ["--app-id", "nope"]
    elif setup == "no-scope":
        sandbox.faults.api_errors.append((403, None))
    else:
        monkeypatch.delenv("PRODUCTIV_ACCESS_TOKEN")
        monkeypatch.setenv("PRODUCTIV_TOKEN_URL", sandbox.token_url)
        monkeypatch.setenv("PRODUCTIV_CLIENT_ID", "sandbox-client")
        monkeypatch.setenv("PRODUCTIV_CLIENT_SECRET", "wrong")

    run = invoke("check", *args)

    assert run.exit_code == code
    assert words in run.stderr
    assert sandbox.requests_of("put") == []


def test_check_reports_an_unreachable_api(sandbox_env: dict[str, str]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    run = invoke("check", "--api-url", f"http://127.0.0.1:{port}")

    assert run.exit_code == 1
    assert "could not reach the API" in run.stderr
