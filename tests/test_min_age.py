"""`push --min-age`: files that may still be being written wait for a later run."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

from productiv_upload.sandbox import SANDBOX_APP_ID, Sandbox
from tests.conftest import invoke, make_files, run_process


def age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_young_files_are_deferred_not_journaled_and_do_not_change_the_exit_code(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    old, young = make_files(tmp_path / "exports", 2)
    age(old, 120)

    run = run_process("push", "--json", "--min-age", "30", str(old), str(young))

    assert run.exit_code == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["counts"] == {"uploaded": 1, "skipped": 0, "failed": 0, "deferred": 1}
    entry = {e["filename"]: e for e in report["files"]}[young.name]
    assert entry["status"] == "deferred"
    assert entry["attempts"] == 0
    assert re.fullmatch(
        r"modified \d+\.\d s ago, less than --min-age 30 s; "
        r"eligible from \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ",
        entry["error"],
    ), entry["error"]
    assert sandbox.put_count(SANDBOX_APP_ID, young.name) == 0
    names = [r.path for r in sandbox.requests_of("api")]
    assert all(young.name not in n for n in names)

    # Not journaled: once old enough, the next run sends it.
    age(young, 120)
    rerun = run_process("push", "--json", "--min-age", "30", str(old), str(young))
    counts = json.loads(rerun.stdout)["counts"]
    assert counts == {"uploaded": 1, "skipped": 1, "failed": 0, "deferred": 0}
    assert sandbox.stored_path(SANDBOX_APP_ID, young.name).read_bytes() == young.read_bytes()


def test_plain_and_quiet_output_say_what_was_deferred(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    files = make_files(tmp_path / "exports", 3)

    plain = invoke("push", "--min-age", "60", *map(str, files))
    quiet = invoke("push", "-q", "--min-age", "60", *map(str, files))

    assert plain.exit_code == 0
    assert plain.stdout.count(" deferred ") == 3
    assert "3 files: 0 uploaded, 0 skipped, 0 failed, 3 deferred;" in plain.stdout
    assert quiet.stdout.splitlines() == [quiet.stdout.strip()]
    assert "0 failed, 3 deferred;" in quiet.stdout
    assert sandbox.requests_of("api") == []


def test_without_min_age_nothing_is_deferred(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    files = make_files(tmp_path / "exports", 2)

    run = invoke("push", "--json", *map(str, files))

    assert json.loads(run.stdout)["counts"] == {"uploaded": 2, "skipped": 0, "failed": 0}


def test_dry_run_lists_deferred_files(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    old, young = make_files(tmp_path / "exports", 2)
    age(old, 120)

    run = invoke("push", "--dry-run", "--min-age", "30", str(old), str(young))

    assert run.exit_code == 0
    assert f"deferred: {young}: modified" in run.stdout
    assert sandbox.requests == []
