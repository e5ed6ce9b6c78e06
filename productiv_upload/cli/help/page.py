"""Help pages and usage errors, drawn from the command model at the terminal's width.

No framework draws them: typer takes about a quarter of a second to start and lay out a page,
and rich's tables cut long names short (`PRODUCTIV_UPLOAD_STATE_DI…`). Here a page is plain text
wrapped to the width of the terminal (the first of stdout, stderr and stdin that is one, so that
`--help | less` is as wide as the terminal; $COLUMNS wins; 80 without a terminal), up to
MAX_WIDTH. A word is never cut: a name too long for its column overflows the line instead.
Paragraphs of a command's help are wrapped as paragraphs; indented lines (examples) are kept as
written, a command too long for the line continued with ` \\` as a shell would read it.

Colours only on a terminal, never with NO_COLOR or TERM=dumb.

`__main__` prints pages from the saved model (model.SAVED) without loading typer; the command
classes in typer_classes.py draw the same pages from the live command objects when typer is running.
Nothing here imports typer or rich.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, NamedTuple

from productiv_upload.cli.help.model import PROG, format_number, load_saved

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import TextIO

    from productiv_upload.cli.help.model import ArgumentModel, CommandModel, OptionModel

HELP_NAMES = ("-h", "--help")
# Lines of prose much longer than this are hard to follow from one line to the next.
MAX_WIDTH = 120
# Below this width the descriptions go under the names rather than beside them.
NARROW = 60
# A name column wider than this leaves too little room for the descriptions beside it.
MAX_NAME_COLUMN = 32
INDENT = "  "
CONTINUATION_INDENT = "    "

BOLD, CYAN, DIM, RESET = "\x1b[1m", "\x1b[36m", "\x1b[2m", "\x1b[0m"


class Style:
    """Wraps text in escape codes, or leaves it alone when colours are off."""

    def __init__(self, colour: bool) -> None:
        self.colour = colour

    def __call__(self, code: str, text: str) -> str:
        return f"{code}{text}{RESET}" if self.colour and text else text


# The page ------------------------------------------------------------------------------------


def render(command: CommandModel, *, width: int, colour: bool) -> str:
    """The help page of `command`, ending with a newline."""
    width = min(width, MAX_WIDTH)
    style = Style(colour)
    blocks = [[f"{style(BOLD, 'Usage:')} {usage(command)}"]]
    if command["help"]:
        blocks.append(_text(command["help"], width, style))
    rows = _rows(command)
    # The options' descriptions start in one column across their headings; the arguments' and
    # the commands' in columns of their own.
    columns: dict[str, int] = {}
    for row in rows:
        columns[row.table] = min(max(columns.get(row.table, 0), len(row.plain)), MAX_NAME_COLUMN)
    for heading in dict.fromkeys(row.heading for row in rows):
        lines = [style(BOLD, f"{heading}:")]
        for row in rows:
            if row.heading == heading:
                lines += _row_lines(row, columns[row.table], width, style)
        blocks.append(lines)
    return "\n\n".join("\n".join(block) for block in blocks) + "\n"


def usage(command: CommandModel) -> str:
    """`productiv-upload push [OPTIONS] [PATH]...`"""
    pieces = [PROG, *command["words"]]
    if command["options"]:
        pieces.append("[OPTIONS]")
    if command["commands"]:
        pieces.append("COMMAND [ARGS]...")
    for argument in command["arguments"]:
        name = argument["name"] if argument["required"] else f"[{argument['name']}]"
        pieces.append(name + ("..." if argument["variadic"] else ""))
    return " ".join(pieces)


def usage_error(command: CommandModel, message: str) -> str:
    """What a command line the CLI cannot take gets on stderr: what is wrong, the usage, and
    where to read more (as git, rclone and argparse answer: a few lines, not the whole page)."""
    path = " ".join([PROG, *command["words"]])
    return f"{PROG}: error: {message}\nUsage: {usage(command)}\nTry '{path} --help' for help.\n"


def argument_name(argument: ArgumentModel) -> str:
    return argument["name"] + ("..." if argument["variadic"] else "")


def first_paragraph(text: str) -> str:
    return " ".join(text.strip().split("\n\n")[0].split())


def _rows(command: CommandModel) -> list[_Row]:
    """The tables' rows: arguments listed (not those the command's text explains), subcommands,
    and options under the headings of their panels, in the order they were declared."""
    rows = [
        _Row("Arguments", "Arguments", [argument_name(argument)], "", _units(argument["help"]))
        for argument in command["arguments"]
        if not argument["hidden"]
    ]
    for sub in command["commands"]:
        units = _units(first_paragraph(sub["help"]))
        rows.append(_Row("Commands", "Commands", [sub["words"][-1]], "", units))
    # With any short name (-j), long-only options are indented so that long names line up.
    aligned = any(not name.startswith("--") for o in command["options"] for name in o["names"])
    for option in command["options"]:
        names = option["names"]  # short ones first
        indent = "    " if aligned and names[0].startswith("--") else ""
        units = _option_units(option)
        rows.append(_Row(option["panel"], "Options", names, option["metavar"], units, indent))
    return rows


class _Row(NamedTuple):
    """One entry of a table, on as many lines as its description needs."""

    heading: str
    table: str  # the rows of one table start their descriptions in one column
    names: list[str]
    metavar: str
    units: list[tuple[str, str]]  # the description's words, each with its style
    indent: str = ""  # before a long-only option's name, when others have short ones

    @property
    def plain(self) -> str:
        return self.indent + ", ".join(self.names) + (f" {self.metavar}" if self.metavar else "")

    def label(self, style: Style, *, aligned: bool = True) -> str:
        names = ", ".join(style(CYAN, name) for name in self.names)
        indent = self.indent if aligned else ""
        return indent + names + (f" {self.metavar}" if self.metavar else "")


def _option_units(option: OptionModel) -> list[tuple[str, str]]:
    units = _units(option["help"])
    bounds = _bounds(option["min"], option["max"])
    if bounds:
        units += _units(f"[{bounds}]", DIM)
    if option["default"] is not None:
        # "[default:" stays on the line of the value's first word.
        first, *rest = _units(f"{option['default']}]", DIM)
        units += [(f"[default: {first[0]}", DIM), *rest]
    return units


def _bounds(low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f"{format_number(low)}..{format_number(high)}"
    if high is not None:
        return f"at most {format_number(high)}"
    # A count or a time below zero means nothing: "at least 0" would tell nobody anything.
    if low:
        return f"at least {format_number(low)}"
    return ""


def _units(text: str, code: str = "") -> list[tuple[str, str]]:
    """Words to wrap, each with its style."""
    return [(word, code) for word in text.split()]


def _row_lines(row: _Row, column: int, width: int, style: Style) -> list[str]:
    if width < NARROW:
        below = INDENT * 4
        return [INDENT + row.label(style, aligned=False)] + [
            below + line for line in _wrap(row.units, width - len(below), style)
        ]
    start = len(INDENT) + column + 2
    wrapped = _wrap(row.units, width - start, style) or [""]
    if len(row.plain) > column:  # too long to share its line with the description
        return [INDENT + row.label(style)] + [" " * start + line for line in wrapped]
    first = INDENT + row.label(style) + " " * (column - len(row.plain) + 2) + wrapped[0]
    return [first.rstrip()] + [" " * start + line for line in wrapped[1:]]


def _wrap(units: list[tuple[str, str]], width: int, style: Style) -> list[str]:
    """Fill lines up to `width` columns; a word longer than that gets a line of its own.

    A unit of several words ("[default: 60]") stays on one line when it fits in one."""
    units = [
        (word, code)
        for text, code in units
        for word in (text.split() if len(text) > width else [text])
    ]
    lines: list[str] = []
    plain_length, current = 0, list[str]()
    for text, code in units:
        if current and plain_length + 1 + len(text) > width:
            lines.append(" ".join(current))
            plain_length, current = 0, list[str]()
        plain_length += len(text) + (1 if current else 0)
        current.append(style(code, text) if code else text)
    if current:
        lines.append(" ".join(current))
    return lines


def _text(text: str, width: int, style: Style) -> list[str]:
    """A command's help: paragraphs wrapped, indented lines kept, a `Heading:` line bold."""
    lines: list[str] = []
    for paragraph in text.split("\n\n"):
        paragraph = paragraph.strip("\n")
        if not paragraph.strip():
            continue
        if lines:
            lines.append("")
        rows = paragraph.split("\n")
        if rows[0].endswith(":") and all(row.startswith(" ") for row in rows[1:]):
            lines.append(style(BOLD, rows.pop(0)))  # "Examples:"
        if rows and all(row.startswith(" ") for row in rows):
            for row in rows:
                lines += _shell_lines(row.rstrip(), width)
        elif rows:
            lines += _wrap(_units(paragraph), width, style)
    return lines


