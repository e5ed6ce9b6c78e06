"""systemd credentials: files in $CREDENTIALS_DIRECTORY, with the modes systemd gives them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from productiv_upload.sandbox import SANDBOX_APP_ID, SANDBOX_TOKEN, Sandbox
from tests.conftest import invoke, make_files


def credentials(folder: Path, **files: tuple[str, int]) -> Path:
    """A credentials directory as systemd makes it: one file per credential, given modes."""
    folder.mkdir(mode=0o500)
    for name, (value, mode) in files.items():
        path = folder / name.replace("_", "-")
        path.write_text(value)
        path.chmod(mode)
    return folder


@pytest.fixture
def service_env(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRODUCTIV_API_URL", sandbox.api_url)
    monkeypatch.setenv("PRODUCTIV_TOKEN_URL", sandbox.token_url)
    monkeypatch.setenv("PRODUCTIV_APP_ID", SANDBOX_APP_ID)


def pushed(*args: str) -> tuple[int, object]:
    """The exit code, and the report's counts (or, when it failed, what stderr said)."""
    run = invoke("push", "--json", *args)
    return run.exit_code, run.stderr if run.exit_code else json.loads(run.stdout)["counts"]


@pytest.mark.parametrize("secret_mode", [0o400, 0o440])
def test_client_credentials_from_the_credentials_directory(
    sandbox: Sandbox, service_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    secret_mode: int,
) -> None:  # fmt: skip
    folder = credentials(
        tmp_path / "creds",
        productiv_client_id=("sandbox-client\n", 0o400),
        productiv_client_secret=("sandbox-secret\n", secret_mode),  # a trailing newline
    )
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(folder))
    files = make_files(tmp_path / "exports", 2)

    code, counts = pushed(*map(str, files))
    shown = invoke("config", "show", "--json")

    assert code == 0, counts
    assert counts == {"uploaded": 2, "skipped": 0, "failed": 0}
    [token_request] = sandbox.requests_of("token")
    assert ("client_id", "sandbox-client") in token_request.form
    sources = json.dumps(json.loads(shown.stdout))
    assert "systemd credential productiv-client-id and systemd credential " in sources
    assert "sandbox-secret" not in shown.stdout + shown.stderr


def test_an_access_token_from_the_credentials_directory(
    sandbox: Sandbox, service_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = credentials(tmp_path / "creds", productiv_access_token=(SANDBOX_TOKEN, 0o440))
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(folder))
    files = make_files(tmp_path / "exports", 1)

    assert pushed(*map(str, files))[0] == 0
    assert sandbox.requests_of("token") == []


def test_credentials_win_over_the_config_file_and_lose_to_the_environment(
    sandbox: Sandbox, service_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[default]\nclient_id = "sandbox-client"\nclient_secret = "stale-secret"\n')
    config.chmod(0o600)
    monkeypatch.setenv("PRODUCTIV_UPLOAD_CONFIG", str(config))
    folder = credentials(tmp_path / "creds", productiv_client_secret=("sandbox-secret", 0o400))
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(folder))
    files = make_files(tmp_path / "exports", 1)

    # The client id from the config file, the secret from systemd, which wins over the file's.
    assert pushed(*map(str, files))[0] == 0
    monkeypatch.setenv("PRODUCTIV_CLIENT_ID", "sandbox-client")
    monkeypatch.setenv("PRODUCTIV_CLIENT_SECRET", "wrong-secret")
    code, message = pushed("--force", *map(str, files))
    assert code == 3  # the environment wins over systemd's credential
    assert "token endpoint refused" in str(message)


def test_a_credential_other_users_can_read_is_refused(
    sandbox: Sandbox, service_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = credentials(
        tmp_path / "creds",
        productiv_client_id=("sandbox-client", 0o400),
        productiv_client_secret=("sandbox-secret", 0o444),
    )
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(folder))
    files = make_files(tmp_path / "exports", 1)

    code, message = pushed(*map(str, files))

    assert code == 2
    secret = folder / "productiv-client-secret"
    assert f"systemd credential {secret} can be read by other users" in str(message)
    assert f"chmod 600 {secret}" in str(message)
    assert sandbox.requests_of("token") == []
