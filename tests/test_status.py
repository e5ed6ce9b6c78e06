"""`status`: the operator's view, read while pushes and watches run, never in their way."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from productiv_upload.sandbox import SANDBOX_APP_ID, Sandbox
from tests.conftest import StartCli, invoke, make_files, wait_for


def status_of(*args: str) -> dict[str, Any]:
    """`status --json` in a process of its own, as an operator runs it beside a service."""
    done = subprocess.run(
        [sys.executable, "-m", "productiv_upload", "status", "--json", *args],
        capture_output=True, text=True, timeout=20, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert isinstance(document, dict)
    return document


def the_app(document: dict[str, Any]) -> dict[str, Any]:
    apps: list[dict[str, Any]] = [a for a in document["apps"] if a["app_id"] == SANDBOX_APP_ID]
    [app] = apps
    return app


def test_status_during_a_push_shows_it_running_and_does_not_get_in_its_way(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path, start_cli: StartCli
) -> None:
    files = make_files(tmp_path / "exports", 4)
    invoke("push", "-q", str(files[0]))  # a journal and a first run on record
    sandbox.faults.stall_puts_s = 1.0
    push = start_cli("push", "-q", "-j", "1", *map(str, files[1:]))

    seen: list[dict[str, Any]] = []

    def running() -> bool:
        seen.extend(status_of()["apps"])
        return bool(seen) and seen[-1]["running"] is not None

    wait_for(running, 20)
    while push.poll() is None:  # status again and again while it works
        seen.append(the_app(status_of()))
    _, stderr = push.communicate()

    assert push.returncode == 0, stderr
    during = next(s for s in seen if s["running"] is not None)
    assert during["running"]["pid"] == push.pid
    assert during["running"]["kind"] == "push"
    assert during["last_run"]["pid"] == push.pid
    assert during["last_run"]["ended"] is None
    after = the_app(status_of())
    assert after["running"] is None
    assert after["last_run"]["exit_code"] == 0
    assert after["last_run"]["uploaded"] == 3
    assert after["last_upload"]["path"] in {str(p) for p in files[1:]}
    assert all(sandbox.put_count(SANDBOX_APP_ID, p.name) == 1 for p in files)


def test_status_shows_a_watch_its_last_failure_and_what_it_will_retry(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path, start_cli: StartCli
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    sandbox.faults.put_errors.extend([503] * 2)  # the first try and its one retry
    watch = start_cli("watch", "--min-age", "0.2", "--retries", "1", "--retry-wait", "600",
                      str(spool))  # fmt: skip
    (spool / "bad.json").write_bytes(b"bad")

    wait_for(lambda: any(app["retrying"] for app in status_of()["apps"]), 30)
    app = the_app(status_of())
    plain = invoke("status", "--app-id", SANDBOX_APP_ID)
    watch.send_signal(signal.SIGTERM)
    watch.communicate(timeout=30)
    stopped = the_app(status_of())

    assert app["running"]["kind"] == "watch"
    assert app["running"]["pid"] == watch.pid
    [waiting] = app["retrying"]
    assert waiting["path"] == str(spool / "bad.json")
    assert "storage answered 503" in waiting["reason"]
    assert app["last_failure"]["path"] == str(spool / "bad.json")
    assert app["last_success"] is not None  # from the start, before the failure
    assert plain.exit_code == 0
    assert f"a watch, PID {watch.pid}" in plain.stdout
    assert f"{spool / 'bad.json'} at " in plain.stdout
    assert stopped["running"] is None
    assert stopped["retrying"] == []
    assert stopped["last_run"]["exit_code"] == 0
    assert stopped["last_run"]["failed"] == 1


def test_status_with_nothing_recorded_says_so_and_exits_0(tmp_path: Path) -> None:
    everything = invoke("status")
    one = invoke("status", "--app-id", "someApp")
    document = json.loads(invoke("status", "--json").stdout)

    assert everything.exit_code == one.exit_code == 0
    assert "nothing recorded for any app yet" in everything.stdout
    assert "nothing recorded for app someApp yet" in one.stdout
    assert document["apps"] == []
    assert document["state_dir"] == str(tmp_path / "state")


def test_status_of_a_state_dir_that_is_a_file_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "file"
    blocker.write_bytes(b"x")
    monkeypatch.setenv("PRODUCTIV_UPLOAD_STATE_DIR", str(blocker))

    run = invoke("status")

    assert run.exit_code == 2
    assert f"the state directory {blocker} is not a folder" in run.stderr


def test_status_names_a_failed_file_by_its_full_path_and_not_files_never_tried(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    make_files(tmp_path / "exports", 1)
    sandbox.faults.put_errors.extend([500] * 2)
    monkeypatch.chdir(tmp_path)

    assert invoke("push", "-q", "--retries", "1", "exports/f0000.json").exit_code == 1
    failure = the_app(status_of())["last_failure"]

    assert failure["path"] == str(tmp_path / "exports" / "f0000.json")
    assert "storage answered 500" in failure["reason"]
