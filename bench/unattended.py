"""Scenarios 7-10: the tool as a cron job or service runs it for years (see README.md).

    python bench/unattended.py [--quick]     # these rows alone; bench/run.py runs them too

7  reruns over folders already uploaded: 1 MiB files against 1 KiB files (a rerun costs a
   stat() per file, not a read), and 20,000 known files plus 100 new against the 100 alone;
8  a journal of 1,000,000 rows written through the journal's own code: bytes per row,
   `history --json`'s peak memory, and a push of 100 new files against an empty journal;
9  a simulated year of a `--move-to` service, 10,000 uploads a day with dates spread over
   365 days: the journal's size as the retention rule keeps it;
10 1,000 files against an API port nothing listens on: the time to fail.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import measure
from run import KIB, MIB, TOOL, Bench, Outcome, Row, Scale, base_env, log

from productiv_upload.core.journal import JOURNAL_NAME, Journal, NewUpload, maintain
from productiv_upload.core.model import RACY_NS, Identity
from productiv_upload.sandbox import SANDBOX_APP_ID, SANDBOX_TOKEN

DAY_S = 86400
RETENTION_DAYS = 30  # the default of --journal-retention


def _wait_until_trusted(folder: Path) -> None:
    """Files younger than the clock-tick margin are compared by content on the next run (see
    Identity.trusted); a cron job's files are older than that, so the bench waits it out."""
    newest = max(p.stat().st_ctime_ns for p in folder.iterdir())
    time.sleep(max(0.0, (newest + RACY_NS - time.time_ns()) / 1e9) + 0.2)


def _env(api_url: str, state: Path, bench: Bench) -> dict[str, str]:
    return base_env() | {
        "PRODUCTIV_API_URL": api_url,
        "PRODUCTIV_APP_ID": SANDBOX_APP_ID,
        "PRODUCTIV_ACCESS_TOKEN": SANDBOX_TOKEN,
        "PRODUCTIV_UPLOAD_STATE_DIR": str(state),
        "XDG_CONFIG_HOME": str(bench.tmp / "no-config"),
    }


def _checked(run: measure.Measured, what: str) -> Outcome:
    problem = "" if run.returncode == 0 else f"exit {run.returncode}: {run.errors[-200:]}"
    if problem:
        log(f"  FAILED {what}: {problem}")
    return Outcome(run, problem)


def _row(scenario: str, runner: str, work: str, outcome: Outcome, **fields: object) -> Row:
    row = Row(scenario, runner, work, outcome.run.wall_s, peak_rss_mb=outcome.run.peak_rss_mb)
    for name, value in fields.items():
        setattr(row, name, value)
    if not outcome.ok:
        row.failed, row.note = True, f"FAILED {outcome.problem}"
    return row


def reruns(bench: Bench) -> list[Row]:
    scale: Scale = bench.scale
    count = 1000 if not scale.quick else 300
    scenario = "7 reruns, all uploaded"
    log(f"scenario 7: reruns over {count} x 1 MiB and {count} x 1 KiB already uploaded")
    rows = []
    medians: dict[int, float] = {}
    for size, label in ((KIB, "1 KiB"), (MIB, "1 MiB")):
        folder = bench.make_files(f"s7-{size}", count, size)
        _wait_until_trusted(folder)
        state = bench.tmp / f"state-s7-{size}"
        with bench.sandbox(0.0) as (api_url, _landing):
            env = _env(api_url, state, bench)
            first = _checked(measure.run([TOOL, "push", "-q", "-r", folder], env=env), "push")
            runs = [measure.run([TOOL, "push", "-q", "-r", folder], env=env) for _ in range(5)]
        outcomes = [_checked(r, "rerun") for r in runs]
        medians[size] = statistics.median(r.wall_s for r in runs)
        worst = next((o for o in [first, *outcomes] if not o.ok), outcomes[0])
        row = _row(scenario, f"rerun, {label} files", f"{count} x {label}, median of 5", worst)
        row.wall_s = medians[size]
        row.note = (
            f"min {min(r.wall_s for r in runs):.3f} s; the first push took {first.run.wall_s:.2f} s"
        )
        rows.append(row)
        shutil.rmtree(folder)
    rows[1].ratio, rows[1].ratio_to = medians[MIB] / medians[KIB], "1 KiB rerun (target <= 1.5)"

    known, new = (20_000, 100) if not scale.quick else (5_000, 100)
    log(f"scenario 7: {known} known files and {new} new against the {new} alone")
    folder = bench.make_files("s7-known", known + new, KIB)
    names = sorted(folder.iterdir())
    _wait_until_trusted(folder)
    listing, fresh = bench.tmp / "known.txt", bench.tmp / "new.txt"
    listing.write_text("".join(f"{p}\n" for p in names[:known]))
    fresh.write_text("".join(f"{p}\n" for p in names[known:]))
    with bench.sandbox(0.0) as (api_url, _landing):
        env = _env(api_url, bench.tmp / "state-s7-known", bench)
        prepared = measure.run([TOOL, "push", "-q", "--files-from", listing], env=env)
        both = _checked(measure.run([TOOL, "push", "-q", "-r", folder], env=env), "push")
    with bench.sandbox(0.0) as (api_url, _landing):
        env = _env(api_url, bench.tmp / "state-s7-alone", bench)
        alone = _checked(measure.run([TOOL, "push", "-q", "--files-from", fresh], env=env), "push")
    _checked(prepared, "the first push")
    work = f"{known:,} known + {new} new x 1 KiB"
    rows.append(_row(scenario, f"{new} new files alone", f"{new} x 1 KiB", alone))
    extra = both.run.wall_s - alone.run.wall_s
    row = _row(scenario, f"{new} new among {known:,} known", work, both)
    row.ratio, row.ratio_to = both.run.wall_s / alone.run.wall_s, f"{new} alone"
    row.note = f"{extra:+.2f} s over the {new} alone (target <= +1 s)"
    rows.append(row)
    shutil.rmtree(folder)
    return rows


