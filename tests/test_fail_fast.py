"""Failing fast: an API that cannot be reached costs one request's retries, not one per batch, and
a `watch` with refused credentials ends at start, not when the first file arrives hours later.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from productiv_upload.sandbox import SANDBOX_APP_ID, Sandbox
from tests.conftest import StartCli, invoke, make_files, wait_for


class DroppingListener:
    """A TCP port on loopback that accepts connections and closes them at once, counting them:
    a server that is there but never answers."""

    def __init__(self) -> None:
        self._socket = socket.create_server(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]
        self.accepted = 0
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        self._socket.settimeout(0.1)  # to notice `close` soon: accept() outlives a close()
        while not self._closed.is_set():
            try:
                connection, _ = self._socket.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            connection.close()

    def close(self) -> None:
        self._closed.set()
        self._thread.join(timeout=5)
        self._socket.close()


@pytest.fixture
def dropping() -> Iterator[DroppingListener]:
    listener = DroppingListener()
    yield listener
    listener.close()


def closed_port() -> int:
    """A loopback port nothing listens on (connections are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def point_at_port(port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The API at a loopback port, with a token nobody checks (nothing answers to check it)."""
    monkeypatch.setenv("PRODUCTIV_API_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("PRODUCTIV_APP_ID", SANDBOX_APP_ID)
    monkeypatch.setenv("PRODUCTIV_ACCESS_TOKEN", "a-token-for-nobody")


def push_report(*args: str) -> tuple[int, list[dict[str, object]]]:
    run = invoke("push", "--json", *args)
    return run.exit_code, json.loads(run.stdout)["files"]


def test_an_api_that_drops_every_connection_costs_one_requests_retries(
    dropping: DroppingListener, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    point_at_port(dropping.port, monkeypatch)
    files = make_files(tmp_path / "exports", 500, size=16)  # five batches of 100

    code, entries = push_report("--retries", "2", *map(str, files))

    assert code == 1
    assert dropping.accepted == 3  # the first batch's request and its 2 retries; no other
    reasons = [str(e["error"]) for e in entries]
    assert all(e["status"] == "failed" for e in entries)
    where = f"could not reach the API at 127.0.0.1:{dropping.port}"
    assert all(r.startswith(where) for r in reasons[:100])
    assert all(r.startswith(f"not sent: {where}") for r in reasons[100:])


def test_an_api_that_refuses_connections_fails_every_file_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = closed_port()
    point_at_port(port, monkeypatch)
    files = make_files(tmp_path / "exports", 250, size=16)

    code, entries = push_report("--retries", "1", *map(str, files))

    assert code == 1
    assert {e["status"] for e in entries} == {"failed"}
    assert all("connection refused" in str(e["error"]) for e in entries)


def test_an_api_answering_5xx_still_has_each_batch_asked_for(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    files = make_files(tmp_path / "exports", 300, size=16)
    sandbox.faults.api_errors.extend([(503, None)] * 2)  # the first request and its one retry

    code, entries = push_report("--retries", "1", "-j", "1", *map(str, files))

    assert code == 1
    statuses = [e["status"] for e in entries]
    assert statuses.count("failed") == 100
    assert statuses.count("uploaded") == 200


def test_watch_with_refused_credentials_exits_3_before_any_file_arrives(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path,
    start_cli: StartCli, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("PRODUCTIV_ACCESS_TOKEN", "not-a-valid-token")
    spool = tmp_path / "spool"
    spool.mkdir()  # empty: nothing but the start-up check can find out

    watch = start_cli("watch", str(spool))
    _, stderr = watch.communicate(timeout=30)

    assert watch.returncode == 3
    assert "401" in stderr
    assert "productiv-upload watch: watching" not in stderr  # it never started to watch


def test_watch_for_an_unknown_app_exits_3_at_start(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path, start_cli: StartCli
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()

    watch = start_cli("watch", "--app-id", "no-such-app", str(spool))
    _, stderr = watch.communicate(timeout=30)

    assert watch.returncode == 3
    assert "does not know app no-such-app (404" in stderr


def test_watch_waits_for_an_api_that_cannot_be_reached_yet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = closed_port()
    point_at_port(port, monkeypatch)
    spool = tmp_path / "spool"
    spool.mkdir()
    log = tmp_path / "stderr.txt"
    with log.open("w") as stderr:
        watch = subprocess.Popen(
            [sys.executable, "-m", "productiv_upload", "watch", "--retries", "0", str(spool)],
            stdout=subprocess.DEVNULL, stderr=stderr,
        )  # fmt: skip
    try:
        wait_for(lambda: log.read_text().count("cannot check the credentials yet") >= 2, 20)
        assert watch.poll() is None  # still waiting, not given up
    finally:
        watch.terminate()
        code = watch.wait(timeout=20)

    assert code == 0  # SIGTERM while waiting is a clean stop
    said = log.read_text()
    assert "connection refused; trying again in 1 s" in said
    assert "trying again in 2 s" in said
    assert "productiv-upload watch: watching" not in said


def test_allow_empty_names_a_missing_folder_and_succeeds(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "empty").mkdir()

    quiet_day = invoke("push", "--allow-empty", str(tmp_path / "empty" / "*.json"))
    typo = invoke("push", "--allow-empty", str(tmp_path / "emtpy" / "*.json"))
    deep = invoke("push", "--allow-empty", str(tmp_path / "nowhere" / "**" / "*.json"))
    without = invoke("push", str(tmp_path / "emtpy" / "*.json"))

    assert quiet_day.exit_code == typo.exit_code == deep.exit_code == 0
    assert "no such folder" not in quiet_day.stderr
    assert f"no such folder: {tmp_path / 'emtpy'} (in the pattern" in typo.stderr
    assert f"no such folder: {tmp_path / 'nowhere'}" in deep.stderr
    assert without.exit_code == 2
    assert f"no such folder: {tmp_path / 'emtpy'} (in the pattern" in without.stderr
    assert sandbox.requests == []  # nothing to send: nothing contacted


def test_a_run_with_nothing_to_send_still_needs_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRODUCTIV_APP_ID", SANDBOX_APP_ID)
    (tmp_path / "spool").mkdir()

    run = invoke("push", "--allow-empty", str(tmp_path / "spool" / "*.json"))
    dry = invoke("push", "--dry-run", "--allow-empty", str(tmp_path / "spool" / "*.json"))

    assert run.exit_code == 2
    assert "no credentials" in run.stderr
    assert dry.exit_code == 0  # a dry run contacts nothing and needs none


def test_watch_stopped_while_waiting_for_the_api_says_it_never_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start_cli: StartCli
) -> None:
    point_at_port(closed_port(), monkeypatch)
    spool = tmp_path / "spool"
    spool.mkdir()
    watch = start_cli("watch", str(spool))
    wait_for(lambda: (tmp_path / "state").exists(), 20)
    time.sleep(0.5)  # inside its start-up check
    watch.terminate()
    _, stderr = watch.communicate(timeout=20)

    assert watch.returncode == 0
    assert stderr.rstrip().endswith("productiv-upload watch: stopped before it started watching")


def test_a_storage_host_that_refuses_fails_its_files_after_one_files_retries(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    port = closed_port()
    sandbox.faults.signed_url_override = f"http://127.0.0.1:{port}/bucket/a.json?AWSAccessKeyId=AKIA&Signature=c2ln&Expires=9999999999"
    make_files(tmp_path / "exports", 30)

    code, files = push_report("-j", "1", "--retries", "2", str(tmp_path / "exports" / "*.json"))

    assert code == 1
    reason = f"storage at 127.0.0.1:{port}: connection refused"
    tried = [f for f in files if f["attempts"]]
    assert len(tried) == 1  # one file's retries, not thirty
    assert tried[0]["attempts"] == 3
    assert tried[0]["error"] == reason
    assert {f["error"] for f in files if not f["attempts"]} == {f"not sent: {reason}"}
