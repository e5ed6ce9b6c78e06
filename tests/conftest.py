"""Fixtures: a real sandbox server on loopback, a clean environment, and ways to run the CLI."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from productiv_upload.cli.app import app
from productiv_upload.sandbox import SANDBOX_APP_ID, SANDBOX_TOKEN, Sandbox

# Test certificates and HTTPS sandboxes (tests/tls.py), test proxies (tests/proxies.py).
pytest_plugins = ["tests.tls", "tests.proxies"]

# Variables that would make a test trust, or distrust, what the developer's machine does.
_TRUST_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR")


def pytest_configure(config: pytest.Config) -> None:
    """Processes the tests start can be interrupted with SIGINT, however pytest was started.

    A shell without job control starts a background command (`.ci/run > log &`) with SIGINT
    ignored, the ignore is inherited across exec, and Python then rightly never turns SIGINT
    into KeyboardInterrupt: the interrupt tests would see a push run to its end. A handled
    signal, unlike an ignored one, is back to its default in a child.
    """
    import signal

    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's credentials, proxies, trust settings, netrc or state."""
    for name in list(os.environ):
        if (
            name.startswith("PRODUCTIV_")
            or name.lower().endswith("_proxy")
            or name in _TRUST_VARIABLES
        ):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("PRODUCTIV_UPLOAD_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("NO_COLOR", "1")
    # Processes the tests start make their temporary folders (a `--sandbox` run's) in here,
    # which pytest cleans: a run never leaves folders in the machine's /tmp.
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setenv("TMPDIR", str(temporary))


@pytest.fixture
def sandbox(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Sandbox]:
    """The sandbox over plain http; over https, the test CA trusted, when a test is marked
    `over_http_and_https` (tests/tls.py) and this is its https run."""
    tls = None
    if getattr(request, "param", "http") == "https":
        tls = request.getfixturevalue("tls_server_context")
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(request.getfixturevalue("tls_ca_bundle")))
    with Sandbox(tmp_path / "bucket", tls=tls) as server:
        yield server


@pytest.fixture
def sandbox_env(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Point the tool at the sandbox through its documented environment variables."""
    env = {
        "PRODUCTIV_API_URL": sandbox.api_url,
        "PRODUCTIV_APP_ID": SANDBOX_APP_ID,
        "PRODUCTIV_ACCESS_TOKEN": SANDBOX_TOKEN,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def use_client_credentials(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, *, secret: str = "sandbox-secret",
    app_id: str = SANDBOX_APP_ID,
) -> None:  # fmt: skip
    """Point the tool at the sandbox's API and token endpoint with client credentials."""
    monkeypatch.setenv("PRODUCTIV_API_URL", sandbox.api_url)
    monkeypatch.setenv("PRODUCTIV_TOKEN_URL", sandbox.token_url)
    monkeypatch.setenv("PRODUCTIV_APP_ID", app_id)
    monkeypatch.setenv("PRODUCTIV_CLIENT_ID", "sandbox-client")
    monkeypatch.setenv("PRODUCTIV_CLIENT_SECRET", secret)


@dataclass
class Run:
    exit_code: int
    stdout: str
    stderr: str


def invoke(*args: str) -> Run:
    """Run the CLI in-process (typer's runner) with the current environment."""
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    return Run(result.exit_code, result.stdout, result.stderr)


def run_process(*args: str, cwd: Path | None = None, timeout: float = 60) -> Run:
    """Run the CLI as a real process, as cron would, stdout and stderr being pipes."""
    completed = subprocess.run(
        [sys.executable, "-m", "productiv_upload", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        check=False,
    )
    return Run(completed.returncode, completed.stdout, completed.stderr)


def make_files(folder: Path, count: int, *, size: int = 64, prefix: str = "f") -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number in range(count):
        path = folder / f"{prefix}{number:04d}.json"
        path.write_bytes(os.urandom(size))
        paths.append(path)
    return paths


StartCli = Callable[..., "subprocess.Popen[str]"]


@pytest.fixture
def start_cli() -> Iterator[StartCli]:
    """Starts the CLI in processes of its own, and kills any still running when the test ends,
    failed or not."""
    started: list[subprocess.Popen[str]] = []

    def start(*args: str) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, "-m", "productiv_upload", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate()


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    """Poll until `condition()` holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the process to make progress"
        time.sleep(0.01)


Mount = Callable[..., Path]


@pytest.fixture
def tmpfs() -> Iterator[Mount]:
    """Mounts small tmpfs filesystems (a real full disk, a real read-only one); unmounts them."""
    mounted: list[Path] = []

    def mount(path: Path, size: str, *, read_only: bool = False) -> Path:
        path.mkdir(parents=True, exist_ok=True)
        options = f"size={size},mode=0755" + (",ro" if read_only else "")
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                              capture_output=True, text=True, check=False)  # fmt: skip
        if done.returncode != 0:
            pytest.skip(f"this machine refuses to mount a tmpfs ({done.stderr.strip()})")
        mounted.append(path)
        return path

    yield mount
    for path in reversed(mounted):
        subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


def remount(path: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(path)], check=True)


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


needs_ipv6 = pytest.mark.skipif(
    not _has_ipv6_loopback(), reason="this machine has no IPv6 loopback (::1)"
)
