"""`watch` as a real process against the sandbox: files arriving, settling, failing, and SIGTERM."""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from productiv_upload.core.integrations.file_events import remote_fs_type
from productiv_upload.core.journal import JOURNAL_NAME, Journal, JournalError
from productiv_upload.sandbox import SANDBOX_APP_ID, Sandbox
from productiv_upload.service.api import PROBE_FILENAME
from tests.conftest import StartCli, wait_for

WAIT_S = 30.0  # a settle time, a batch wait and a rescan may pass before a file goes up


@pytest.fixture
def start_watch(start_cli: StartCli) -> StartCli:
    """Starts `watch` processes (killed at the end of the test, as `start_cli` does)."""
    return functools.partial(start_cli, "watch")


def stop(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=20)
    return process.returncode, stdout, stderr


def stored(sandbox: Sandbox, name: str) -> bytes | None:
    path = sandbox.stored_path(SANDBOX_APP_ID, name)
    return path.read_bytes() if path.exists() else None


def test_files_present_new_slow_and_renamed_are_each_sent_once_when_settled(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path, start_watch: StartCli
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / "before.json").write_bytes(b'{"before": 1}')
    watch = start_watch("--min-age", "1", "--batch-wait", "0.2", str(spool))
    wait_for(lambda: stored(sandbox, "before.json") is not None, WAIT_S)

    # A slow writer, in place, in bursts further apart than nothing but shorter than min-age.
    slow = spool / "slow.json"
    with slow.open("wb") as out:
        for chunk in range(4):
            out.write(b'{"chunk": %d}\n' % chunk)
            out.flush()
            time.sleep(0.4)
            assert stored(sandbox, "slow.json") is None, "sent before the writer finished"
    # A finished file renamed into the folder.
    staging = tmp_path / "staging.json"
    staging.write_bytes(b'{"renamed": true}')
    staging.rename(spool / "renamed.json")
    for number in range(20):
        (spool / f"burst{number}.json").write_bytes(b"x" * number)

    names = ["slow.json", "renamed.json", *(f"burst{n}.json" for n in range(20))]
    # Every file in the journal, not just in storage: only then is each one told of.
    wait_for(lambda: journaled(tmp_path / "state") == 1 + len(names), WAIT_S)
    code, stdout, stderr = stop(watch)

    assert code == 0, stderr
    assert "productiv-upload watch: watching" in stderr
    for name in ["before.json", *names]:
        assert stored(sandbox, name) == (spool / name).read_bytes()
        assert sandbox.put_count(SANDBOX_APP_ID, name) == 1
        assert f" uploaded {spool / name} " in stdout


def checked_access(sandbox: Sandbox) -> bool:
    """Whether the watch has made its start-up check (an upload URL for a probe name)."""
    return any(PROBE_FILENAME in r.path for r in sandbox.requests_of("api"))


def journaled(state_dir: Path) -> int:
    """How many uploads the journal holds; 0 until the service has created it."""
    try:
        journal = Journal.open_existing(state_dir / JOURNAL_NAME)
        if journal is None:
            return 0
        with journal:
            return len(list(journal.history()))
    except JournalError:
        return 0  # the file exists, its table not yet


