"""The journal over years of reruns: a stat() per known file, content compared only when needed,
rows that expire only for files no longer in place, and journals of older versions upgraded.

Whether a file is opened is watched through the kernel (inotify, via watchdog), not inferred.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers.inotify import InotifyObserver

from productiv_upload.core.journal import JOURNAL_NAME, Journal, NewUpload, maintain
from productiv_upload.core.journal.known import split_already_uploaded
from productiv_upload.core.journal.runs import KEEP_FAILURES, KEEP_RUNS, RunLog
from productiv_upload.core.journal.schema import SCHEMA_VERSION
from productiv_upload.core.model import RACY_NS, FileResult, Identity, Status
from productiv_upload.core.push.discover import discover
from productiv_upload.sandbox import SANDBOX_APP_ID, Sandbox
from tests.conftest import Mount, invoke, make_files

V1_JOURNAL = Path(__file__).parent / "data" / "journal-v1.sqlite3"
API = "https://api.productiv.com"


class Opens(FileSystemEventHandler):
    """Counts the times files in a folder are opened, as the kernel reports them."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self._lock = threading.Lock()

    def on_opened(self, event: FileSystemEvent) -> None:
        with self._lock:
            self.paths.append(str(event.src_path))

    def taken(self) -> list[str]:
        time.sleep(0.3)  # inotify delivers asynchronously: let the last events arrive
        with self._lock:
            paths, self.paths = self.paths, []
        return paths


@pytest.fixture
def opens(tmp_path: Path) -> Iterator[Opens]:
    folder = tmp_path / "exports"
    folder.mkdir()
    observer = InotifyObserver()
    counter = Opens()
    observer.schedule(counter, str(folder))
    observer.start()
    yield counter
    observer.stop()
    observer.join()


def settled(paths: list[Path]) -> None:
    """Wait until the files' change times are old enough to be trusted (see Identity.trusted)."""
    newest = max(p.stat().st_ctime_ns for p in paths)
    time.sleep(max(0.0, (newest + RACY_NS - time.time_ns()) / 1e9) + 0.1)


def statuses(*args: str) -> dict[str, str]:
    run = invoke("push", "--json", *args)
    assert run.exit_code in (0, 1), run.stderr
    return {e["filename"]: e["status"] for e in json.loads(run.stdout)["files"]}


def test_a_rerun_skips_known_files_without_opening_them(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path, opens: Opens
) -> None:
    files = make_files(tmp_path / "exports", 20, size=4096)
    settled(files)
    assert set(statuses(*map(str, files)).values()) == {"uploaded"}
    opens.taken()

    assert set(statuses(*map(str, files)).values()) == {"skipped"}
    assert opens.taken() == []


