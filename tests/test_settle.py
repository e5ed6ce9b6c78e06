"""When `watch` may send a file: the settle clock, the retry backoff and the folder scan.

Real files in tmp_path, and explicit `now` values instead of sleeping: nothing here depends on
how fast the machine is.
"""

from __future__ import annotations

import inspect
import os
import sys
from pathlib import Path

import pytest

from productiv_upload.core.watch.due import MAX_RETRY_WAIT, Settler, scan

MIN_AGE = 5.0


def write(path: Path, data: bytes = b"{}\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def append(path: Path, data: bytes) -> None:
    with path.open("ab") as stream:
        stream.write(data)


def observe(settler: Settler, path: Path, now: float) -> bool:
    return settler.observe(str(path), os.stat(path), now)


def with_fields(info: os.stat_result, **fields: int) -> os.stat_result:
    """A copy of a real stat with some nanosecond fields replaced (no clock to wait for)."""
    extra = {name: getattr(info, name) for name in ("st_atime_ns", "st_mtime_ns", "st_ctime_ns")}
    return os.stat_result(tuple(info), {**extra, **fields})


def scanned(*dirs: Path, **options: object) -> list[str]:
    return [path for path, _ in scan([str(d) for d in dirs], **options)]  # type: ignore[arg-type]


# The settle clock


def test_a_new_file_is_due_once_unchanged_for_min_age(tmp_path: Path) -> None:
    settler = Settler()
    export = write(tmp_path / "a.json")
    assert observe(settler, export, now=100.0) is True
    assert settler.due(104.999, MIN_AGE) == []
    assert settler.due(105.0, MIN_AGE) == [str(export)]
    assert settler.ready_at(str(export), MIN_AGE) == 105.0


def test_seeing_the_same_state_again_does_not_restart_the_clock(tmp_path: Path) -> None:
    settler = Settler()
    export = write(tmp_path / "a.json")
    observe(settler, export, now=0.0)
    assert observe(settler, export, now=3.0) is False
    assert observe(settler, export, now=4.9) is False
    assert settler.due(5.0, MIN_AGE) == [str(export)]


def test_a_slow_writer_in_bursts_restarts_the_clock_each_time(tmp_path: Path) -> None:
    settler = Settler()
    export = write(tmp_path / "slow.json", b'{"users": [')
    observe(settler, export, now=0.0)
    for burst, now in enumerate((4.0, 8.0, 12.0)):
        append(export, b'{"id": %d},' % burst)
        assert observe(settler, export, now) is True
        # Never due between bursts, though each pause is almost min_age long.
        assert settler.due(now + MIN_AGE - 0.01, MIN_AGE) == []
    append(export, b"]}")
    assert observe(settler, export, now=16.0) is True
    assert settler.due(20.9, MIN_AGE) == []
    assert settler.due(21.0, MIN_AGE) == [str(export)]


def test_same_size_but_a_new_mtime_restarts_the_clock(tmp_path: Path) -> None:
    settler = Settler()
    export = write(tmp_path / "a.json", b"version 1")
    before = os.stat(export)
    observe(settler, export, now=0.0)
    export.write_bytes(b"version 2")  # same length
    os.utime(export, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000))
    assert os.stat(export).st_size == before.st_size
    assert observe(settler, export, now=4.0) is True
    assert settler.due(8.9, MIN_AGE) == []
    assert settler.due(9.0, MIN_AGE) == [str(export)]


def test_a_rewrite_that_restores_the_mtime_still_restarts_the_clock(tmp_path: Path) -> None:
    # tar and `cp -p` set the old mtime back; only the change time shows the write.
    settler = Settler()
    export = write(tmp_path / "a.json")
    info = os.stat(export)
    settler.observe(str(export), info, now=0.0)
    rewritten = with_fields(info, st_ctime_ns=info.st_ctime_ns + 1)
    assert settler.observe(str(export), rewritten, now=4.0) is True
    assert settler.due(8.9, MIN_AGE) == []