def test_a_restart_sends_nothing_twice_and_move_to_empties_the_folder(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path, start_watch: StartCli
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    for number in range(5):
        (spool / f"a{number}.json").write_bytes(b"a%d" % number)
    first = start_watch("--min-age", "0.5", str(spool))
    # Stopped once all five are in the journal: a stop while one is still in flight may
    # rightly send that one again (at most the files in flight are resent).
    wait_for(lambda: journaled(tmp_path / "state") == 5, WAIT_S)
    assert stop(first)[0] == 0
    for number in range(5):
        (spool / f"b{number}.json").write_bytes(b"b%d" % number)

    second = start_watch("--min-age", "0.5", "--move-to", str(spool / "sent"), str(spool))
    wait_for(lambda: sorted(p.name for p in spool.iterdir()) == ["sent"], WAIT_S)
    code, stdout, _ = stop(second)

    assert code == 0
    assert stdout.count(" skipped ") == 5, stdout  # the a-files: in the journal already
    assert len(sandbox.requests_of("put")) == 10
    assert len(list((spool / "sent").iterdir())) == 10


def test_json_lines_and_polling(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path, start_watch: StartCli
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    watch = start_watch("--json", "--poll", "0.3", "--min-age", "0.5", str(spool))
    (spool / "one.json").write_bytes(b"1")
    wait_for(lambda: journaled(tmp_path / "state") == 1, WAIT_S)
    code, stdout, stderr = stop(watch)

    assert code == 0
    assert "(polling every 0.3 s)" in stderr
    [line] = stdout.splitlines()
    entry = json.loads(line)
    assert entry["filename"] == "one.json"
    assert entry["status"] == "uploaded"
    assert entry["time"].endswith("+00:00")


def inject_api_outage(sandbox: Sandbox) -> None:
    sandbox.faults.api_errors.extend([(503, None)] * 2)  # both tries of the first round


def inject_storage_outage(sandbox: Sandbox) -> None:
    sandbox.faults.put_errors.extend([503] * 4)  # every try of the first round


@pytest.mark.parametrize(
    ("inject", "reason"),
    [(inject_api_outage, ": the API failed (503"),
     (inject_storage_outage, ": storage answered 503")],
)  # fmt: skip
def test_an_outage_is_retried_after_the_backoff_without_a_restart(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path, start_watch: StartCli,
    inject: Callable[[Sandbox], None], reason: str,
) -> None:  # fmt: skip
    spool = tmp_path / "spool"
    spool.mkdir()
    watch = start_watch("--min-age", "0.3", "--retries", "1", "--retry-wait", "1", str(spool))
    wait_for(lambda: checked_access(sandbox), WAIT_S)  # the outage begins once it runs
    inject(sandbox)
    (spool / "late.json").write_bytes(b"late")
    wait_for(lambda: journaled(tmp_path / "state") == 1, WAIT_S)
    code, stdout, _ = stop(watch)

    assert code == 0
    assert f"failed {spool / 'late.json'}{reason}" in stdout
    assert f"uploaded {spool / 'late.json'}" in stdout
    assert sandbox.put_count(SANDBOX_APP_ID, "late.json") == 1


def test_refused_credentials_end_the_service_with_exit_3(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path,
    start_watch: StartCli, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("PRODUCTIV_ACCESS_TOKEN", "not-a-valid-token")
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / "a.json").write_bytes(b"a")
    watch = start_watch("--min-age", "0.2", str(spool))
    _, stderr = watch.communicate(timeout=30)

    assert watch.returncode == 3
    assert "401" in stderr
    assert "not-a-valid-token" not in stderr


def test_a_missing_folder_is_bad_usage_that_names_it_missing(
    sandbox_env: dict[str, str], tmp_path: Path, start_watch: StartCli
) -> None:
    (tmp_path / "a-file").write_bytes(b"x")
    watch = start_watch(str(tmp_path / "missing"), str(tmp_path / "a-file"))
    _, stderr = watch.communicate(timeout=30)

    assert watch.returncode == 2
    assert f"{tmp_path / 'missing'} does not exist" in stderr
    assert f"{tmp_path / 'a-file'} is not a folder" in stderr
    assert "Traceback" not in stderr


def test_sigterm_while_files_are_in_flight_drains_and_exits_0(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path, start_watch: StartCli
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    sandbox.faults.stall_puts_s = 1.0
    names = [f"s{number}.json" for number in range(4)]
    for name in names:
        (spool / name).write_bytes(os.urandom(100))
    watch = start_watch("--min-age", "0.2", "-j", "4", str(spool))
    wait_for(lambda: sandbox.peak_puts >= 1, WAIT_S)
    code, stdout, _ = stop(watch)

    assert code == 0
    assert "interrupted: letting" in stdout
    stored_names = {n for n in names if sandbox.put_count(SANDBOX_APP_ID, n) == 1}
    reported = {n for n in names if f"uploaded {spool / n} " in stdout}
    cut_short = {n for n in names if f"{spool / n}: interrupted while it was being sent" in stdout}
    # Each transfer in flight finished within the 5 s grace and was reported uploaded, or, on a
    # machine too busy for that, was reported cut short (a rerun sends it again). Nothing
    # reported uploaded is missing from storage.
    assert reported <= stored_names, stdout
    assert stored_names <= reported | cut_short, stdout
    assert reported, stdout


def test_hundreds_of_files_arriving_together_go_up_once_each_in_batches(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path, start_watch: StartCli
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    watch = start_watch("--min-age", "0.5", "-j", "8", str(spool))
    wait_for(lambda: bool(watch.stderr and watch.poll() is None), WAIT_S)
    contents = {f"many{n:03d}.json": os.urandom(50 + n) for n in range(300)}
    for name, data in contents.items():
        (spool / name).write_bytes(data)
    wait_for(lambda: all(stored(sandbox, name) is not None for name in contents), 60.0)
    code, _, _ = stop(watch)

    assert code == 0
    for name, data in contents.items():
        assert stored(sandbox, name) == data
        assert sandbox.put_count(SANDBOX_APP_ID, name) == 1
    batches = [r.path.count("filenames=") for r in sandbox.requests_of("api")
               if PROBE_FILENAME not in r.path]  # fmt: skip
    assert sum(batches) == 300
    assert max(batches) <= 100


def test_a_replaced_folder_is_watched_again(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path, start_watch: StartCli
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / "first.json").write_bytes(b"1")
    watch = start_watch("--min-age", "0.3", str(spool))
    wait_for(lambda: stored(sandbox, "first.json") is not None, WAIT_S)

    spool.rename(tmp_path / "old-spool")
    spool.mkdir()
    time.sleep(0.5)  # the old watch reports the move; the new folder is watched
    (spool / "second.json").write_bytes(b"2")
    # Well before the 30 s safety rescan: the OS events of the new folder bring it.
    wait_for(lambda: stored(sandbox, "second.json") is not None, 10.0)
    code, _, stderr = stop(watch)

    assert code == 0, stderr


def test_a_folder_on_a_network_filesystem_is_polled() -> None:
    mountinfo = (
        "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
        "40 22 0:35 / /mnt/exports rw,relatime shared:20 - nfs4 server:/exports rw,vers=4.2\n"
        "41 22 0:36 / /mnt/my\\040share rw - cifs //server/share rw\n"
        "42 40 8:2 / /mnt/exports/local rw - ext4 /dev/sda2 rw\n"
    )

    assert remote_fs_type("/mnt/exports/outbox", mountinfo) == "nfs4"
    assert remote_fs_type("/mnt/my share/x", mountinfo) == "cifs"
    assert remote_fs_type("/mnt/exports/local/outbox", mountinfo) is None
    assert remote_fs_type("/home/me/outbox", mountinfo) is None
    assert remote_fs_type("/mnt/exportsx", mountinfo) is None


def test_files_moved_into_a_move_to_folder_inside_the_watched_one_are_not_sent_again(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path, start_watch: StartCli
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    for number in range(3):
        (spool / f"m{number}.json").write_bytes(b"m%d" % number)
    both = start_watch("--delete-after", "--move-to", str(spool / "sent"), str(spool))
    _, refusal = both.communicate(timeout=30)
    assert both.returncode == 2
    assert "choose --move-to or --delete-after, not both" in refusal

    watch = start_watch("-r", "--min-age", "0.3", "--move-to", str(spool / "sent"), str(spool))
    wait_for(lambda: len(list((spool / "sent").glob("*.json"))) == 3, WAIT_S)
    time.sleep(1.5)  # long enough for the moved files to settle, were they taken for new ones
    code, stdout, _ = stop(watch)

    assert code == 0
    assert stdout.count(" uploaded ") == 3
    for number in range(3):
        assert sandbox.put_count(SANDBOX_APP_ID, f"m{number}.json") == 1


def test_a_second_service_for_the_same_app_exits_4(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path, start_watch: StartCli
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    first = start_watch(str(spool))
    assert first.stderr is not None
    assert "watching" in first.stderr.readline()  # the lock is held from the start

    second = start_watch(str(spool))
    _, stderr = second.communicate(timeout=30)
    code, _, _ = stop(first)

    assert second.returncode == 4, stderr
    assert code == 0


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stopped_watch_says_so_with_what_it_did(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path, start_watch: StartCli,
    signum: int,
) -> None:  # fmt: skip
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / "one.json").write_bytes(b"1")
    watch = start_watch("--min-age", "0.2", str(spool))
    wait_for(lambda: journaled(tmp_path / "state") == 1, WAIT_S)
    watch.send_signal(signum)
    _, stderr = watch.communicate(timeout=20)

    assert watch.returncode == 0
    assert stderr.rstrip().endswith(
        "productiv-upload watch: stopped; since it started 1 uploaded, 0 skipped, 0 failed"
    )
