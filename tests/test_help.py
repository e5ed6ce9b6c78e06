"""Help as a user reads it: flags show no value, PATH reads as a list of paths."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from productiv_upload.cli import static_help

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


# The saved pages: `--help` without typer, byte for byte what typer prints ---------------------

COMMANDS = [[], ["push"], ["check"], ["history"], ["sandbox"], ["watch"], ["config"],
            ["config", "show"]]  # fmt: skip
# Runs the entry point, then says on stderr's last line whether typer was loaded.
CHILD = (
    "import atexit, sys\n"
    "atexit.register(lambda: print('typer' in sys.modules, file=sys.__stderr__))\n"
    "from productiv_upload.__main__ import main\n"
    "main()\n"
)


@dataclass
class Shown:
    output: bytes
    typer_loaded: bool
    returncode: int


def show(argv: list[str], *, slow: bool = False, columns: int | None = None,
         terminal: bool = False, environ: dict[str, str] | None = None) -> Shown:  # fmt: skip
    """Run `productiv-upload ARGV` with stdout on a pipe, or on a terminal of `columns`."""
    env = {name: value for name, value in os.environ.items() if name not in ("COLUMNS", "LINES")}
    env |= (environ or {}) | ({static_help.SLOW_HELP: "1"} if slow else {})
    if columns is not None and not terminal:
        env["COLUMNS"] = str(columns)
    command = [sys.executable, "-c", CHILD, *argv]
    if not terminal:
        done = subprocess.run(command, env=env, stdin=subprocess.DEVNULL, capture_output=True)
        return Shown(done.stdout, done.stderr.split()[-1] == b"True", done.returncode)
    import fcntl  # POSIX only, as the terminal tests
    import struct
    import termios

    parent, child = os.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns or 80, 0, 0))
    with subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=child,
                          stderr=subprocess.PIPE) as process:  # fmt: skip
        os.close(child)
        output = b""
        while True:
            try:
                chunk = os.read(parent, 65536)
            except OSError:  # EIO: the terminal's other side is closed
                break
            if not chunk:
                break
            output += chunk
        os.close(parent)
        assert process.stderr is not None
        stderr = process.stderr.read()
    return Shown(output, stderr.split()[-1] == b"True", process.returncode)


def test_committed_help_pages_are_current() -> None:
    committed = {
        f"{variant}/{name}": (Path(static_help.PAGES_DIR) / variant / name).read_bytes()
        for variant in os.listdir(static_help.PAGES_DIR)
        for name in os.listdir(Path(static_help.PAGES_DIR) / variant)
    }

    assert committed == static_help.render_pages(), (
        "productiv_upload/cli/help_text/ is stale: regenerate it with "
        "`python -m productiv_upload.cli.static_help`"
    )


@pytest.mark.parametrize("command", COMMANDS)
def test_piped_help_is_typers_without_typer(command: list[str]) -> None:
    fast = show([*command, "--help"])
    slow = show([*command, "--help"], slow=True)

    assert (fast.typer_loaded, slow.typer_loaded) == (False, True)
    assert fast.output == slow.output
    assert fast.returncode == slow.returncode == 0
    assert show([*command, "-h"]).output == slow.output


@pytest.mark.skipif(sys.platform == "win32", reason="a pseudo-terminal")
@pytest.mark.parametrize(
    "environ",
    [{"TERM": "xterm-256color", "NO_COLOR": ""}, {"TERM": "xterm", "NO_COLOR": "1"},
     {"TERM": "dumb"}],
    ids=["colour", "NO_COLOR", "TERM=dumb"],
)  # fmt: skip
def test_help_on_an_80_column_terminal_is_typers_without_typer(environ: dict[str, str]) -> None:
    fast = show(["push", "--help"], terminal=True, environ=environ)
    slow = show(["push", "--help"], terminal=True, slow=True, environ=environ)

    assert (fast.typer_loaded, slow.typer_loaded) == (False, True)
    assert fast.output == slow.output
    assert (b"\x1b[" in fast.output) == (environ["TERM"] != "dumb")


@pytest.mark.skipif(sys.platform == "win32", reason="a pseudo-terminal")
def test_help_at_another_width_is_drawn_by_typer() -> None:
    assert show(["push", "--help"], terminal=True, columns=120).typer_loaded
    piped = show(["push", "--help"], columns=100)
    assert piped.typer_loaded
    assert "─" * 90 in piped.output.decode()  # drawn across the 100 columns


@pytest.mark.parametrize(
    "argv",
    [["nosuch", "--help"], ["push", "-r", "--help"], ["push", "--help", "-r"],
     ["config", "show"]],
)  # fmt: skip
def test_other_command_lines_go_to_typer(argv: list[str]) -> None:
    assert show(argv).typer_loaded


@pytest.mark.parametrize(
    "environ", [{"TERMINAL_WIDTH": "80"}, {"FORCE_COLOR": "1"}, {"PYTHONIOENCODING": "latin-1"}]
)
def test_settings_that_change_the_drawing_go_to_typer(environ: dict[str, str]) -> None:
    assert show(["push", "--help"], environ=environ).typer_loaded