def test_a_file_replaced_by_rename_restarts_the_clock(tmp_path: Path) -> None:
    # Same name, size and mtime, but another inode: the writer renamed a new file over it.
    settler = Settler()
    outbox = tmp_path / "outbox"
    export = write(outbox / "a.json", b"old")
    first = os.stat(export)
    observe(settler, export, now=0.0)
    staged = write(tmp_path / "staging" / "a.json", b"new")
    os.utime(staged, ns=(first.st_atime_ns, first.st_mtime_ns))
    os.rename(staged, export)
    assert os.stat(export).st_ino != first.st_ino
    assert observe(settler, export, now=4.0) is True
    assert settler.due(8.9, MIN_AGE) == []
    assert settler.due(9.0, MIN_AGE) == [str(export)]


def test_a_file_renamed_into_the_folder_is_due_only_after_the_settle_time(
    tmp_path: Path,
) -> None:
    # The writer finished long ago (old mtime); the settle time still counts from first sight.
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    staged = write(tmp_path / "staging" / "done.json", b"complete")
    os.utime(staged, (1_000_000_000, 1_000_000_000))
    settler = Settler()
    assert scanned(outbox) == []
    os.rename(staged, outbox / "done.json")
    for path, info in scan([str(outbox)]):
        settler.observe(path, info, now=50.0)
    assert settler.due(54.9, MIN_AGE) == []
    assert settler.due(55.0, MIN_AGE) == [str(outbox / "done.json")]


def test_due_files_come_oldest_first(tmp_path: Path) -> None:
    settler = Settler()
    for name, now in (("b.json", 3.0), ("c.json", 1.0), ("a.json", 2.0)):
        observe(settler, write(tmp_path / name), now)
    assert settler.due(10.0, MIN_AGE) == [str(tmp_path / n) for n in ("c.json", "a.json", "b.json")]


def test_next_due_is_the_earliest_time_a_pending_file_becomes_due(tmp_path: Path) -> None:
    settler = Settler()
    assert settler.next_due(MIN_AGE) is None
    observe(settler, write(tmp_path / "late.json"), now=7.0)
    observe(settler, write(tmp_path / "early.json"), now=2.0)
    assert settler.next_due(MIN_AGE) == 7.0
    settler.failed(str(tmp_path / "early.json"), now=7.0)  # next try at 37
    assert settler.next_due(MIN_AGE) == 12.0
    settler.forget(str(tmp_path / "late.json"))
    assert settler.next_due(MIN_AGE) == 37.0


def test_a_zero_min_age_makes_a_file_due_at_once(tmp_path: Path) -> None:
    settler = Settler()
    export = write(tmp_path / "a.json")
    observe(settler, export, now=1.0)
    assert settler.due(1.0, 0.0) == [str(export)]


# Retries after a failed upload


def test_the_retry_backoff_doubles_up_to_one_hour(tmp_path: Path) -> None:
    settler = Settler(retry_wait=30.0)
    export = str(write(tmp_path / "a.json"))
    settler.observe(export, os.stat(export), now=0.0)
    now, waits = MIN_AGE, []
    for _ in range(10):
        assert settler.due(now, MIN_AGE) == [export]
        retry_at = settler.failed(export, now)
        waits.append(retry_at - now)
        assert settler.due(retry_at - 0.001, MIN_AGE) == []
        assert settler.next_due(MIN_AGE) == retry_at
        now = retry_at
    assert waits == [30, 60, 120, 240, 480, 960, 1920, MAX_RETRY_WAIT, MAX_RETRY_WAIT, 3600]


def test_a_retry_wait_above_the_cap_is_refused() -> None:
    with pytest.raises(ValueError, match="max_retry_wait"):
        Settler(retry_wait=MAX_RETRY_WAIT + 1)
    with pytest.raises(ValueError, match="positive"):
        Settler(retry_wait=0)
    with pytest.raises(ValueError, match="positive"):
        Settler(retry_wait=float("nan"))


