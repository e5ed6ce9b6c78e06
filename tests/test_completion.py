"""The committed completion scripts: current with the command model, and answering a Tab in bash
without starting Python."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

COMPLETIONS = Path(__file__).parent.parent / "completions"
BASH_SCRIPT = COMPLETIONS / "productiv-upload.bash"


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_committed_completion_scripts_are_current(shell: str) -> None:
    committed = COMPLETIONS / f"productiv-upload.{shell}"
    generated = subprocess.run(
        [sys.executable, "-m", "productiv_upload.cli.help.completion", shell],
        capture_output=True, text=True, check=True,
    )  # fmt: skip

    assert committed.read_text() == generated.stdout, (
        f"completions/productiv-upload.{shell} is stale: regenerate it with "
        "`python -m productiv_upload.cli.help.generate`"
    )


def tab(line: str, cwd: Path) -> list[str]:
    """What the committed bash script offers for a Tab at the end of `line`."""
    words = line.split(" ")  # a trailing space leaves an empty word: completing a new one
    script = (
        f'source "{BASH_SCRIPT}"\n'
        'COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))\n'
        "_productiv_upload\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    completed = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", script, "bash", *words],
        capture_output=True, text=True, check=True, cwd=cwd,
    )  # fmt: skip
    return [word for word in completed.stdout.split("\n") if word]


def test_a_tab_completes_an_option_of_the_command(tmp_path: Path) -> None:
    assert tab("productiv-upload push --conc", tmp_path) == ["--concurrency"]
    assert tab("productiv-upload config show --j", tmp_path) == ["--json"]
    assert "--dry-run" in tab("productiv-upload push -j 4 --", tmp_path)


def test_a_tab_completes_the_commands(tmp_path: Path) -> None:
    assert tab("productiv-upload ", tmp_path) == [
        "push", "check", "history", "status", "sandbox", "watch", "config"
    ]  # fmt: skip
    assert tab("productiv-upload config ", tmp_path) == ["show"]


def test_paths_and_file_options_complete_to_files(tmp_path: Path) -> None:
    tmp_path = tmp_path / "work"
    (tmp_path / "exports").mkdir(parents=True)
    (tmp_path / "report.json").touch()

    assert sorted(tab("productiv-upload push ", tmp_path)) == ["exports", "report.json"]
    assert tab("productiv-upload push -j 4 rep", tmp_path) == ["report.json"]
    assert tab("productiv-upload push --report r", tmp_path) == ["report.json"]
    assert tab("productiv-upload push --move-to ", tmp_path) == ["exports"]


def test_an_option_value_is_not_completed_as_an_option(tmp_path: Path) -> None:
    tmp_path = tmp_path / "work"
    tmp_path.mkdir()
    (tmp_path / "report.json").touch()

    assert tab("productiv-upload push --app-id ", tmp_path) == []
    # The value of --app-id is skipped when looking for the command's arguments.
    assert tab("productiv-upload push --app-id x ", tmp_path) == ["report.json"]
