"""Kills, signals and overlapping runs, with real processes, as cron and systemd deliver them."""

from __future__ import annotations

import functools
import json
import re
import signal
import time
from pathlib import Path

import pytest

from productiv_upload.sandbox import SANDBOX_APP_ID, Sandbox
from tests.conftest import StartCli, invoke, make_files, wait_for


@pytest.fixture
def start_push(start_cli: StartCli) -> StartCli:
    """Starts `push` processes (killed at the end of the test, as `start_cli` does)."""
    return functools.partial(start_cli, "push")


def stored_puts(sandbox: Sandbox) -> int:
    return sum(1 for r in sandbox.requests_of("put") if r.status == 200)


def test_sigkill_mid_run_then_rerun_sends_only_what_was_in_flight(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path, start_push: StartCli
) -> None:
    files = make_files(tmp_path / "exports", 40, size=2000)
    sandbox.faults.latency_s = 0.05
    process = start_push("-j", "4", *map(str, files))
    wait_for(lambda: stored_puts(sandbox) >= 8)

    process.kill()
    process.communicate(timeout=10)
    sandbox.faults.latency_s = 0
    rerun = invoke("push", "--json", "-j", "4", *map(str, files))

    assert rerun.exit_code == 0, rerun.stderr
    counts = [sandbox.put_count(SANDBOX_APP_ID, f.name) for f in files]
    assert min(counts) == 1  # none missing
    assert max(counts) <= 2
    assert counts.count(2) <= 4  # resent: at most the files that were in flight
    for path in files:
        assert sandbox.stored_path(SANDBOX_APP_ID, path.name).read_bytes() == path.read_bytes()
    skipped = json.loads(rerun.stdout)["counts"]["skipped"]
    assert skipped >= 8 - 4


def interrupt_and_rerun(
    sandbox: Sandbox, files: list[Path], signum: int, start_push: StartCli
) -> None:
    sandbox.faults.latency_s = 0.05
    process = start_push("-j", "4", *map(str, files))
    wait_for(lambda: stored_puts(sandbox) >= 8)

    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=15)

    assert process.returncode == 130, stderr
    assert "interrupted" in stdout + stderr
    summary = stdout.splitlines()[-1]
    assert summary.startswith(f"{len(files)} files:")
    uploaded_first = stored_puts(sandbox)

    sandbox.faults.latency_s = 0
    rerun = invoke("push", "--json", *map(str, files))
    assert rerun.exit_code == 0, rerun.stderr
    report = json.loads(rerun.stdout)
    # In-flight PUTs were given time to finish and were recorded: nothing is sent twice.
    assert report["counts"]["skipped"] == uploaded_first
    assert [sandbox.put_count(SANDBOX_APP_ID, f.name) for f in files] == [1] * len(files)


def test_sigint_finishes_in_flight_records_them_and_exits_130(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path, start_push: StartCli
) -> None:
    interrupt_and_rerun(sandbox, make_files(tmp_path / "exports", 40), signal.SIGINT, start_push)


def test_sigterm_is_handled_like_ctrl_c(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path, start_push: StartCli
) -> None:
    interrupt_and_rerun(sandbox, make_files(tmp_path / "exports", 40), signal.SIGTERM, start_push)


def test_a_second_interrupt_stops_at_once(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path, start_push: StartCli
) -> None:
    files = make_files(tmp_path / "exports", 8)
    sandbox.faults.stall_puts_s = 30  # in-flight PUTs would hold the run for the grace period
    process = start_push("-j", "4", *map(str, files))
    wait_for(lambda: len(sandbox.requests_of("api")) >= 1)
    time.sleep(0.3)  # let the PUTs start

    started = time.monotonic()
    process.send_signal(signal.SIGINT)
    time.sleep(0.3)
    process.send_signal(signal.SIGINT)
    stdout, _ = process.communicate(timeout=10)

    assert process.returncode == 130
    assert time.monotonic() - started < 4  # well inside the 5 s grace period
    assert "interrupted while it was being sent" in stdout


def test_two_pushes_for_one_app_exit_4_naming_the_holder_or_wait(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path, start_push: StartCli
) -> None:
    files = make_files(tmp_path / "exports", 6)
    sandbox.faults.latency_s = 0.2
    first = start_push("-j", "1", *map(str, files))
    wait_for(lambda: len(sandbox.requests_of("api")) >= 1)

    second = invoke("push", *map(str, files))
    assert second.exit_code == 4
    assert f"PID {first.pid}" in second.stderr
    assert "--wait-lock" in second.stderr

    sandbox.apps.add("other-app")
    other = invoke("push", "--app-id", "other-app", "--json", str(files[0]))
    assert other.exit_code == 0  # another app is not blocked

    waited = invoke("push", "--wait-lock", "30", "--json", *map(str, files))
    first.communicate(timeout=30)
    assert first.returncode == 0
    assert waited.exit_code == 0, waited.stderr
    assert json.loads(waited.stdout)["counts"]["skipped"] == len(files)
    assert all(sandbox.put_count(SANDBOX_APP_ID, f.name) == 1 for f in files)


