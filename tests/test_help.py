"""Help as a user reads it: flags show no value, PATH reads as a list of paths."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

TYPE_TAGS = ("<bool>", "<str>", "<int", "<float", "<path>", "<dir>", "<list[", "[[")


@pytest.mark.parametrize(
    "command", [[], ["push"], ["check"], ["history"], ["sandbox"], ["config"], ["config", "show"]]
)
def test_help_shows_no_type_tags(command: list[str]) -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "productiv_upload", *command, "--help"],
        capture_output=True, text=True, check=True, env={**os.environ, "COLUMNS": "100"},
    ).stdout  # fmt: skip

    assert [tag for tag in TYPE_TAGS if tag in shown] == []


def test_push_usage_reads_as_a_list_of_paths() -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "productiv_upload", "push", "--help"],
        capture_output=True, text=True, check=True, env={**os.environ, "COLUMNS": "100"},
    ).stdout  # fmt: skip

    assert "Usage: productiv-upload push [OPTIONS] [PATH]..." in shown
    assert "--recursive" in shown
