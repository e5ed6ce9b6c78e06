"""Help as a user reads it: whole at any width, from the one command model, quick to appear;
and a command line the CLI cannot take gets a short usage error, not the whole page."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer

from productiv_upload.cli.app import app
from productiv_upload.cli.help import model, typer_classes
from productiv_upload.cli.help import page as help_page

PACKAGE = Path(model.__file__).resolve().parents[2]  # productiv_upload/cli/help/model.py
COMMANDS = [words for words in (c["words"] for c in model.walk(model.from_app(app)))]
# Runs the entry point, then says on stderr's last line whether typer was loaded.
ENTRY_POINT = (
    "import atexit, sys\n"
    "atexit.register(lambda: print('typer' in sys.modules, file=sys.__stderr__))\n"
    "from productiv_upload.__main__ import main\n"
    "main()\n"
)
# The CLI as typer runs it, without the entry point's typer-free help.
THROUGH_TYPER = "from productiv_upload.cli.app import main\nmain()\n"


@dataclass
class Shown:
    output: str
    errors: str
    typer_loaded: bool
    returncode: int


def show(argv: list[str], *, columns: int | None = None, piped: bool = False,
         environ: dict[str, str] | None = None, program: str = ENTRY_POINT) -> Shown:  # fmt: skip
    """Run `productiv-upload ARGV` with stdout on a pipe, or on a pseudo-terminal of `columns`
    (with `piped`, stdout is a pipe and stdin and stderr the terminal: `--help | less`)."""
    env = {name: value for name, value in os.environ.items() if name not in ("COLUMNS", "LINES")}
    env |= {"TERM": "xterm-256color", "NO_COLOR": ""} | (environ or {})
    command = [sys.executable, "-c", program, *argv]
    if columns is None:
        done = subprocess.run(command, env=env, stdin=subprocess.DEVNULL, capture_output=True)
        return _shown(done.stdout, done.stderr, done.returncode)
    import fcntl  # POSIX only, as the terminal tests
    import struct
    import termios

    parent, child = os.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    streams: dict[str, Any] = (
        {"stdin": child, "stdout": subprocess.PIPE, "stderr": child}
        if piped
        else {"stdin": subprocess.DEVNULL, "stdout": child, "stderr": subprocess.PIPE}
    )
    with subprocess.Popen(command, env=env, **streams) as process:
        os.close(child)
        terminal = b""
        while True:
            try:
                chunk = os.read(parent, 65536)
            except OSError:  # EIO: the terminal's other side is closed
                break
            if not chunk:
                break
            terminal += chunk
        os.close(parent)
        piped_out = process.stdout.read() if process.stdout else b""
        errors = process.stderr.read() if process.stderr else b""
    if piped:
        return _shown(piped_out, terminal, process.returncode)
    # A terminal turns each newline into CR LF.
    return _shown(terminal.replace(b"\r\n", b"\n"), errors, process.returncode)


def _shown(output: bytes, errors: bytes, returncode: int) -> Shown:
    *rest, loaded = errors.decode().rstrip("\r\n").split("\n") or [""]
    return Shown(output.decode(), "\n".join(rest), loaded.strip() == "True", returncode)


def flat(text: str) -> str:
    """The words of `text` in order, whatever the wrapping (an example's ` \\` included)."""
    return " ".join(re.sub(r"\x1b\[[0-9;]*m", "", text).replace(" \\\n", " ").split())


# One model, saved and live ---------------------------------------------------------------------


def test_the_saved_command_model_is_current() -> None:
    assert model.dumps(model.load_saved()) == model.dumps(model.from_app(app)), (
        "productiv_upload/cli/help/command_model.json is stale: regenerate it with "
        "`python -m productiv_upload.cli.help.generate`"
    )


def live_commands() -> list[tuple[tuple[str, ...], Any, Any]]:
    """(words, command object, context) of every command, from typer's own objects."""
    root = typer.main.get_command(app)
    found = []

    def visit(command: Any, words: tuple[str, ...], parent: Any) -> None:
        ctx = command.context_class(command, info_name=(words or ("productiv-upload",))[-1],
                                    parent=parent, **command.context_settings)  # fmt: skip
        found.append((words, command, ctx))
        for name, sub in getattr(command, "commands", {}).items():
            visit(sub, (*words, name), ctx)

    visit(root, (), None)
    return found


@pytest.mark.parametrize("width", [80, 120, 200])
def test_every_option_shows_whole_with_its_default_and_bounds(width: int) -> None:
    for words, command, ctx in live_commands():
        described = model.find(model.load_saved(), list(words))
        assert described is not None, f"{words} is missing from the saved model"
        page = flat(help_page.render(described, width=width, colour=False))
        for param in command.get_params(ctx):
            if param.param_type_name != "option" or param.hidden:
                continue
            label = ", ".join(sorted(param.opts, key=lambda name: name.startswith("--")))
            if not param.is_flag:
                label += f" {param.metavar}"
            expected = [label, flat(param.help)]
            if isinstance(param.show_default, str):
                expected.append(f"[default: {param.show_default}]")
            elif param.show_default and not param.is_flag and param.default is not None:
                shown = param.default if isinstance(param.default, str) else f"{param.default:g}"
                expected.append(f"[default: {shown}]")
            if param.min is not None and param.max is not None:
                expected.append(f"[{param.min:g}..{param.max:g}]")
            missing = [text for text in expected if text not in page]
            assert missing == [], f"{' '.join(words)} --help at {width} columns lacks {missing}"


def test_no_option_states_its_default_twice() -> None:
    for command in model.walk(model.load_saved()):
        for option in command["options"]:
            if option["default"] is not None:
                assert "default" not in option["help"].lower(), option["names"]


def environment_variables_read() -> set[str]:
    """Every PRODUCTIV_* variable the settings read: those the option spec gives its options,
    and those named in the package's code outside the spec's help texts."""
    from productiv_upload.core.settings import options
    from productiv_upload.core.settings.spec import Option

    found = {o.env for o in vars(options).values() if isinstance(o, Option) and o.env}
    for path in PACKAGE.rglob("*.py"):
        if path.parent.name != "sandbox" and path.name != "options.py":
            found |= set(re.findall(r"[\"'](PRODUCTIV_[A-Z_]+)[\"']", path.read_text()))
    return found


def test_every_environment_variable_the_tool_reads_is_in_a_help_page() -> None:
    pages = " ".join(
        flat(help_page.render(command, width=80, colour=False))
        for command in model.walk(model.load_saved())
    )
    assert {"PRODUCTIV_APP_ID", "PRODUCTIV_UPLOAD_STATE_DIR"} <= environment_variables_read()
    assert sorted(name for name in environment_variables_read() if name not in pages) == []


@pytest.mark.parametrize("width", [80, 120, 200])
def test_no_line_is_wider_than_the_page_and_the_text_is_whole(width: int) -> None:
    for command in model.walk(model.load_saved()):
        page = help_page.render(command, width=width, colour=False)
        too_wide = [line for line in page.splitlines() if len(line) > min(width, 120)]
        assert too_wide == []
        assert flat(command["help"]) in flat(page)


def test_a_paragraph_is_wrapped_as_one_and_examples_as_written() -> None:
    push = model.find(model.load_saved(), ["push"])
    assert push is not None
    page = help_page.render(push, width=80, colour=False)

    # The declared text breaks its line after "pattern"; the page wraps where the width says.
    assert "pattern\n('exports/**/*.json')" in push["help"]
    assert "pattern\n('exports/**/*.json')" not in page
    assert "  productiv-upload push --sandbox examples/exports/*.json\n" in page
    continued = "find spool -name '*.json' -print0 | productiv-upload push --files-from - -0 \\\n"
    assert continued in page
    # A note starts on the line of its value, where that fits.
    assert "File names per URL request. [1..100]\n" in page
    assert "  [default: 100]\n" in page


def test_an_option_added_to_a_command_appears_in_its_help() -> None:
    # What another branch's new option gets, once the model is regenerated.
    extra = typer.Typer(cls=typer_classes.Group)

    @extra.command(cls=typer_classes.Command)
    def push(
        checksum: bool = typer.Option(False, "--checksum", rich_help_panel="Transfer",
                                      help="Compare every known file by content."),
        keep: int = typer.Option(30, "--journal-days", min=1, max=3650, metavar="DAYS",
                                 rich_help_panel="Journal", help="Keep records this long."),
    ) -> None:  # fmt: skip
        """Upload."""

    @extra.command(cls=typer_classes.Command)
    def status() -> None:
        """Show the state of each app."""

    described = model.from_app(extra)
    root_page = flat(help_page.render(described, width=80, colour=False))
    pushed = model.find(described, ["push"])
    assert pushed is not None
    page = flat(help_page.render(pushed, width=80, colour=False))

    assert "status Show the state of each app." in root_page
    assert "Transfer: --checksum Compare every known file by content." in page
    assert "Journal: --journal-days DAYS Keep records this long. [1..3650] [default: 30]" in page


def test_help_shows_no_type_tags_and_reads_dir_as_a_list() -> None:
    watch = show(["watch", "--help"]).output

    assert "Usage: productiv-upload watch [OPTIONS] DIR...\n" in watch
    assert [tag for tag in ("<list[", "{DIR", "<bool>", "<path>", "[x>=") if tag in watch] == []
    assert "Usage: productiv-upload push [OPTIONS] [PATH]...\n" in show(["push", "-h"]).output


# Without typer, at the terminal's width -----------------------------------------------------


@pytest.mark.parametrize("words", COMMANDS, ids=lambda words: " ".join(words) or "(program)")
def test_piped_help_is_typers_page_without_typer(words: list[str]) -> None:
    fast = show([*words, "--help"])
    slow = show([*words, "--help"], program=THROUGH_TYPER)

    assert (fast.typer_loaded, fast.returncode) == (False, 0)
    assert fast.output == slow.output
    assert show([*words, "-h"]).output == fast.output
    assert max(len(line) for line in fast.output.splitlines()) <= 80


@pytest.mark.skipif(sys.platform == "win32", reason="a pseudo-terminal")
@pytest.mark.parametrize("columns", [80, 120, 200])
def test_help_on_a_terminal_fills_its_width_without_typer(columns: int) -> None:
    fast = show(["push", "--help"], columns=columns)
    slow = show(["push", "-r", "--help"], columns=columns)  # an option first: typer's to parse

    assert (fast.typer_loaded, slow.typer_loaded) == (False, True)
    assert fast.output == slow.output
    widths = [len(re.sub(r"\x1b\[[0-9;]*m", "", line)) for line in fast.output.splitlines()]
    assert max(widths) <= min(columns, help_page.MAX_WIDTH)
    assert max(widths) > min(columns, help_page.MAX_WIDTH) - 10  # the width is used
    assert "PRODUCTIV_UPLOAD_STATE_DIR" in fast.output
    assert "~/.local/state/productiv-upload" in fast.output


@pytest.mark.skipif(sys.platform == "win32", reason="a pseudo-terminal")
@pytest.mark.parametrize(
    ("environ", "coloured"),
    [({}, True), ({"NO_COLOR": "1"}, False), ({"TERM": "dumb"}, False)],
    ids=["terminal", "NO_COLOR", "TERM=dumb"],
)
def test_colours_only_on_a_terminal_that_takes_them(environ: dict[str, str],
                                                    coloured: bool) -> None:  # fmt: skip
    fast = show(["push", "--help"], columns=100, environ=environ)
    slow = show(["push", "--help"], columns=100, environ=environ, program=THROUGH_TYPER)

    assert ("\x1b[" in fast.output) == coloured
    assert fast.output == slow.output
    assert "\x1b[" not in show(["push", "--help"]).output  # a pipe


@pytest.mark.skipif(sys.platform == "win32", reason="a pseudo-terminal")
def test_help_piped_to_a_pager_is_as_wide_as_the_terminal() -> None:
    paged = show(["push", "--help"], columns=120, piped=True)

    assert not paged.typer_loaded
    assert "\x1b[" not in paged.output
    assert 100 < max(len(line) for line in paged.output.splitlines()) <= 120


def test_columns_in_the_environment_sets_the_width() -> None:
    narrow = show(["push", "--help"], environ={"COLUMNS": "50"}).output

    # Only a word longer than the room left for it overflows; none is cut.
    assert [line for line in narrow.splitlines() if len(line) > 50 and " " in line.strip()] == []
    assert "https://login.api.productiv.com/oauth2/token]" in narrow
    assert "PRODUCTIV_UPLOAD_STATE_DIR" in narrow


def test_help_cut_short_by_a_closed_pipe_is_quiet() -> None:
    pipeline = f"{sys.executable} -m productiv_upload push --help | head -1"
    done = subprocess.run(["sh", "-c", pipeline], capture_output=True, text=True, check=True)

    assert done.stdout == "Usage: productiv-upload push [OPTIONS] [PATH]...\n"
    assert done.stderr == ""


# Usage errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "no command given: push, check, history, status, sandbox, watch or config"),
        (["push"], "no files given"),
        (["watch"], "missing argument 'DIR'"),
        (["config"], "no command given: show"),
        (["push", "--bogus", "a.json"], "no such option: --bogus"),
        (["pusj"], "no such command 'pusj'"),
        (["push", "-j", "100", "a.json"], "invalid value for '-j' / '--concurrency'"),
        (["push", "a.json", "--app-id"], "option '--app-id' requires an argument"),
    ],
    ids=[
        "program",
        "push",
        "watch",
        "config",
        "unknown option",
        "unknown command",
        "range",
        "no value",
    ],
)
def test_a_command_line_it_cannot_take_gets_a_short_usage_error(argv: list[str],
                                                                message: str) -> None:  # fmt: skip
    shown = show(argv)
    # The usage shown is the command's that was named, else the program's.
    named = argv[:1] if argv[:1] in (["push"], ["watch"], ["config"]) else []
    command = model.find(model.load_saved(), named)
    assert command is not None
    lines = shown.errors.splitlines()

    assert shown.returncode == 2
    assert shown.output == ""
    assert lines[0].startswith(f"productiv-upload: error: {message}")
    assert lines[1:] == [
        f"Usage: {help_page.usage(command)}",
        f"Try '{' '.join(['productiv-upload', *command['words']])} --help' for help.",
    ]