def test_a_lock_left_by_a_killed_run_does_not_block_the_next(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path, start_push: StartCli
) -> None:
    files = make_files(tmp_path / "exports", 10)
    sandbox.faults.latency_s = 0.2
    first = start_push("-j", "1", *map(str, files))
    wait_for(lambda: len(sandbox.requests_of("api")) >= 1)
    first.kill()
    first.communicate(timeout=10)
    sandbox.faults.latency_s = 0

    run = invoke("push", *map(str, files))

    assert run.exit_code == 0, run.stderr


def interrupt_after_some_uploads(
    sandbox: Sandbox, start_push: StartCli, *args: str
) -> tuple[str, str]:
    sandbox.faults.latency_s = 0.05
    process = start_push("-j", "4", *args)
    wait_for(lambda: stored_puts(sandbox) >= 8)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=15)
    assert process.returncode == 130, stderr
    return stdout, stderr


SUMMARY = re.compile(
    r"^300 files: (\d+) uploaded, 0 skipped, (\d+) failed, (\d+) not sent; .* in .*; "
    r"interrupted: run the same command again to send the rest$"
)


def test_an_interrupted_run_counts_the_files_it_never_started_in_one_line(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path, start_push: StartCli
) -> None:
    files = make_files(tmp_path / "exports", 300)
    pattern = str(tmp_path / "exports" / "*.json")
    report_path = tmp_path / "report.json"

    stdout, _ = interrupt_after_some_uploads(sandbox, start_push, "--report", str(report_path),
                                             pattern)  # fmt: skip

    lines = stdout.splitlines()
    summary = SUMMARY.match(lines[-1])
    assert summary, lines[-1]
    uploaded, failed, not_sent = map(int, summary.groups())
    assert uploaded == stored_puts(sandbox)
    assert uploaded + failed + not_sent == 300
    assert not_sent > 200
    assert lines[-2] == f"{not_sent} files not sent: the run was interrupted before they started"
    assert "interrupted before it was sent" not in stdout  # not a line for each
    # The report still lists every file, those never started as failed with the reason.
    report = json.loads(report_path.read_text())
    assert len(report["files"]) == 300
    never = [f for f in report["files"] if f["error"] == "interrupted before it was sent"]
    assert len(never) == not_sent
    assert {f["status"] for f in never} == {"failed"}

    sandbox.faults.latency_s = 0
    rerun = invoke("push", "--json", pattern)  # the same command sends the rest
    assert rerun.exit_code == 0, rerun.stderr
    assert json.loads(rerun.stdout)["counts"]["skipped"] == uploaded
    assert [sandbox.put_count(SANDBOX_APP_ID, f.name) for f in files] == [1] * 300


def test_an_interrupted_quiet_run_says_it_in_its_one_summary_line(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path, start_push: StartCli
) -> None:
    make_files(tmp_path / "exports", 300)

    stdout, _ = interrupt_after_some_uploads(sandbox, start_push, "-q",
                                             str(tmp_path / "exports" / "*.json"))  # fmt: skip

    notice, *failed, summary = stdout.splitlines()
    assert SUMMARY.match(summary), summary
    # With -j 4, up to four are in flight: fewer when the signal lands as one has just ended.
    in_flight = re.search(r"interrupted: letting (\d) transfer\(s\) in flight finish", notice)
    assert in_flight is not None, notice
    assert 1 <= int(in_flight[1]) <= 4
    # Between them, only the files cut short while being sent, each with its reason.
    assert all(line.endswith("interrupted while it was being sent") for line in failed), failed
    assert len(failed) <= int(in_flight[1])


def test_an_interrupted_json_run_says_on_stderr_what_was_not_sent(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path, start_push: StartCli
) -> None:
    make_files(tmp_path / "exports", 300)

    stdout, stderr = interrupt_after_some_uploads(sandbox, start_push, "--json",
                                                  str(tmp_path / "exports" / "*.json"))  # fmt: skip

    report = json.loads(stdout)
    uploaded = report["counts"]["uploaded"]
    not_sent = sum(f["error"] == "interrupted before it was sent" for f in report["files"])
    assert stderr.splitlines()[-1] == (
        f"productiv-upload: interrupted: {uploaded} of 300 files uploaded, {not_sent} not sent; "
        "run the same command again to send the rest"
    )
