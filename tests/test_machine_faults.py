"""When the machine itself is the problem: full disks, things in the way, closed pipes.

Each fault is provoked for real (a small tmpfs is a real full disk, /dev/full a real full
device, a file where a folder should be is a real file) and the tool runs as a real process.
Each must end as README's "When the machine itself is the problem" says: one message naming
the path and the system's reason, no traceback, nothing lost, and a rerun in a sane environment
sends the rest and nothing twice.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from productiv_upload.sandbox import SANDBOX_APP_ID, Sandbox
from tests.conftest import Mount, Run, make_files, remount


def fill(folder: Path) -> None:
    """Fill the filesystem holding `folder` to the last block."""
    with open(folder / "filler", "wb") as filler:
        try:
            while True:
                filler.write(b"\0" * 65536)
                filler.flush()
        except OSError:
            pass


def push(*args: str, state: Path | None = None) -> Run:
    env = {"PRODUCTIV_UPLOAD_STATE_DIR": str(state)} if state is not None else {}
    return run_process_env(env, "push", *args)


def run_process_env(env: dict[str, str], *args: str) -> Run:
    completed = subprocess.run(
        [sys.executable, "-m", "productiv_upload", *args],
        capture_output=True, text=True, timeout=120, check=False, env={**os.environ, **env},
    )  # fmt: skip
    return Run(completed.returncode, completed.stdout, completed.stderr)


def entries(run: Run) -> dict[str, dict[str, Any]]:
    report = json.loads(run.stdout)
    return {entry["filename"]: entry for entry in report["files"]}


def assert_one_clean_message(run: Run, *needles: str) -> None:
    assert "Traceback" not in run.stderr, run.stderr
    errors = [
        line for line in run.stderr.splitlines() if line.startswith("productiv-upload: error")
    ]
    assert len(errors) == 1, run.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]


def assert_nothing_sent(sandbox: Sandbox) -> None:
    assert sandbox.requests_of("api") == []
    assert sandbox.requests_of("put") == []


def assert_each_stored_once(sandbox: Sandbox, files: list[Path]) -> None:
    for path in files:
        assert sandbox.stored_path(SANDBOX_APP_ID, path.name).read_bytes() == path.read_bytes()
        assert sandbox.put_count(SANDBOX_APP_ID, path.name) == 1, path.name


# --- the state directory ---


def test_a_file_where_the_state_directory_should_be_is_refused_before_anything_is_sent(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    files = make_files(tmp_path / "exports", 3)
    blocker = tmp_path / "state-file"
    blocker.write_bytes(b"not a folder")

    run = push(*map(str, files), state=blocker / "state")

    assert run.exit_code == 2
    assert_one_clean_message(run, str(blocker), "is a file, not a folder")
    assert_nothing_sent(sandbox)
    assert push(*map(str, files), state=tmp_path / "state").exit_code == 0
    assert_each_stored_once(sandbox, files)


def test_a_file_where_the_lock_folder_should_be_is_refused(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    files = make_files(tmp_path / "exports", 2)
    state = tmp_path / "state"
    state.mkdir()
    (state / "locks").write_bytes(b"in the way")

    run = push(*map(str, files), state=state)

    assert run.exit_code == 2
    assert_one_clean_message(run, str(state / "locks"), "is a file, not a folder")
    assert_nothing_sent(sandbox)


def test_a_state_directory_under_proc_is_refused_with_the_system_reason(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    files = make_files(tmp_path / "exports", 1)

    run = push(*map(str, files), state=Path("/proc/productiv-upload-state"))

    assert run.exit_code == 2
    assert_one_clean_message(run, "/proc/productiv-upload-state", "No such file or directory")
    assert_nothing_sent(sandbox)


def test_a_read_only_state_directory_is_refused(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path, tmpfs: Mount
) -> None:
    files = make_files(tmp_path / "exports", 1)
    state = tmpfs(tmp_path / "ro", "1m", read_only=True)

    run = push(*map(str, files), state=state)

    assert run.exit_code == 2
    assert_one_clean_message(run, str(state), "Read-only file system")
    assert_nothing_sent(sandbox)


def test_a_state_directory_on_a_full_disk_is_refused_then_a_rerun_with_room_sends_all(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path, tmpfs: Mount
) -> None:
    files = make_files(tmp_path / "exports", 5)
    disk = tmpfs(tmp_path / "disk", "256k")
    fill(disk)

    run = push(*map(str, files), state=disk / "state")

    assert run.exit_code == 2
    assert_one_clean_message(run, str(disk / "state"))
    assert "space" in run.stderr.lower() or "full" in run.stderr.lower()
    assert_nothing_sent(sandbox)
    (disk / "filler").unlink()
    assert push(*map(str, files), state=disk / "state").exit_code == 0
    assert_each_stored_once(sandbox, files)


def test_a_journal_that_fills_the_disk_part_way_stops_the_run_and_loses_nothing(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path, tmpfs: Mount
) -> None:
    files = make_files(tmp_path / "exports", 200)
    disk = tmpfs(tmp_path / "disk", "200k")  # room to start, not for 200 records one by one

    run = push("--json", "-j", "1", *map(str, files), state=disk / "state")

    assert run.exit_code == 1
    assert "Traceback" not in run.stderr
    assert f"the journal {disk / 'state' / 'journal.sqlite3'} cannot be written" in run.stderr
    assert "a rerun may send them again" in run.stderr
    by_name = entries(run)
    uploaded = [n for n, e in by_name.items() if e["status"] == "uploaded"]
    unrecorded = [n for n, e in by_name.items() if e["status"] == "uploaded" and e["error"]]
    not_sent = [n for n, e in by_name.items() if e["status"] == "failed"]
    assert uploaded
    assert unrecorded
    assert not_sent
    assert all("not recorded in the journal" in by_name[n]["error"] for n in unrecorded)
    assert all(by_name[n]["error"].startswith("not sent: ") for n in not_sent)
    assert all(sandbox.put_count(SANDBOX_APP_ID, n) == 1 for n in uploaded)
    assert all(sandbox.put_count(SANDBOX_APP_ID, n) == 0 for n in not_sent)

    remount(disk, "size=16m")
    rerun = push("--json", *map(str, files), state=disk / "state")

    assert rerun.exit_code == 0, rerun.stderr
    for path in files:
        assert sandbox.stored_path(SANDBOX_APP_ID, path.name).read_bytes() == path.read_bytes()
        sent_again_allowed = 2 if path.name in unrecorded else 1
        assert 1 <= sandbox.put_count(SANDBOX_APP_ID, path.name) <= sent_again_allowed


# --- what the run writes for the user ---


@pytest.mark.parametrize("option", ["--report", "--log-file"])
def test_a_report_or_log_on_a_full_device_is_named_and_exit_1_but_the_uploads_stand(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path, option: str
) -> None:
    files = make_files(tmp_path / "exports", 4)

    run = push(option, "/dev/full", *map(str, files), state=tmp_path / "state")

    assert run.exit_code == 1
    assert_one_clean_message(run, f"cannot write {option} /dev/full", "No space left on device")
    assert_each_stored_once(sandbox, files)
    rerun = push("--json", *map(str, files), state=tmp_path / "state")
    assert rerun.exit_code == 0
    assert {e["status"] for e in entries(rerun).values()} == {"skipped"}
    assert_each_stored_once(sandbox, files)


@pytest.mark.parametrize("option", ["--report", "--log-file"])
def test_a_report_or_log_in_a_missing_folder_is_refused_before_anything_is_sent(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path, option: str
) -> None:
    files = make_files(tmp_path / "exports", 2)
    (tmp_path / "a-file").write_bytes(b"x")

    missing = push(option, str(tmp_path / "nowhere" / "out"), *map(str, files))
    blocked = push(option, str(tmp_path / "a-file" / "out"), *map(str, files))
    under_proc = push(option, "/proc/productiv-upload-out", *map(str, files))

    assert (missing.exit_code, blocked.exit_code, under_proc.exit_code) == (2, 2, 2)
    assert_one_clean_message(missing, f"the folder {tmp_path / 'nowhere'} does not exist")
    assert_one_clean_message(blocked, f"{tmp_path / 'a-file'} is not a folder")
    assert_one_clean_message(under_proc, "cannot create a file in /proc")
    assert_nothing_sent(sandbox)


def test_a_report_to_dev_stdout_is_written_into_the_stream_not_over_the_device(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    files = make_files(tmp_path / "exports", 2)
    before = os.lstat("/dev/stdout")

    run = push("-q", "--report", "/dev/stdout", *map(str, files))

    assert run.exit_code == 0, run.stderr
    assert '"version": 1' in run.stdout
    after = os.lstat("/dev/stdout")
    assert (after.st_ino, after.st_mode) == (before.st_ino, before.st_mode)


def test_stdout_closed_early_stops_cleanly_and_a_rerun_sends_the_rest(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    files = make_files(tmp_path / "exports", 300)
    sandbox.faults.latency_s = 0.01
    state = tmp_path / "state"
    process = subprocess.Popen(
        [sys.executable, "-m", "productiv_upload", "push", "-j", "2", *map(str, files)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, "PRODUCTIV_UPLOAD_STATE_DIR": str(state)},
    )  # fmt: skip
    assert process.stdout is not None
    assert process.stderr is not None
    with process.stdout, process.stderr:
        first = process.stdout.readline()  # as `| head -1` would, then the reader goes away
        process.stdout.close()
        stderr = process.stderr.read().decode()
        code = process.wait(timeout=60)

    assert b" uploaded " in first
    assert code == 1
    assert "Traceback" not in stderr
    assert "stdout was closed early (Broken pipe)" in stderr
    assert "run the same command again to send the rest" in stderr
    sent_first = [p for p in files if sandbox.put_count(SANDBOX_APP_ID, p.name)]
    assert 0 < len(sent_first) < len(files)

    sandbox.faults.latency_s = 0
    rerun = push("--json", *map(str, files), state=state)
    assert rerun.exit_code == 0
    assert {e["status"] for n, e in entries(rerun).items() if Path(n) in sent_first} <= {"skipped"}
    assert_each_stored_once(sandbox, files)


def test_a_stopped_force_run_says_to_rerun_without_force(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    files = make_files(tmp_path / "exports", 200)
    sandbox.faults.latency_s = 0.01
    process = subprocess.Popen(
        [sys.executable, "-m", "productiv_upload", "push", "--force", "-j", "1",
         *map(str, files)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    assert process.stderr is not None
    with process.stdout, process.stderr:
        process.stdout.readline()
        process.stdout.close()
        stderr = process.stderr.read().decode()
        process.wait(timeout=60)

    # The same command would send everything again: --force is what it must leave out.
    assert "run it again without --force to send only the rest" in stderr
    assert "run the same command again" not in stderr


# --- --move-to and --delete-after ---


def test_move_to_a_full_filesystem_leaves_the_file_whole_and_no_partial_copy(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path, tmpfs: Mount
) -> None:
    files = make_files(tmp_path / "exports", 3, size=300_000)
    sent = tmpfs(tmp_path / "sent", "512k")  # room for one file, not three
    originals = {p: p.read_bytes() for p in files}

    run = push("--json", "--move-to", str(sent), *map(str, files), state=tmp_path / "state")

    assert run.exit_code == 1
    assert "Traceback" not in run.stderr
    assert "No space left on device" in run.stderr
    assert {e["status"] for e in entries(run).values()} == {"uploaded"}
    moved = sorted(p.name for p in sent.iterdir())
    assert not [name for name in moved if name.startswith(".")]  # no partial copy left
    for path, data in originals.items():
        where = sent / path.name if path.name in moved else path
        assert where.read_bytes() == data  # whole, in one place or the other
        assert path.exists() != (path.name in moved)
        if path.exists():
            assert f"{path}: No space left on device" in run.stderr
        assert sandbox.stored_path(SANDBOX_APP_ID, path.name).read_bytes() == data
        assert sandbox.put_count(SANDBOX_APP_ID, path.name) == 1

    left = [p for p in files if p.exists()]
    rerun = push("--json", "--move-to", str(tmp_path / "elsewhere"), *map(str, left),
                 state=tmp_path / "state")  # fmt: skip
    assert rerun.exit_code == 0
    assert {e["status"] for e in entries(rerun).values()} == {"skipped"}
    assert all(sandbox.put_count(SANDBOX_APP_ID, p.name) == 1 for p in files)


def test_delete_after_on_a_read_only_folder_keeps_the_file_and_exits_1(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path, tmpfs: Mount
) -> None:
    spool = tmpfs(tmp_path / "spool", "1m")
    files = make_files(spool, 2)
    remount(spool, "ro")

    run = push("--delete-after", *map(str, files), state=tmp_path / "state")

    assert run.exit_code == 1
    assert "Traceback" not in run.stderr
    for path in files:
        assert path.exists()
        assert f"{path}: Read-only file system" in run.stderr
    assert_each_stored_once(sandbox, files)


# --- inputs that go wrong ---


def test_a_file_vanishing_between_listing_and_sending_is_failed_and_the_rest_go(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    files = make_files(tmp_path / "exports", 3)
    vanishing = files[1]
    sandbox.faults.before_urls = lambda names: vanishing.unlink(missing_ok=True)

    run = push("--json", *map(str, files), state=tmp_path / "state")

    assert run.exit_code == 1
    entry = entries(run)[vanishing.name]
    assert entry["status"] == "failed"
    assert entry["error"] == "cannot open the file: No such file or directory"
    assert "Traceback" not in run.stderr
    assert_each_stored_once(sandbox, [files[0], files[2]])


@pytest.mark.parametrize("source", ["folder", "missing", "/proc/self/mem"])
def test_files_from_that_cannot_be_read_is_bad_usage_naming_it(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path, source: str
) -> None:
    listing = {"folder": str(tmp_path), "missing": str(tmp_path / "missing.txt")}.get(
        source, source
    )

    run = push("--files-from", listing)

    assert run.exit_code == 2
    assert_one_clean_message(run, f"cannot read --files-from {listing}")
    assert_nothing_sent(sandbox)


def test_a_folder_where_the_config_file_should_be_is_bad_usage_naming_it(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config.toml"
    config.mkdir()
    monkeypatch.setenv("PRODUCTIV_UPLOAD_CONFIG", str(config))
    files = make_files(tmp_path / "exports", 1)

    run = push(*map(str, files))

    assert run.exit_code == 2
    assert_one_clean_message(run, str(config))
    assert_nothing_sent(sandbox)


def test_a_folder_where_the_journal_should_be_is_refused(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    state = tmp_path / "state"
    (state / "journal.sqlite3").mkdir(parents=True)
    files = make_files(tmp_path / "exports", 1)

    run = push(*map(str, files), state=state)

    assert run.exit_code == 2
    assert_one_clean_message(run, str(state / "journal.sqlite3"))
    assert_nothing_sent(sandbox)


def test_the_same_faults_under_watch_end_it_with_a_message_not_a_traceback(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    blocker = tmp_path / "state-file"
    blocker.write_bytes(b"x")
    spool = tmp_path / "spool"
    spool.mkdir()

    run = run_process_env({"PRODUCTIV_UPLOAD_STATE_DIR": str(blocker / "s")}, "watch", str(spool))

    assert run.exit_code == 2
    assert_one_clean_message(run, str(blocker), "is a file, not a folder")