def _shell_lines(line: str, width: int) -> list[str]:
    """An example command, continued with ` \\` where it would not fit on one line."""
    indent = line[: len(line) - len(line.lstrip(" "))]
    lines: list[str] = []
    while len(line) > width:
        cut = line.rfind(" ", len(indent) + 1, width - 1)
        if cut == -1:
            break
        lines.append(line[:cut] + " \\")
        line = indent + CONTINUATION_INDENT + line[cut + 1 :]
    return [*lines, line]


# The terminal ---------------------------------------------------------------------------------


def terminal_width(environ: Mapping[str, str]) -> int:
    """$COLUMNS, else the width of the first standard stream that is a terminal, else 80."""
    columns = environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    for descriptor in (1, 2, 0):
        try:
            size = os.get_terminal_size(descriptor).columns
        except (OSError, ValueError):
            continue
        if size > 0:
            return size
    return 80


def wants_colour(environ: Mapping[str, str], stream: TextIO) -> bool:
    """Colours on a terminal only, never with NO_COLOR set (no-color.org) or on a dumb one."""
    if environ.get("NO_COLOR") or environ.get("TERM", "").lower() in ("dumb", "unknown"):
        return False
    try:
        return stream.isatty()
    except ValueError:  # a closed stream
        return False


def page_for(command: CommandModel, environ: Mapping[str, str], stream: TextIO) -> str:
    return render(command, width=terminal_width(environ), colour=wants_colour(environ, stream))


