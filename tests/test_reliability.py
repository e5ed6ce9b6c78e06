"""Every file arrives exactly once: faults injected through the sandbox, over real HTTP."""

from __future__ import annotations

import collections
import contextlib
import hashlib
import json
import os
import sqlite3
import stat
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from productiv_upload.core.journal import JOURNAL_NAME, Journal, JournalError
from productiv_upload.core.model import LocalFile, Status
from productiv_upload.core.push.discover import discover
from productiv_upload.core.push.events import NullEvents, PushEvents
from productiv_upload.core.push.pusher import Pusher, PushOptions, arrived_so_far
from productiv_upload.sandbox import SANDBOX_APP_ID, SANDBOX_TOKEN, Sandbox
from productiv_upload.service.api import ProductivApi
from productiv_upload.service.http import make_session
from productiv_upload.service.retry import backoff_delay, parse_retry_after
from productiv_upload.service.storage import StorageClient
from productiv_upload.service.throttle import ByteRate, RequestRate, parse_rate
from productiv_upload.service.tokens import ClientCredentials, StaticToken
from tests.conftest import invoke, make_files, use_client_credentials
from tests.tls import over_http_and_https


def push_json(*args: str) -> tuple[int, dict[str, Any]]:
    run = invoke("push", "--json", *args)
    return run.exit_code, json.loads(run.stdout)


