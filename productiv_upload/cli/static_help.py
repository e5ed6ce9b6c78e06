"""Help pages rendered ahead of time, so `--help` answers without loading the CLI framework.

Before typer prints a help page it builds the whole command model and imports pydantic and
rich's markdown: about a third of a second, most of it typer's own start-up (a bare typer app
with the same options takes as long). So the pages are rendered by the real app, at a fixed
width, into package data, and printed from there when typer would print exactly the same
bytes: same width, same colours (none, full, or NO_COLOR's bold and dim). Any other case
(another width, a variable that changes what typer or rich draw, an encoding other than UTF-8)
goes to typer, as does everything that is not `[COMMAND...] --help` or `-h`.

    python -m productiv_upload.cli.static_help   # regenerate productiv_upload/cli/help_text/

Nothing here imports typer or rich at module level: `__main__` loads this module on every run.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import TextIO

PROG = "productiv-upload"
HELP_NAMES = ("-h", "--help")
# rich draws panels across the whole width, so a page is only right at the width it was drawn at.
# 80 columns is what rich uses when no stream is a terminal (cron, pipes in scripts, CI), and a
# terminal's usual default size.
WIDTH = 80
PAGES_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "help_text")
# Set to any value, `--help` is always rendered by typer (the tests compare the two).
SLOW_HELP = "_PRODUCTIV_UPLOAD_SLOW_HELP"
# Variables that change typer's or rich's drawing in ways the saved pages do not follow.
_NOT_FOLLOWED = (
    SLOW_HELP,
    "TERMINAL_WIDTH",
    "FORCE_COLOR",
    "PY_COLORS",
    "GITHUB_ACTIONS",
    "TTY_COMPATIBLE",
    "TYPER_USE_RICH",
    "_TYPER_FORCE_DISABLE_TERMINAL",
)
# The variants rich draws at one width: the environment that makes typer draw each one, at
# generation, besides a stdout that is not a terminal.
VARIANTS: dict[str, dict[str, str]] = {
    "plain": {},
    "color": {"TTY_COMPATIBLE": "1", "TERM": "xterm"},
    "no-color": {"TTY_COMPATIBLE": "1", "TERM": "xterm", "NO_COLOR": "1"},
}


def print_saved_page(argv: list[str], environ: Mapping[str, str], stdout: TextIO) -> bool:
    """Print the saved help page for `argv` if it is what typer would print; say if it did."""
    page = saved_page(argv, environ, stdout)
    if page is None:
        return False
    from productiv_upload.common.redact import Redactor

    # As everything the CLI writes (see app.main): a page holds no secret, unless one is an
    # ordinary word.
    redactor = Redactor()
    redactor.add(environ.get("PRODUCTIV_ACCESS_TOKEN"), environ.get("PRODUCTIV_CLIENT_SECRET"))
    try:
        stdout.write(redactor(page))
        stdout.flush()
    except BrokenPipeError:
        # `--help | head`, as click handles it: exit 1, and no second error when Python flushes.
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        raise SystemExit(1) from None
    return True


def saved_page(argv: list[str], environ: Mapping[str, str], stdout: TextIO) -> str | None:
    """The saved help page typer would print for `argv`, or None when typer must draw it."""
    if not argv or argv[-1] not in HELP_NAMES or sys.platform == "win32":
        return None
    words = argv[:-1]
    # Command names only: an option or a PATH before --help is typer's to interpret.
    # (Lower case too: a case-insensitive filesystem would find `Push` as `push`.)
    if not all(word.isascii() and word.isalnum() and word.islower() for word in words):
        return None
    if any(name in environ for name in _NOT_FOLLOWED):
        return None
    encoding = (getattr(stdout, "encoding", None) or "").lower().replace("_", "-")
    if encoding not in ("utf-8", "utf8"):
        return None  # rich would draw the panels' boxes in ASCII
    try:
        terminal = stdout.isatty()
    except ValueError:  # a closed stream
        return None
    if _rich_width(environ, terminal) != WIDTH:
        return None
    path = os.path.join(PAGES_DIR, _variant(environ, terminal), page_name(tuple(words)))
    try:
        with open(path, encoding="utf-8", newline="") as page:
            return page.read()
    except FileNotFoundError:  # not a command: typer says so
        return None


def page_name(words: tuple[str, ...]) -> str:
    return "-".join((PROG, *words)) + ".txt"


def _rich_width(environ: Mapping[str, str], terminal: bool) -> int:
    """The width rich 13 to 15 gives typer's console (`rich.console.Console.size`)."""
    columns, lines = environ.get("COLUMNS", ""), environ.get("LINES", "")
    if columns.isdigit() and lines.isdigit():
        return int(columns)
    if terminal and _dumb(environ):
        return 80
    width = 0
    # Any standard stream that is a terminal gives its width, so `--help | less` is as wide
    # as the terminal.
    for descriptor in (0, 1, 2):
        try:
            width = os.get_terminal_size(descriptor).columns
            break
        except (AttributeError, ValueError, OSError):
            pass
    if columns.isdigit():
        return int(columns)
    return width or 80


def _variant(environ: Mapping[str, str], terminal: bool) -> str:
    if not terminal or _dumb(environ):
        return "plain"
    return "no-color" if environ.get("NO_COLOR", "") else "color"


def _dumb(environ: Mapping[str, str]) -> bool:
    return environ.get("TERM", "").lower() in ("dumb", "unknown")


# Generation ---------------------------------------------------------------------------------


def render_pages() -> dict[str, bytes]:
    """Every page, keyed by its path under PAGES_DIR, as typer draws it at WIDTH."""
    from concurrent.futures import ThreadPoolExecutor

    from productiv_upload.cli.completion import command_model

    commands = [spec.words for spec in command_model().walk()]
    jobs = [(variant, words) for variant in VARIANTS for words in commands]
    # Each page is a fresh process (typer reads its settings from the environment at import);
    # running them side by side keeps a regeneration, and its test, to a few seconds.
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        pages = list(pool.map(lambda job: _render(*job), jobs))
    return {
        f"{variant}/{page_name(words)}": page
        for (variant, words), page in zip(jobs, pages, strict=True)
    }


def _render(variant: str, words: tuple[str, ...]) -> bytes:
    import subprocess

    environ = {
        name: value
        for name, value in os.environ.items()
        # No secret of the developer's may be masked into a page, and no setting may change it.
        if not name.startswith("PRODUCTIV_")
        and name not in (*_NOT_FOLLOWED, "COLUMNS", "LINES", "NO_COLOR", "TERM", "COLORTERM")
    }
    environ |= {SLOW_HELP: "1", "COLUMNS": str(WIDTH), "PYTHONIOENCODING": "utf-8"}
    environ |= VARIANTS[variant]
    return subprocess.run(  # noqa: S603 (this program, with the words of its own commands)
        [sys.executable, "-m", "productiv_upload", *words, "--help"],
        env=environ, stdin=subprocess.DEVNULL, capture_output=True, check=True,
    ).stdout  # fmt: skip


def main(argv: list[str]) -> int:
    if argv:
        print("usage: python -m productiv_upload.cli.static_help", file=sys.stderr)
        return 2
    pages = render_pages()
    for variant in VARIANTS:
        folder = os.path.join(PAGES_DIR, variant)
        os.makedirs(folder, exist_ok=True)
        current = {name.split("/")[1] for name in pages if name.startswith(f"{variant}/")}
        for stale in set(os.listdir(folder)) - current:
            os.remove(os.path.join(folder, stale))
    for name, page in pages.items():
        with open(os.path.join(PAGES_DIR, name), "wb") as file:
            file.write(page)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