# Without typer --------------------------------------------------------------------------------


def print_saved_help(argv: list[str], environ: Mapping[str, str], stdout: TextIO) -> bool:
    """Print the help `argv` asks for from the saved model; say whether it did.

    Only `[COMMAND...] -h|--help`: an option or a PATH before the help option is typer's to
    interpret (it then draws the same page from its live objects)."""
    if not argv or argv[-1] not in HELP_NAMES:
        return False
    words = argv[:-1]
    if any(word.startswith("-") for word in words):
        return False
    try:
        command = _find(load_saved(), words)
    except OSError:  # a copy of the package without its data: typer draws the page
        return False
    if command is None:  # not a command: typer says so
        return False
    from productiv_upload.common.redact import Redactor

    # As everything the CLI writes (see app.main): a page holds no secret, unless one is an
    # ordinary word.
    redactor = Redactor()
    redactor.add(environ.get("PRODUCTIV_ACCESS_TOKEN"), environ.get("PRODUCTIV_CLIENT_SECRET"))
    try:
        stdout.write(redactor(page_for(command, environ, stdout)))
        stdout.flush()
    except BrokenPipeError:
        # `--help | head`, as click handles it: exit 1, and no second error when Python flushes.
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        raise SystemExit(1) from None
    return True


def _find(model: CommandModel, words: list[str]) -> CommandModel | None:
    command = model
    for word in words:
        found = [sub for sub in command["commands"] if sub["words"][-1] == word]
        if not found:
            return None
        command = found[0]
    return command