def file_entries(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    files = report["files"]
    assert isinstance(files, list)
    return {entry["filename"]: entry for entry in files}


def pusher_for(
    sandbox: Sandbox,
    events: PushEvents | None = None,
    journal: Journal | None = None,
    **options: object,
) -> Pusher:
    api = ProductivApi(
        sandbox.api_url, SANDBOX_APP_ID, StaticToken(SANDBOX_TOKEN), make_session(pool_size=2)
    )
    storage = StorageClient(pool_size=4)
    return Pusher(api, storage, PushOptions(**options), events, journal)  # type: ignore[arg-type]


# --- retries ---


def test_storage_503_bursts_are_retried_until_they_pass(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    [path] = make_files(tmp_path, 1, size=50_000)
    sandbox.faults.put_errors.extend([503, 503, 503])

    code, report = push_json(str(path))

    assert code == 0
    entry = file_entries(report)[path.name]
    assert entry["status"] == "uploaded"
    assert entry["attempts"] == 4
    assert sandbox.put_count(SANDBOX_APP_ID, path.name) == 1
    assert sandbox.stored_path(SANDBOX_APP_ID, path.name).read_bytes() == path.read_bytes()


@over_http_and_https
def test_a_connection_dropped_mid_body_is_retried_from_the_first_byte(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    [path] = make_files(tmp_path, 1, size=300_000)
    sandbox.faults.drop_puts = 1
    progress: list[int] = []

    class Recorder(NullEvents):
        def bytes_sent(self, file: LocalFile, count: int) -> None:
            progress.append(count)

    pusher = pusher_for(sandbox, Recorder())
    [result] = pusher.run(discover([str(path)]).files).results

    assert result.status is Status.UPLOADED
    assert result.attempts == 2
    assert sum(progress) == path.stat().st_size  # the bar rewound, then counted every byte once
    assert min(progress) < 0
    assert sandbox.stored_path(SANDBOX_APP_ID, path.name).read_bytes() == path.read_bytes()


def test_a_storage_answer_cut_short_is_retried_not_a_crash(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    files = make_files(tmp_path, 2)
    sandbox.faults.short_answers = 1

    code, report = push_json("-j", "1", *map(str, files))

    assert code == 0
    assert sorted(e["attempts"] for e in file_entries(report).values()) == [1, 2]


def test_retries_give_up_after_the_limit_with_the_last_reason(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    [path] = make_files(tmp_path, 1)
    sandbox.faults.put_errors.extend([500] * 3)

    code, report = push_json("--retries", "2", str(path))

    assert code == 1
    entry = file_entries(report)[path.name]
    assert entry["attempts"] == 3
    assert "500" in str(entry["error"])


def test_client_errors_are_not_retried(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    [path] = make_files(tmp_path, 1)
    sandbox.faults.put_errors.append(400)

    code, report = push_json(str(path))

    assert code == 1
    assert file_entries(report)[path.name]["attempts"] == 1


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("Thu, 01 Jan 2099 00:00:10 GMT", now=4070908800.0) == 10.0
    assert parse_retry_after("Thu, 01 Jan 1970 00:00:00 GMT") == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after("99999") == 300.0  # capped: a cron job has a schedule to keep


def test_backoff_has_full_jitter_below_an_exponential_ceiling_and_honours_retry_after() -> None:
    delays = [backoff_delay(4) for _ in range(200)]
    assert all(0 <= delay <= 4.0 for delay in delays)
    assert max(delays) - min(delays) > 1.0  # spread out, not in lockstep
    assert all(backoff_delay(1, "2") >= 2.0 for _ in range(20))


# --- the scheduler and its workers ---


def test_the_reports_so_far_are_read_while_workers_append_more(
    request: pytest.FixtureRequest,
) -> None:
    # A worker that appends while the scheduler reads the reports made "deque mutated during
    # iteration" end a 300-file push. Threads switch as often as the interpreter allows here,
    # so the reads meet appends many times (reading by iterating failed five runs of five).
    interval = sys.getswitchinterval()
    request.addfinalizer(lambda: sys.setswitchinterval(interval))
    sys.setswitchinterval(1e-6)
    reports: collections.deque[int] = collections.deque(range(200))
    done = threading.Event()

    def worker() -> None:
        while not done.is_set():
            reports.append(-1)
            reports.pop()

    appending = threading.Thread(target=worker)
    appending.start()
    try:
        reads = [arrived_so_far(reports, 200) for _ in range(1000)]
    finally:
        done.set()
        appending.join()

    assert all(read == list(range(200)) for read in reads)


# --- expired and rejected URLs ---


@over_http_and_https
def test_urls_expired_before_use_are_replaced_without_a_wasted_put(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    files = make_files(tmp_path, 3)
    sandbox.faults.expire_next_urls = 3

    code, report = push_json(*map(str, files))

    assert code == 0
    assert all(e["attempts"] == 1 for e in file_entries(report).values())
    assert len(sandbox.requests_of("api")) == 1 + 3  # one batch, then one fresh URL per file
    assert [r.status for r in sandbox.requests_of("put")] == [200, 200, 200]


@over_http_and_https
def test_storage_saying_request_has_expired_gets_a_fresh_url(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    [path] = make_files(tmp_path, 1)
    sandbox.faults.reject_as_expired = 1

    code, report = push_json(str(path))

    assert code == 0
    assert file_entries(report)[path.name]["attempts"] == 2
    assert len(sandbox.requests_of("api")) == 2
    assert sandbox.put_count(SANDBOX_APP_ID, path.name) == 1


def test_urls_that_keep_expiring_end_in_a_failure_not_a_loop(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    [path] = make_files(tmp_path, 1)
    sandbox.faults.reject_as_expired = 100

    code, report = push_json("--retries", "2", str(path))

    assert code == 1
    entry = file_entries(report)[path.name]
    assert entry["attempts"] == 3
    assert "expired" in str(entry["error"])


# --- integrity ---


def test_a_wrong_etag_is_a_failed_try(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    [path] = make_files(tmp_path, 1)
    sandbox.faults.wrong_etag_for.add(path.name)

    code, report = push_json("--retries", "1", str(path))

    assert code == 1
    entry = file_entries(report)[path.name]
    assert entry["attempts"] == 2
    assert "ETag does not match" in str(entry["error"])
    with Journal(Path(tmp_path / "state" / JOURNAL_NAME)) as journal:
        assert list(journal.history()) == []


def test_a_file_growing_during_its_upload_is_failed_and_not_journaled(
    sandbox: Sandbox, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    [path] = make_files(tmp_path / "exports", 1, size=100_000)
    journal = Journal(tmp_path / "journal.sqlite3")
    request.addfinalizer(journal.close)

    class Writer(NullEvents):
        def bytes_sent(self, file: LocalFile, count: int) -> None:
            if count > 0:
                with open(file.path, "ab") as still_being_written:
                    still_being_written.write(b"more rows\n")

    pusher = pusher_for(sandbox, Writer(), journal, retries=0)
    [result] = pusher.run(discover([str(path)]).files).results

    assert result.status is Status.FAILED
    assert "changed while it was being sent" in (result.error or "")
    assert list(journal.history()) == []


# --- rate limit ---


def test_the_client_never_exceeds_20_api_requests_per_second(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    sandbox.faults.rate_limit_rps = 20
    api = ProductivApi(
        sandbox.api_url, SANDBOX_APP_ID, StaticToken(SANDBOX_TOKEN), make_session(pool_size=8)
    )
    threads = [threading.Thread(target=api.upload_urls, args=([f"f{n}.json"],)) for n in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    statuses = [r.status for r in sandbox.requests_of("api")]
    assert statuses == [200] * 30  # not a single 429


def test_request_rate_spaces_requests_over_a_sliding_window() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    rate = RequestRate(3, 1.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(3):
        rate.wait()
    assert slept == []
    now[0] = 0.25
    rate.wait()
    assert slept == [0.75]


# --- journal ---


@over_http_and_https
def test_a_rerun_skips_what_arrived_and_force_sends_it_again(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    files = make_files(tmp_path / "exports", 3)

    assert push_json(*map(str, files))[0] == 0
    code, report = push_json(*map(str, files))

    assert code == 0
    assert report["counts"] == {"uploaded": 0, "skipped": 3, "failed": 0}
    assert all(sandbox.put_count(SANDBOX_APP_ID, f.name) == 1 for f in files)
    assert len(sandbox.requests_of("api")) == 1  # the rerun asked for no URL at all

    code, report = push_json("--force", *map(str, files))
    assert code == 0
    assert report["counts"] == {"uploaded": 3, "skipped": 0, "failed": 0}
    assert all(sandbox.put_count(SANDBOX_APP_ID, f.name) == 2 for f in files)


def test_changed_content_is_sent_again_even_with_size_and_mtime_restored(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "a.json"
    path.write_bytes(b'{"n": 1}')
    assert push_json(str(path))[0] == 0
    before = path.stat()
    path.write_bytes(b'{"n": 2}')
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))

    code, report = push_json(str(path))

    assert code == 0
    assert report["counts"] == {"uploaded": 1, "skipped": 0, "failed": 0}
    assert sandbox.stored_path(SANDBOX_APP_ID, "a.json").read_bytes() == b'{"n": 2}'


def test_history_lists_what_was_uploaded(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    files = make_files(tmp_path / "exports", 2)
    assert push_json(*map(str, files))[0] == 0

    run = invoke("history", "--json", "--app-id", SANDBOX_APP_ID, "--since", "1h")
    listed = json.loads(run.stdout)["uploads"]

    assert run.exit_code == 0
    assert sorted(u["filename"] for u in listed) == sorted(f.name for f in files)
    assert all(len(u["sha256"]) == 64 and u["api_url"] == sandbox.api_url for u in listed)
    assert json.loads(invoke("history", "--json", "--app-id", "other").stdout)["uploads"] == []
    plain = invoke("history")
    journal = tmp_path / "state" / JOURNAL_NAME
    assert plain.stdout.startswith(f"journal {journal}: app {SANDBOX_APP_ID} at {sandbox.api_url}")
    assert all(f"  {SANDBOX_APP_ID}  {path}  64 B  sha256:" in plain.stdout for path in files)
    assert plain.stdout.endswith("2 uploads shown\n")


def test_the_journal_is_private_to_its_owner(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    [path] = make_files(tmp_path / "exports", 1)
    assert push_json(str(path))[0] == 0

    journal = tmp_path / "state" / JOURNAL_NAME
    assert stat.S_IMODE(journal.stat().st_mode) == 0o600
    assert stat.S_IMODE(journal.parent.stat().st_mode) == 0o700


def test_a_corrupt_journal_is_a_clear_error_naming_the_file(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    journal = tmp_path / "state" / JOURNAL_NAME
    journal.parent.mkdir()
    journal.write_bytes(b"this is not a database" * 100)
    [path] = make_files(tmp_path / "exports", 1)

    run = invoke("push", str(path))

    assert run.exit_code == 2
    assert str(journal) in run.stderr
    assert "move it aside" in run.stderr
    assert sandbox.requests_of("put") == []
    assert journal.read_bytes().startswith(b"this is not a database")  # never silently reset


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="open files from /proc")
@pytest.mark.parametrize("create", [True, False], ids=["to write", "read-only"])
def test_a_journal_refused_as_damaged_leaves_no_connection_open(
    tmp_path: Path, create: bool
) -> None:
    path = tmp_path / JOURNAL_NAME
    path.write_bytes(b"this is not a database" * 100)

    with pytest.raises(JournalError) as refused:
        Journal(path, create=create)

    # The error's traceback keeps the refused Journal alive, so a connection it did not close
    # would still hold the file open here (Python 3.13 warns when one is collected unclosed).
    assert refused.value.__traceback__ is not None
    held = [fd for fd in os.listdir("/proc/self/fd")
            if os.path.realpath(f"/proc/self/fd/{fd}") == str(path.resolve())]  # fmt: skip
    assert held == []


def test_a_journal_record_is_one_row_per_verified_upload(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    files = make_files(tmp_path / "exports", 4)
    sandbox.faults.omit_filenames.add(files[0].name)
    push_json(*map(str, files))

    with contextlib.closing(sqlite3.connect(tmp_path / "state" / JOURNAL_NAME)) as journal:
        query = "SELECT name, size, sha256 FROM uploads ORDER BY name"
        rows = journal.execute(query).fetchall()
    assert [row[0] for row in rows] == [f.name for f in files[1:]]
    for (_, size, digest), path in zip(rows, files[1:], strict=True):
        assert (size, digest) == (64, hashlib.sha256(path.read_bytes()).digest())


# --- tokens and timeouts ---


def test_client_credential_tokens_are_renewed_before_they_expire(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    sandbox.faults.token_ttl_s = 1  # renewed at half its life when it is this short
    tokens = ClientCredentials(
        sandbox.token_url, "sandbox-client", "sandbox-secret", make_session(pool_size=1)
    )
    api = ProductivApi(sandbox.api_url, SANDBOX_APP_ID, tokens, make_session(pool_size=1))

    for _ in range(3):
        api.upload_urls(["a.json"])
        time.sleep(0.6)

    assert [r.status for r in sandbox.requests_of("api")] == [200, 200, 200]
    assert len(sandbox.requests_of("token")) >= 2


@over_http_and_https
def test_a_token_refused_mid_run_is_renewed_once(sandbox: Sandbox, tmp_path: Path) -> None:
    tokens = ClientCredentials(
        sandbox.token_url, "sandbox-client", "sandbox-secret", make_session(pool_size=1)
    )
    api = ProductivApi(sandbox.api_url, SANDBOX_APP_ID, tokens, make_session(pool_size=1))
    api.upload_urls(["a.json"])
    sandbox.revoke_issued_tokens()

    assert "b.json" in api.upload_urls(["b.json"])
    assert [r.status for r in sandbox.requests_of("api")] == [200, 401, 200]
    assert len(sandbox.requests_of("token")) == 2


def test_a_refused_client_secret_is_exit_3_with_the_service_message(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_client_credentials(sandbox, monkeypatch, secret="wrong-secret-value")
    [path] = make_files(tmp_path, 1)

    run = invoke("push", str(path))

    assert run.exit_code == 3
    assert "Client authentication failed" in run.stderr
    assert "wrong-secret-value" not in run.stdout + run.stderr


def test_a_stalled_storage_connection_times_out(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    [path] = make_files(tmp_path, 1)
    sandbox.faults.stall_puts_s = 3.0
    started = time.monotonic()

    code, report = push_json("--timeout", "0.5", "--retries", "0", str(path))

    assert code == 1
    error = str(file_entries(report)[path.name]["error"])
    where = sandbox.api_url.split("//", 1)[1]
    assert error == f"storage at {where}: nothing moved for 0.5 s while waiting for the answer"
    assert time.monotonic() - started < 2.5


def test_the_bandwidth_cap_books_bytes_on_one_timeline_for_all_senders() -> None:
    now = [100.0]
    rate = ByteRate(1000.0, burst_s=0.0, clock=lambda: now[0])

    assert rate.delay_for(500) == pytest.approx(0.5)  # first sender: half a second of bytes
    assert rate.delay_for(500) == pytest.approx(1.0)  # a second sender queues behind it
    now[0] = 105.0  # idle time is not saved up beyond the burst allowance
    assert rate.delay_for(1000) == pytest.approx(1.0)


def test_limit_rate_values(sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path) -> None:
    assert parse_rate("10M") == 10_000_000
    assert parse_rate("500k") == 500_000
    assert parse_rate("8Mi") == 8 * 1024 * 1024
    assert parse_rate("1200") == 1200
    [path] = make_files(tmp_path, 1, size=20_000)

    capped = invoke("push", "--limit-rate", "1M", str(path))
    wrong = invoke("push", "--limit-rate", "fast", str(path))

    assert capped.exit_code == 0, capped.stderr
    assert sandbox.put_count(SANDBOX_APP_ID, path.name) == 1
    assert wrong.exit_code == 2
    assert "not a rate" in wrong.stderr