def test_a_failed_file_that_changes_is_tried_again_once_settled(tmp_path: Path) -> None:
    settler = Settler(retry_wait=30.0)
    export = write(tmp_path / "a.json", b"broken")
    observe(settler, export, now=0.0)
    settler.failed(str(export), now=5.0)  # 35
    settler.failed(str(export), now=35.0)  # 95: the backoff has grown
    append(export, b", fixed")
    assert observe(settler, export, now=40.0) is True
    assert settler.next_due(MIN_AGE) == 45.0  # not 95
    assert settler.due(45.0, MIN_AGE) == [str(export)]
    # The backoff starts over too.
    assert settler.failed(str(export), now=45.0) == 75.0


def test_a_failure_for_a_path_that_is_not_pending_is_not_recorded(tmp_path: Path) -> None:
    settler = Settler()
    assert settler.failed(str(tmp_path / "gone.json"), now=12.0) == 12.0
    assert len(settler) == 0


# Memory: state only for what is pending


def test_forgetting_frees_the_state(tmp_path: Path) -> None:
    settler = Settler()
    paths = [write(tmp_path / f"{i:04}.json") for i in range(500)]
    for path in paths:
        observe(settler, path, now=0.0)
    settler.failed(str(paths[0]), now=MIN_AGE)
    assert len(settler) == 500
    for path in paths:
        settler.forget(str(path))
    settler.forget(str(tmp_path / "never-seen.json"))  # no error
    assert len(settler) == 0
    assert settler.due(1e9, MIN_AGE) == []
    assert settler.next_due(MIN_AGE) is None


def test_a_forgotten_file_seen_again_starts_a_new_settle_time(tmp_path: Path) -> None:
    # After an upload the file is forgotten; met again, it is pending anew (the journal then
    # skips it if its content is unchanged).
    settler = Settler()
    export = write(tmp_path / "a.json")
    observe(settler, export, now=0.0)
    settler.forget(str(export))
    assert str(export) not in settler
    assert observe(settler, export, now=100.0) is True
    assert settler.due(104.0, MIN_AGE) == []
    assert settler.due(105.0, MIN_AGE) == [str(export)]


def test_a_rescan_forgets_pending_files_that_are_gone(tmp_path: Path) -> None:
    settler = Settler()
    kept, removed = write(tmp_path / "kept.json"), write(tmp_path / "removed.json")
    for path in (kept, removed):
        observe(settler, path, now=0.0)
    settler.failed(str(removed), now=MIN_AGE)
    removed.unlink()
    present = {path for path, _ in scan([str(tmp_path)])}
    assert settler.forget_missing(present) == [str(removed)]
    assert len(settler) == 1
    assert str(kept) in settler


# Scanning the watched folders


def test_scan_yields_regular_files_with_their_stat(tmp_path: Path) -> None:
    export = write(tmp_path / "a.json", b"12345")
    write(tmp_path / ".hidden.json")  # a regular file like any other
    os.mkfifo(tmp_path / "pipe")
    write(tmp_path / "sub" / "deep.json")
    found = dict(scan([str(tmp_path)]))
    assert sorted(found) == [str(tmp_path / ".hidden.json"), str(export)]
    assert found[str(export)].st_size == 5


def test_a_recursive_scan_descends_into_subfolders(tmp_path: Path) -> None:
    for name in ("a.json", "x/b.json", "x/y/c.json", "z/d.json"):
        write(tmp_path / name)
    assert scanned(tmp_path, recursive=True) == [
        str(tmp_path / name) for name in ("a.json", "x/b.json", "x/y/c.json", "z/d.json")
    ]