def test_changed_bytes_are_sent_again_even_with_size_and_mtime_restored(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    [path] = make_files(tmp_path / "exports", 1, size=1000)
    settled([path])
    assert statuses(str(path)) == {path.name: "uploaded"}
    before = path.stat()
    path.write_bytes(os.urandom(1000))  # same size
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # same mtime; ctime moves

    assert statuses(str(path)) == {path.name: "uploaded"}
    assert sandbox.stored_path(SANDBOX_APP_ID, path.name).read_bytes() == path.read_bytes()
    assert sandbox.put_count(SANDBOX_APP_ID, path.name) == 2


def test_a_touched_file_is_read_once_then_known_by_stat_again(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path, opens: Opens
) -> None:
    files = make_files(tmp_path / "exports", 3)
    settled(files)
    statuses(*map(str, files))
    os.utime(files[0])  # new mtime, same bytes: as `touch` or a restore from backup does
    settled(files)
    opens.taken()

    assert set(statuses(*map(str, files)).values()) == {"skipped"}
    assert opens.taken() == [str(files[0])]  # compared by content, once
    assert set(statuses(*map(str, files)).values()) == {"skipped"}
    assert opens.taken() == []  # its new identity was recorded
    assert sandbox.put_count(SANDBOX_APP_ID, files[0].name) == 1


def test_checksum_compares_every_known_file_by_content(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path, opens: Opens
) -> None:
    files = make_files(tmp_path / "exports", 4)
    settled(files)
    statuses(*map(str, files))
    opens.taken()

    assert set(statuses("--checksum", *map(str, files)).values()) == {"skipped"}
    assert sorted(opens.taken()) == sorted(map(str, files))


def test_a_file_changed_within_the_clock_tick_of_its_upload_is_compared_next_time(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path, opens: Opens
) -> None:
    [path] = make_files(tmp_path / "exports", 1)
    statuses(str(path))  # at once: its change time is too recent to be trusted
    opens.taken()

    assert statuses(str(path)) == {path.name: "skipped"}
    assert opens.taken() == [str(path)]


def test_the_journal_knows_a_file_by_its_folder_not_by_the_path_as_typed(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, opens: Opens,
) -> None:  # fmt: skip
    files = make_files(tmp_path / "exports", 2)
    settled(files)
    statuses(*map(str, files))
    monkeypatch.chdir(tmp_path)
    opens.taken()

    assert set(statuses("exports/f0000.json", "./exports/f0001.json").values()) == {"skipped"}
    assert opens.taken() == []


# --- a journal written by version 1 ---


def test_a_version_1_journal_is_upgraded_in_place_and_its_files_are_not_sent_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # tests/data/journal-v1.sqlite3 was written by the version 1 code (commit f95439d): files
    # pushed from `exports/` with relative paths, one with an absolute path, and one relative
    # file pushed twice with different content. These are the files it recorded.
    api_url = "http://127.0.0.1:38355"
    (tmp_path / "exports").mkdir()
    contents = {
        "usage-2026-11-02.json": '{"row": 2}\n',
        "usage-2026-11-03.json": '{"row": 3}\n',
        "usage-2026-11-01.json": '{"row": 1, "more": true}\n',
    }
    for name, text in contents.items():
        (tmp_path / "exports" / name).write_text(text)
    state = tmp_path / "state"
    state.mkdir()
    shutil.copy(V1_JOURNAL, state / JOURNAL_NAME)
    monkeypatch.chdir(tmp_path)

    with Journal(state / JOURNAL_NAME) as journal:
        history = list(journal.history())
        version = journal.db.connection.execute("PRAGMA user_version").fetchone()[0]
        found = discover([f"exports/{name}" for name in contents]).files
        to_send, done = split_already_uploaded(found, journal, api_url, SANDBOX_APP_ID)

    assert version == SCHEMA_VERSION
    assert [(u.filename, u.size) for u in history] == [
        ("usage-2026-11-02.json", 11), ("usage-2026-11-03.json", 11),
        ("usage-2026-11-01.json", 11), ("absolute.json", 11), ("usage-2026-11-01.json", 25),
    ]  # fmt: skip
    assert history[3].path == "/tmp/v1gen/exports/absolute.json"  # noqa: S108 (as recorded)
    assert history[0].path == "exports/usage-2026-11-02.json"
    assert {u.api_url for u in history} == {api_url}
    assert to_send == []
    assert len(done) == 3


def test_the_old_journal_is_upgraded_by_history_too(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    shutil.copy(V1_JOURNAL, state / JOURNAL_NAME)

    run = invoke("history", "--json", "--state-dir", str(state))

    assert run.exit_code == 0, run.stderr
    assert len(json.loads(run.stdout)["uploads"]) == 5


# --- staying small ---


def new_upload(folder: Path, name: str, *, content: bytes = b"x") -> NewUpload:
    path = folder / name
    return NewUpload(str(path), name, len(content), hashlib.sha256(content).hexdigest(), None)


def as_sent(path: Path) -> NewUpload:
    """An upload of `path` as it is now, with its identity (its digest does not matter here)."""
    return NewUpload(str(path), path.name, path.stat().st_size, "00" * 32, Identity.of(path.stat()))


def rows(journal: Journal) -> list[tuple[str, str | None]]:
    return [(u.path, u.gone_at) for u in journal.history()]


def test_rows_of_files_still_in_place_never_expire(tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    kept = make_files(folder, 2)
    with Journal(tmp_path / JOURNAL_NAME) as journal:
        journal.record_many(API, "app", [new_upload(folder, p.name) for p in kept])
        maintain(journal, API, "app", 0, force=True, now=time.time() + 10 * 365 * 86400)

        assert [path for path, gone in rows(journal)] == [str(p) for p in kept]


def test_rows_of_files_the_tool_moved_expire_after_the_retention(tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    moved = make_files(folder, 3)
    now = time.time()
    with Journal(tmp_path / JOURNAL_NAME) as journal:
        journal.record_many(API, "app", [new_upload(folder, p.name) for p in moved], now=now)
        journal.forget_paths(API, "app", [str(moved[0])], now=now)

        maintain(journal, API, "app", 30 * 86400, force=True, now=now + 29 * 86400)
        assert len(rows(journal)) == 3
        maintain(journal, API, "app", 30 * 86400, force=True, now=now + 31 * 86400)
        assert [path for path, _ in rows(journal)] == [str(p) for p in moved[1:]]


def test_a_file_replaced_at_its_path_leaves_the_old_row_to_expire(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    [path] = make_files(tmp_path / "exports", 1)
    statuses(str(path))
    path.write_bytes(b"new content")
    statuses(str(path))

    with Journal(tmp_path / "state" / JOURNAL_NAME) as journal:
        [(first, first_gone), (second, second_gone)] = rows(journal)

    assert first == second == str(path)
    assert first_gone is not None
    assert second_gone is None


def test_a_file_deleted_by_someone_else_is_found_gone_by_the_sweep(tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    files = make_files(folder, 3)
    with Journal(tmp_path / JOURNAL_NAME) as journal:
        journal.record_many(API, "app", [as_sent(p) for p in files])
        files[1].unlink()

        upkeep = maintain(journal, API, "app", 86400)

        assert upkeep.gone == 1
        assert [gone is not None for _, gone in rows(journal)] == [False, True, False]


def test_files_on_an_unmounted_filesystem_are_not_taken_for_deleted(
    tmp_path: Path, tmpfs: Mount
) -> None:
    share = tmpfs(tmp_path / "share", "1m")
    files = make_files(share, 2)
    with Journal(tmp_path / JOURNAL_NAME) as journal:
        journal.record_many(API, "app", [as_sent(p) for p in files])
        subprocess.run(["umount", str(share)], check=True)  # the folder is back to empty

        upkeep = maintain(journal, API, "app", 0, force=True)

        assert upkeep.gone == 0
        assert len(rows(journal)) == 2


def test_history_limit_shows_the_newest_oldest_first(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    files = make_files(tmp_path / "exports", 5)
    for path in files:
        statuses(str(path))

    run = invoke("history", "--json", "--limit", "2")
    plain = invoke("history", "--limit", "2")

    listed = [u["filename"] for u in json.loads(run.stdout)["uploads"]]
    assert listed == [files[3].name, files[4].name]
    assert plain.stdout.splitlines()[1].split()[2] == str(files[3])
    assert plain.stdout.endswith("2 uploads shown (the newest of 5)\n")


def test_history_json_is_one_valid_document_however_many_rows(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with Journal(state / JOURNAL_NAME) as journal:
        for start in range(0, 3000, 500):
            journal.record_many(
                API, "app", [new_upload(tmp_path, f"n{i}.json") for i in range(start, start + 500)]
            )

    run = invoke("history", "--json", "--state-dir", str(state))
    document: dict[str, Any] = json.loads(run.stdout)

    assert document["version"] == 2
    assert len(document["uploads"]) == 3000
    assert document["uploads"][0]["path"] == str(tmp_path / "n0.json")


def test_a_journal_row_is_compact(tmp_path: Path) -> None:
    """The schema's promise in numbers: bytes per row for typical names, rows written one
    group at a time as a push writes them (the bench measures a million)."""
    count = 20_000
    with Journal(tmp_path / JOURNAL_NAME) as journal:
        for start in range(0, count, 100):
            journal.record_many(API, "app", [
                NewUpload(f"/srv/exports/usage-2026-11-29-{i:06d}.json",
                          f"usage-2026-11-29-{i:06d}.json", 40_000 + i, "ab" * 32,
                          Identity(2049, 10_000 + i, 40_000 + i, 1_764_000_000 * 10**9 + i,
                                   1_764_000_000 * 10**9 + i))
                for i in range(start, start + 100)
            ])  # fmt: skip
        journal.db.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    per_row = (tmp_path / JOURNAL_NAME).stat().st_size / count

    assert per_row <= 150
    with contextlib.closing(sqlite3.connect(tmp_path / JOURNAL_NAME)) as database:
        assert database.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_each_service_keeps_its_own_newest_runs_and_failures(tmp_path: Path) -> None:
    """Row ids are shared by every service in a state dir: one service's busy days must not
    cut another's record short."""
    with Journal(tmp_path / JOURNAL_NAME) as journal:
        for run in range(KEEP_RUNS + 50):
            for app in ("busy", "quiet"):
                log = RunLog(journal, API, app, "push")
                log.start()
                log.failed([FileResult(f"/x/{app}-{run}.json", f"{app}-{run}.json", 1,
                                       Status.FAILED, 1, "storage answered 500")] * 3)  # fmt: skip
        counts = {
            (table, app): journal.db.connection.execute(
                f"SELECT count(*) FROM {table} WHERE target = ?",  # noqa: S608 (fixed names)
                (journal.target(API, app),),
            ).fetchone()[0]
            for table in ("runs", "failures")
            for app in ("busy", "quiet")
        }

    assert counts == {
        ("runs", "busy"): KEEP_RUNS, ("runs", "quiet"): KEEP_RUNS,
        ("failures", "busy"): KEEP_FAILURES, ("failures", "quiet"): KEEP_FAILURES,
    }  # fmt: skip
