"""Every command the README shows is run here, against the sandbox, so the docs cannot rot."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from productiv_upload.sandbox import SANDBOX_APP_ID, Sandbox

ROOT = Path(__file__).parent.parent
README = ROOT / "README.md"
CRON_SCHEDULE = re.compile(r"^([\d*/,-]+\s+){5}")
# Installing is what CI itself does before running these tests; running pytest from pytest
# would recurse. Anything else the README shows must run here.
NOT_RUN = {
    "pipx install .": "the install CI performs",
    "pip install .": "the install CI performs",
    "pip install -e '.[test]' && pytest": "CI's own command",
    "python bench/run.py --quick": "the benchmark: about a minute, and measures, not tests",
    "productiv-upload watch --min-age 10 --move-to ./exports-sent ./exports": (
        "a service that runs until stopped: tests/test_watch.py runs it, with these options"
    ),
}


def readme_commands() -> list[str]:
    """Lines of the README's indented code blocks that invoke something."""
    commands = []
    for line in README.read_text().splitlines():
        if not line.startswith("    "):
            continue
        text = line.strip()
        first = text.split(" ", 1)[0]
        if first in ("productiv-upload", "pip", "pipx", "find", "python", "openssl") or (
            CRON_SCHEDULE.match(text) and ("productiv-upload" in text)
        ):
            commands.append(text)
    return commands


def test_the_readme_shows_commands_and_all_are_accounted_for() -> None:
    commands = readme_commands()
    assert len(commands) >= 10
    assert set(NOT_RUN) <= set(commands)


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    """A sandbox that takes any app id, as the one a user starts does: the commands run as
    written, `--app-id myAppId` included."""
    with Sandbox(tmp_path / "bucket", any_app=True) as server:
        yield server


@pytest.fixture
def workspace(tmp_path: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home and a working folder where the README's examples make sense."""
    home = tmp_path / "home"
    config = home / ".config" / "productiv-upload"
    config.mkdir(parents=True)
    secret = config / "client-secret"
    secret.write_text("sandbox-secret\n")
    secret.chmod(0o600)
    (config / "config.toml").write_text(
        f'[default]\napi_url = "{sandbox.api_url}"\ntoken_url = "{sandbox.token_url}"\n'
        f'app_id = "{SANDBOX_APP_ID}"\nclient_id = "sandbox-client"\n'
        f'client_secret_file = "{secret}"\n'
    )
    work = tmp_path / "work"
    shutil.copytree(ROOT / "examples", work / "examples")
    for folder in (work / "exports", home / "exports"):
        folder.mkdir(parents=True)
        for number in range(3):
            (folder / f"usage-{number}.json").write_text(f'{{"n": {number}}}\n')
    bin_folder = home / ".local" / "bin"  # where pipx would have put the command
    bin_folder.mkdir(parents=True)
    (bin_folder / "productiv-upload").symlink_to(Path(sys.executable).parent / "productiv-upload")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("PRODUCTIV_UPLOAD_STATE_DIR")
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    return work


@pytest.mark.parametrize("command", [c for c in readme_commands() if c not in NOT_RUN])
def test_readme_command_runs(command: str, workspace: Path, sandbox: Sandbox) -> None:
    runnable = CRON_SCHEDULE.sub("", command)
    if runnable.startswith("productiv-upload sandbox"):
        run_sandbox_command(runnable, workspace)
        return

    completed = subprocess.run(
        ["bash", "-c", runnable], cwd=workspace, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip

    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, f"{runnable!r} exited {completed.returncode}:\n{output}"
    assert "Traceback" not in output


def run_sandbox_command(command: str, workspace: Path) -> None:
    # The README's fixed port may well be taken by the reader's own sandbox, started from that
    # very line: the test runs the command on a free port (0: the sandbox picks one).
    command = re.sub(r"--port \d+", "--port 0", command)
    tls = "--tls-cert" in command
    if tls:  # the certificate the README makes just before
        [make_cert] = [c for c in readme_commands() if c.startswith("openssl req")]
        subprocess.run(["bash", "-c", make_cert], cwd=workspace, capture_output=True, check=True)
    process = subprocess.Popen(
        ["bash", "-c", f"exec {command}"], cwd=workspace, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    banner = []
    for line in process.stdout:  # the banner ends with how to stop it
        banner.append(line)
        if line.startswith("Stop it with"):
            break
    process.send_signal(signal.SIGTERM)
    _, errors = process.communicate(timeout=10)

    assert banner[0].startswith("Sandbox listening"), "".join(banner) + errors
    scheme = "https" if tls else "http"
    assert any(f"export PRODUCTIV_API_URL={scheme}://127.0.0.1:" in line for line in banner)
    assert process.returncode == 0, errors
    assert (workspace / "sandbox-uploads").is_dir()


def test_the_readme_sandbox_runs_while_its_port_is_taken(workspace: Path) -> None:
    command = next(c for c in readme_commands() if c.startswith("productiv-upload sandbox"))
    port = int(re.search(r"--port (\d+)", command).group(1))  # type: ignore[union-attr]
    with socket.socket() as taken:  # as by the reader's sandbox in another terminal
        with contextlib.suppress(OSError):  # already taken: all the better
            taken.bind(("127.0.0.1", port))
            taken.listen()
        run_sandbox_command(command, workspace)


def where_things_are() -> dict[str, str]:
    """The README's "Where things are" table: each row's first cell and the rest of the row."""
    section = README.read_text().split("### Where things are", 1)[1].split("\n#", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("| `productiv_upload"):
            rows[cells[0].strip("`")] = " ".join(cells[1:])
    return rows


def test_the_readme_names_every_module_where_it_lives() -> None:
    package = ROOT / "productiv_upload"
    table = where_things_are()
    unnamed = []
    for module in sorted(package.rglob("*.py")):
        if module.name == "__init__.py":
            continue
        place = module.relative_to(ROOT)
        folder, own_row = f"{place.parent.as_posix()}/", place.as_posix()
        if own_row not in table and f"`{module.name}`" not in table.get(folder, ""):
            unnamed.append(str(place))
    named = {
        (folder if folder.endswith("/") else "") + name
        for folder, text in table.items()
        for name in re.findall(r"`([a-z_]+\.py)`", text)
    }
    stale = sorted(name for name in named if not (ROOT / name).is_file())

    assert unnamed == [], "README, Where things are: say what each of these modules holds"
    assert stale == [], "README, Where things are: these modules no longer exist"


def test_the_readme_json_report_section_names_every_status() -> None:
    from productiv_upload.core.model import Status

    section = README.read_text().split("## The JSON report", 1)[1].split("\n## ", 1)[0]

    assert [status.value for status in Status if f"`{status.value}`" not in section] == []