def _journal_rows(
    journal: Journal, api_url: str, count: int, *, start: int = 0, now: float | None = None
) -> list[str]:
    """Write `count` rows as a push writes them (groups of 100); returns their paths."""
    folder = "/srv/exports/spool"
    paths: list[str] = []
    base_ns = 1_764_000_000 * 10**9
    for first in range(start, start + count, 100):
        group = []
        for number in range(first, min(start + count, first + 100)):
            name = f"usage-{number:09d}.json"
            digest = hashlib.sha256(name.encode()).hexdigest()
            identity = Identity(2049, 10_000 + number, 40_000, base_ns + number, base_ns + number)
            group.append(NewUpload(f"{folder}/{name}", name, 40_000, digest, identity))
        journal.record_many(api_url, SANDBOX_APP_ID, group, now=now)
        paths.extend(upload.path for upload in group)
    return paths


def _journal_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


def big_journal(bench: Bench) -> list[Row]:
    count = 1_000_000 if not bench.scale.quick else 100_000
    scenario = f"8 journal of {count:,} rows"
    log(f"scenario 8: a journal of {count:,} rows")
    folder = bench.make_files("s8", 100, KIB)
    rows = []
    with bench.sandbox(0.0) as (api_url, _landing):
        state = bench.tmp / "state-s8"
        started = time.perf_counter()
        with Journal(state / JOURNAL_NAME) as journal:
            _journal_rows(journal, api_url, count)
            journal.db.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        written_s = time.perf_counter() - started
        size = _journal_bytes(state / JOURNAL_NAME)
        row = Row(scenario, "journal written by its own code", f"{count:,} rows", written_s)
        row.rate, row.rate_unit = count / written_s, "rows/s"
        row.note = (
            f"{size / count:.1f} bytes per row ({size / MIB:.0f} MiB; names of 20 characters)"
        )
        rows.append(row)

        history = measure.run(
            ["sh", "-c", 'exec "$0" "$@" > "$OUT"', TOOL, "history", "--json"],
            env=_env(api_url, state, bench) | {"OUT": str(bench.tmp / "history.json")},
        )
        with (bench.tmp / "history.json").open("rb") as listing:
            listed = sum(1 for line in listing if line.startswith(b'{"api_url"'))
        (bench.tmp / "history.json").unlink()
        outcome = _checked(history, "history")
        row = _row(scenario, "history --json", f"{count:,} rows", outcome)
        row.ratio_to, row.note = "", f"{listed:,} rows listed; target peak RSS < 100 MB"
        if listed != count:
            row.failed, row.note = True, f"FAILED: {listed:,} of {count:,} rows listed"
        rows.append(row)

        env = _env(api_url, state, bench)
        daily = _checked(measure.run([TOOL, "push", "-q", "-r", folder], env=env), "push")
        for path in folder.iterdir():
            path.write_bytes(os.urandom(KIB))  # 100 new files again, in the same journal
        steady = _checked(measure.run([TOOL, "push", "-q", "-r", folder], env=env), "push")
    for path in folder.iterdir():
        path.write_bytes(os.urandom(KIB))
    with bench.sandbox(0.0) as (api_url, _landing):
        empty_env = _env(api_url, bench.tmp / "state-s8-empty", bench)
        empty = _checked(measure.run([TOOL, "push", "-q", "-r", folder], env=empty_env), "push")
    rows.append(_row(scenario, "push 100 new, empty journal", "100 x 1 KiB", empty))
    for runner, outcome in (("push 100 new, first run of the day", daily),
                            ("push 100 new, other runs", steady)):  # fmt: skip
        row = _row(scenario, runner, "100 x 1 KiB", outcome)
        row.ratio, row.ratio_to = outcome.run.wall_s / empty.run.wall_s, "empty journal"
        row.note = f"{outcome.run.wall_s - empty.run.wall_s:+.2f} s (target <= +0.5 s)"
        if "first" in runner:
            row.note += "; includes the daily expiry pass over every row"
        rows.append(row)
    shutil.rmtree(folder)
    shutil.rmtree(bench.tmp / "state-s8", ignore_errors=True)
    return rows