def test_scan_skips_the_move_to_folder_inside_a_watched_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outbox = tmp_path / "outbox"
    write(outbox / "new.json")
    write(outbox / "sent" / "old.json")
    write(outbox / "sent" / "2026" / "older.json")
    write(outbox / "sub" / "other.json")
    expected = [str(outbox / "new.json"), str(outbox / "sub" / "other.json")]
    assert scanned(outbox, recursive=True, ignore_dirs=[str(outbox / "sent")]) == expected
    # Matched by identity: a relative spelling, or one through a symlink, is the same folder.
    monkeypatch.chdir(tmp_path)
    assert scanned(outbox, recursive=True, ignore_dirs=["outbox/sent"]) == expected
    (tmp_path / "sent-link").symlink_to(outbox / "sent")
    assert scanned(outbox, recursive=True, ignore_dirs=[str(tmp_path / "sent-link")]) == expected
    # A --move-to folder that does not exist yet has nothing inside to skip.
    assert len(scanned(outbox, recursive=True, ignore_dirs=[str(tmp_path / "nope")])) == 4


def test_scan_does_not_follow_symlinked_folders(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    write(outbox / "a.json")
    write(tmp_path / "elsewhere" / "secret.json")
    (outbox / "loop").symlink_to(outbox)  # would recur forever if followed
    (outbox / "elsewhere").symlink_to(tmp_path / "elsewhere")
    assert scanned(outbox, recursive=True) == [str(outbox / "a.json")]


def test_a_symlink_to_a_file_is_yielded_with_its_target_stat(tmp_path: Path) -> None:
    target = write(tmp_path / "data" / "real.json", b"1234567")
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    (outbox / "link.json").symlink_to(target)
    (outbox / "broken.json").symlink_to(tmp_path / "missing.json")
    found = dict(scan([str(outbox)]))
    assert list(found) == [str(outbox / "link.json")]
    assert found[str(outbox / "link.json")].st_ino == os.stat(target).st_ino
    assert found[str(outbox / "link.json")].st_size == 7


def test_a_folder_given_twice_or_nested_is_read_once(tmp_path: Path) -> None:
    write(tmp_path / "a.json")
    write(tmp_path / "sub" / "b.json")
    both = scanned(tmp_path, tmp_path / "sub", tmp_path, recursive=True)
    assert both == [str(tmp_path / "a.json"), str(tmp_path / "sub" / "b.json")]


def test_scan_leaves_out_excluded_files(tmp_path: Path) -> None:
    write(tmp_path / "a.json")
    write(tmp_path / "a.json.part")
    found = scanned(tmp_path, exclude=lambda path: path.endswith(".part"))
    assert found == [str(tmp_path / "a.json")]


def test_a_missing_or_non_folder_watched_path_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        scanned(tmp_path / "missing")
    with pytest.raises(NotADirectoryError):
        scanned(write(tmp_path / "file.json"))


def test_a_deep_tree_does_not_hit_the_recursion_limit(tmp_path: Path) -> None:
    # Rather than a tree deeper than the default limit (which shutil.rmtree, pytest's cleanup,
    # cannot remove), a lower limit for the scan: a scan that recursed per level would fail.
    deepest = tmp_path.joinpath(*["d"] * 100)
    bottom = write(deepest / "bottom.json")
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(len(inspect.stack(0)) + 50)
    try:
        found = scanned(tmp_path, recursive=True)
    finally:
        sys.setrecursionlimit(limit)
    assert found == [str(bottom)]


def test_files_already_there_at_start_settle_like_new_ones(tmp_path: Path) -> None:
    # A restart with a backlog: every file found is pending, due after one settle time.
    for i in range(20):
        write(tmp_path / f"backlog-{i:02}.json")
    settler = Settler()
    for path, info in scan([str(tmp_path)]):
        assert settler.observe(path, info, now=1000.0) is True
    assert len(settler) == 20
    assert settler.due(1004.0, MIN_AGE) == []
    assert len(settler.due(1005.0, MIN_AGE)) == 20
