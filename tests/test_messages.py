"""Messages a new user meets in the first hour: each says what happened and what to do."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
from pathlib import Path

import pytest

from productiv_upload.sandbox import SANDBOX_APP_ID, Sandbox
from tests.conftest import invoke, make_files


def test_a_pattern_that_matches_nothing_points_to_allow_empty(
    sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "spool").mkdir()
    pattern = str(tmp_path / "spool" / "*.json")

    run = invoke("push", pattern)

    assert run.exit_code == 2
    assert run.stderr == (
        f"productiv-upload: error: no files match the pattern {pattern} (if that can happen, "
        "as with a spool folder that is empty at times, add --allow-empty)\n"
    )
    assert invoke("push", "--allow-empty", pattern).exit_code == 0


@pytest.mark.parametrize(
    ("given", "meant"),
    [
        ("127.0.0.1:8765", "http://127.0.0.1:8765"),
        ("localhost:8765/base", "http://localhost:8765/base"),
        ("api.example.com", "https://api.example.com"),
        ("user:secret@api.example.com?token=abc", "https://api.example.com"),
    ],
)
def test_an_api_url_without_a_scheme_is_shown_with_the_url_it_probably_meant(
    tmp_path: Path, given: str, meant: str
) -> None:
    [path] = make_files(tmp_path, 1)

    run = invoke("push", "--app-id", "x", "--api-url", given, str(path))

    assert run.exit_code == 2
    shown = meant.split("://")[1]
    assert run.stderr == (
        f"productiv-upload: error: --api-url {shown} has no scheme: write {meant}\n"
    )
    assert "secret" not in run.stderr
    assert "abc" not in run.stderr


def test_files_from_stdin_on_a_terminal_says_it_is_waiting_for_names(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    files = make_files(tmp_path / "exports", 2)
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "productiv_upload", "push", "--files-from", "-", "--json"],
        stdin=terminal, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    os.close(terminal)
    try:
        assert process.stderr is not None
        ready, _, _ = select.select([process.stderr], [], [], 20)
        assert ready, "nothing said on stderr while waiting for names"
        said = os.read(process.stderr.fileno(), 4096).decode()
        assert said == (
            "productiv-upload: reading file names from standard input, one per line; "
            "end with Ctrl-D\n"
        )
        # What the user then does: type the names, and Ctrl-D at the start of a line.
        os.write(controller, "".join(f"{path}\n" for path in files).encode() + b"\x04")
        stdout, _ = process.communicate(timeout=30)
    finally:
        os.close(controller)
        if process.poll() is None:
            process.kill()
            process.communicate()

    assert process.returncode == 0
    assert b'"uploaded": 2' in stdout
    assert all(sandbox.put_count(SANDBOX_APP_ID, f.name) == 1 for f in files)


def test_files_from_a_pipe_says_nothing_extra(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    files = make_files(tmp_path / "exports", 2)

    completed = subprocess.run(
        [sys.executable, "-m", "productiv_upload", "push", "--files-from", "-", "-q"],
        input="".join(f"{path}\n" for path in files), capture_output=True, text=True,
        timeout=30, check=False,
    )  # fmt: skip

    assert completed.returncode == 0, completed.stderr
    assert completed.stderr == ""
