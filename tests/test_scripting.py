"""What scripts and cron jobs use: file lists, exclusions, reports, logs, spool folders."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

from productiv_upload.sandbox import SANDBOX_APP_ID, Sandbox
from tests.conftest import invoke, make_files


def stored_names(sandbox: Sandbox) -> set[str]:
    return {p.name for p in (sandbox.storage_dir / SANDBOX_APP_ID).iterdir()}


def test_files_from_reads_one_path_per_line(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    files = make_files(tmp_path / "exports", 3)
    listing = tmp_path / "list.txt"
    listing.write_text("".join(f"{p}\n" for p in files[:2]))

    run = invoke("push", "--files-from", str(listing))

    assert run.exit_code == 0, run.stderr
    assert stored_names(sandbox) == {files[0].name, files[1].name}


def test_files_from_stdin_nul_separated_as_find_print0_writes(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    odd = tmp_path / "exports" / "line\nbreak.json"  # only -0 can carry this name
    odd.parent.mkdir()
    odd.write_text("{}")
    files = [*make_files(tmp_path / "exports", 2), odd]
    finder = subprocess.run(["find", str(tmp_path / "exports"), "-type", "f", "-print0"],
                            capture_output=True, check=True)  # fmt: skip

    pushed = subprocess.run(
        [sys.executable, "-m", "productiv_upload", "push", "--files-from", "-", "-0", "--json"],
        input=finder.stdout, capture_output=True, check=False,
    )  # fmt: skip

    assert pushed.returncode == 0, pushed.stderr
    assert json.loads(pushed.stdout)["counts"]["uploaded"] == 3
    assert stored_names(sandbox) == {"f0000.json", "f0001.json", "line%0Abreak.json"}
    assert sandbox.stored_path(SANDBOX_APP_ID, odd.name).read_text() == "{}"
    assert len(files) == 3


def test_files_from_names_a_missing_path(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    listing = tmp_path / "list.txt"
    listing.write_text(f"{tmp_path / 'gone.json'}\n")

    run = invoke("push", "--files-from", str(listing))

    assert run.exit_code == 2
    assert "gone.json" in run.stderr
    assert sandbox.requests == []


def test_exclude_leaves_out_names_and_paths(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    make_files(tmp_path / "exports", 3)
    make_files(tmp_path / "exports" / "old", 2, prefix="old")
    (tmp_path / "exports" / "notes.tmp").write_text("x")

    run = invoke("push", "-r", "--exclude", "*.tmp", "--exclude", "*/old/*",
                 str(tmp_path / "exports"))  # fmt: skip

    assert run.exit_code == 0, run.stderr
    assert stored_names(sandbox) == {"f0000.json", "f0001.json", "f0002.json"}


def test_report_file_holds_the_json_report(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    files = make_files(tmp_path / "exports", 2)
    report_path = tmp_path / "report.json"

    run = invoke("push", "--report", str(report_path), *map(str, files))

    assert run.exit_code == 0
    report = json.loads(report_path.read_text())
    assert report["counts"] == {"uploaded": 2, "skipped": 0, "failed": 0}
    assert "uploaded" in run.stdout  # the usual output still goes to stdout


def test_report_to_an_unwritable_place_is_refused_before_sending(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    [path] = make_files(tmp_path, 1)

    run = invoke("push", "--report", str(tmp_path / "no" / "such" / "r.json"), str(path))

    assert run.exit_code == 2
    assert sandbox.requests == []


def test_log_file_is_appended_with_timestamped_lines_and_private(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    files = make_files(tmp_path / "exports", 2)
    log = tmp_path / "push.log"

    assert invoke("push", "-q", "--log-file", str(log), str(files[0])).exit_code == 0
    assert invoke("push", "-q", "--log-file", str(log), str(files[1])).exit_code == 0

    lines = log.read_text().splitlines()
    assert [line.split(" ")[1] for line in lines if line[:4].isdigit() and " uploaded " in line] \
        == ["uploaded", "uploaded"]  # fmt: skip
    assert sum(line.endswith(")") and " 1 file: 1 uploaded" in line for line in lines) == 2
    assert sum(" push started: 1 file" in line for line in lines) == 2
    assert all(line[:4].isdigit() for line in lines)  # every line timestamped
    assert stat.S_IMODE(log.stat().st_mode) == 0o600


def test_an_error_that_ends_the_run_early_is_in_the_log_too(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    log = tmp_path / "push.log"

    run = invoke("push", "--log-file", str(log), str(tmp_path / "*.json"))

    assert run.exit_code == 2
    [line] = log.read_text().splitlines()
    assert line[:4].isdigit()
    assert "error: no files match the pattern" in line


def test_files_from_without_dash_0_on_a_nul_list_says_to_add_it(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    listing = tmp_path / "list"
    listing.write_bytes(b"a.json\0b.json\0")

    run = invoke("push", "--files-from", str(listing))

    assert run.exit_code == 2
    assert "add -0" in run.stderr


def test_move_to_moves_only_verified_files_and_never_over_another(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    good, failing, clashing = make_files(spool, 3)
    done = tmp_path / "done"
    done.mkdir()
    (done / clashing.name).write_text("an earlier file")
    sandbox.faults.omit_filenames.add(failing.name)

    run = invoke("push", "--move-to", str(done), *map(str, (good, failing, clashing)))

    assert run.exit_code == 1
    assert not good.exists()
    assert (done / good.name).read_bytes() == sandbox.stored_path(
        SANDBOX_APP_ID, good.name
    ).read_bytes()
    assert failing.exists()  # failed: kept for the next run
    assert clashing.exists()  # uploaded, but its place in done/ was taken
    assert (done / clashing.name).read_text() == "an earlier file"
    assert "already exists" in run.stderr


def test_delete_after_deletes_uploaded_and_already_journaled_files_only(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    first, second, failing = make_files(spool, 3)
    assert invoke("push", str(first)).exit_code == 0  # journaled before this run
    sandbox.faults.put_errors.extend([400])

    run = invoke("push", "-j", "1", "--delete-after", "--json", *map(str, (first, second, failing)))

    statuses = {f["filename"]: f["status"] for f in json.loads(run.stdout)["files"]}
    assert statuses[first.name] == "skipped"
    kept = [p for p in (first, second, failing) if p.exists()]
    failed = [p for p in (first, second, failing) if statuses[p.name] == "failed"]
    assert kept == failed
    assert len(failed) == 1


def test_move_to_and_delete_after_together_are_refused(tmp_path: Path) -> None:
    run = invoke("push", "--move-to", str(tmp_path), "--delete-after", "x.json")

    assert run.exit_code == 2


def test_old_files_get_a_12_hour_warning(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    fresh, stale = make_files(tmp_path / "exports", 2)
    day_ago = stale.stat().st_mtime - 24 * 3600
    os.utime(stale, (day_ago, day_ago))

    run = invoke("push", *map(str, (fresh, stale)))
    relaxed = invoke("push", "--force", "--max-age", "48", *map(str, (fresh, stale)))

    assert run.exit_code == 0
    assert "1 file last modified more than 12 h ago" in run.stderr
    assert str(stale) in run.stderr
    assert str(fresh) not in run.stderr
    assert "12 h" not in relaxed.stderr


def test_completion_answers_for_the_push_options() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "productiv_upload"],
        capture_output=True, text=True, check=True,
        env={**os.environ, "_PRODUCTIV_UPLOAD_COMPLETE": "complete_bash",
             "COMP_WORDS": "productiv-upload push --dry", "COMP_CWORD": "2"},
    )  # fmt: skip

    assert "--dry-run" in completed.stdout.split()
