"""What the user sees: the JSON report, plain lines off a terminal, the live view on one."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
from pathlib import Path

import pytest

from productiv_upload import __version__
from productiv_upload.sandbox import SANDBOX_APP_ID, Sandbox
from tests.conftest import invoke, make_files, run_process, use_client_credentials

TIMESTAMPED = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ (uploaded|failed) ")


def test_json_report_has_the_documented_shape_and_is_alone_on_stdout(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    files = make_files(tmp_path / "exports", 3, size=10)
    sandbox.faults.omit_filenames.add(files[2].name)

    run = invoke("push", "--json", *map(str, files))

    report = json.loads(run.stdout)  # nothing but the report on stdout
    assert run.exit_code == 1
    assert set(report) == {
        "version",
        "app_id",
        "dry_run",
        "files",
        "counts",
        "bytes_uploaded",
        "elapsed_s",
    }
    assert report["version"] == 1
    assert report["app_id"] == SANDBOX_APP_ID
    assert report["dry_run"] is False
    assert report["counts"] == {"uploaded": 2, "skipped": 0, "failed": 1}
    assert report["bytes_uploaded"] == 20
    assert isinstance(report["elapsed_s"], float)
    assert report["files"][0] == {
        "path": str(files[0]),
        "filename": files[0].name,
        "size": 10,
        "status": "uploaded",
        "attempts": 1,
        "error": None,
    }
    assert [f["filename"] for f in report["files"]] == [f.name for f in files]


def test_off_a_terminal_output_is_plain_lines_without_ansi(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = make_files(tmp_path / "exports", 3)
    sandbox.faults.omit_filenames.add(files[0].name)
    monkeypatch.delenv("NO_COLOR")  # colour must be off because of the pipe alone
    run = run_process("push", *map(str, files))

    assert run.exit_code == 1
    assert "\x1b" not in run.stdout + run.stderr
    lines = run.stdout.splitlines()
    per_file = [line for line in lines if TIMESTAMPED.match(line)]
    assert len(per_file) == 3
    assert any(line.startswith(str(files[0]).join(["  ", ":"])) for line in lines)
    assert lines[-1].startswith("3 files: 2 uploaded, 0 skipped, 1 failed;")


def test_quiet_success_prints_only_the_summary_line(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    files = make_files(tmp_path / "exports", 4)

    run = invoke("push", "-q", *map(str, files))

    assert run.exit_code == 0
    assert run.stdout.splitlines() == [run.stdout.strip()]
    assert run.stdout.startswith("4 files: 4 uploaded, 0 skipped, 0 failed;")


def test_quiet_failure_still_names_the_file_and_reason(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    files = make_files(tmp_path / "exports", 2)
    sandbox.faults.omit_filenames.add(files[1].name)

    run = invoke("push", "-q", *map(str, files))

    assert run.exit_code == 1
    lines = run.stdout.splitlines()
    assert len(lines) == 2
    assert str(files[1]) in lines[0]
    assert "no upload URL" in lines[0]


def test_dry_run_lists_batches_and_contacts_nothing_not_even_for_a_token(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_client_credentials(sandbox, monkeypatch)
    files = make_files(tmp_path / "exports", 5)

    run = invoke("push", "--dry-run", "--batch-size", "2", *map(str, files))

    assert run.exit_code == 0, run.stderr
    assert sandbox.requests == []
    assert "batch 3/3: 1 file\n" in run.stdout
    assert all(str(path) in run.stdout for path in files)
    assert run.stdout.splitlines()[-1].startswith("dry run: 5 of 5 files would be sent")


def test_dry_run_json_marks_files_planned_or_already_uploaded(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_client_credentials(sandbox, monkeypatch)
    files = make_files(tmp_path / "exports", 3)
    assert invoke("push", str(files[0])).exit_code == 0
    before = len(sandbox.requests)

    run = invoke("push", "--dry-run", "--json", *map(str, files))

    assert run.exit_code == 0
    report = json.loads(run.stdout)
    assert report["dry_run"] is True
    assert [f["status"] for f in report["files"]] == ["skipped", "planned", "planned"]
    assert report["counts"] == {"uploaded": 0, "skipped": 1, "failed": 0, "planned": 2}
    assert len(sandbox.requests) == before


def test_python_dash_m_and_version() -> None:
    run = run_process("--version")
    assert run.exit_code == 0
    assert run.stdout.strip() == f"productiv-upload {__version__}"


def test_on_a_terminal_a_live_view_and_a_summary_table_are_drawn(tmp_path: Path) -> None:
    files = make_files(tmp_path / "exports", 3)
    controller, terminal = pty.openpty()
    env = {**os.environ, "COLUMNS": "120", "TERM": "xterm-256color"}
    process = subprocess.Popen(
        [sys.executable, "-m", "productiv_upload", "push", "--sandbox", *map(str, files)],
        stdout=terminal,
        stderr=terminal,
        env=env,
    )
    os.close(terminal)
    output = b""
    while True:
        ready, _, _ = select.select([controller], [], [], 30)
        if not ready:
            break
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the pty closes when the process ends
            break
        if not chunk:
            break
        output += chunk
    assert process.wait(timeout=30) == 0
    os.close(controller)
    text = output.decode("utf-8", "replace")
    assert "3/3 files" in text  # the overall bar
    assert "Attempts" in text  # the summary table's header
    assert "3 files: 3 uploaded, 0 skipped, 0 failed" in text


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0.0162, "16 ms"), (0.9994, "999 ms"), (7.84, "7.8 s"), (125.2, "2 min 05 s"),
     (3725, "1 h 02 min")],
)  # fmt: skip
def test_a_run_takes_a_time_shown_at_its_own_scale(seconds: float, shown: str) -> None:
    from productiv_upload.common.text import human_duration

    assert human_duration(seconds) == shown