def simulated_year(bench: Bench) -> list[Row]:
    per_day = 10_000 if not bench.scale.quick else 1_000
    scenario = "9 a year of --move-to"
    log(f"scenario 9: 365 days of {per_day:,} uploads, each moved away at once")
    path = bench.tmp / "state-s9" / JOURNAL_NAME
    api_url = "https://api.productiv.com"
    start = time.time() - 365 * DAY_S
    sizes: dict[int, int] = {}
    started = time.perf_counter()
    with Journal(path) as journal:
        for day in range(365):
            now = start + day * DAY_S
            moved = _journal_rows(journal, api_url, per_day, start=day * per_day, now=now)
            journal.forget_paths(api_url, SANDBOX_APP_ID, moved, now=now + 60)
            maintain(journal, api_url, SANDBOX_APP_ID, RETENTION_DAYS * DAY_S, now=now + 120)
            if day + 1 in (30, 90, 180, 365):
                journal.db.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                sizes[day + 1] = _journal_bytes(path)
        left = journal.count()
    elapsed = time.perf_counter() - started
    total = 365 * per_day
    row = Row(scenario, f"{per_day:,} uploads a day, retention {RETENTION_DAYS} days",
              f"{total:,} uploads", elapsed)  # fmt: skip
    row.note = (
        "journal after day "
        + ", ".join(f"{d}: {b / MIB:.0f} MiB" for d, b in sizes.items())
        + f"; {left:,} rows kept (bound: {RETENTION_DAYS + 1} days of uploads)"
    )
    if left > (RETENTION_DAYS + 1) * per_day:
        row.failed = True
        row.note = "FAILED: " + row.note
    shutil.rmtree(path.parent)
    return [row]


def closed_port(bench: Bench) -> list[Row]:
    count = 1000
    scenario = "10 API unreachable"
    log(f"scenario 10: {count} files against a closed port")
    folder = bench.make_files("s10", count, KIB)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = _env(f"http://127.0.0.1:{port}", bench.tmp / "state-s10", bench)
    run = measure.run([TOOL, "push", "-q", "-r", folder], env=env)
    outcome = Outcome(run, "" if run.returncode == 1 else f"exit {run.returncode}, expected 1")
    row = _row(scenario, "push, default --retries 5", f"{count} files, 10 batches", outcome)
    row.note = "time to fail every file: one URL request's retries with backoff"
    shutil.rmtree(folder)
    return [row]


def all_rows(bench: Bench) -> list[Row]:
    return [*reruns(bench), *big_journal(bench), *simulated_year(bench), *closed_port(bench)]


def main(argv: Sequence[str] | None = None) -> int:
    from run import FULL, QUICK, render

    quick = "--quick" in (argv if argv is not None else sys.argv[1:])
    tmp = Path(tempfile.mkdtemp(prefix="productiv-bench-"))
    try:
        rows = all_rows(Bench(QUICK if quick else FULL, tmp))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(render(rows, f"productiv-upload unattended scenarios ({'quick' if quick else 'full'})"))
    return 1 if any(row.failed for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
