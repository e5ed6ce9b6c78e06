"""Command classes that give help pages and usage errors the tool's own shape.

Help is drawn by page.py from the command model of the live command objects, so a page
typer serves (`push -r --help`) is the one `__main__` prints from the saved model without typer.
A command line the CLI cannot take (an unknown option, a missing argument or command) gets a
few lines on stderr and exit 2, not typer's boxed message or the whole page. The hooks are
click's API as typer 0.29 keeps it (a command's `get_help`, `make_context`, `parse_args` and
`invoke`), reached through typer's `cls=`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from typer.core import TyperCommand, TyperGroup

from productiv_upload.cli.help import model
from productiv_upload.cli.help import page as help_page

Result = TypeVar("Result")


def _help(command: Any, ctx: Any) -> str:
    page = help_page.page_for(_described(command, ctx), os.environ, sys.stdout)
    return page.removesuffix("\n")  # click writes the page with a newline of its own


def _described(command: Any, ctx: Any) -> model.CommandModel:
    """The command's model, from its live objects, with its subcommands for the listing."""
    described = model.describe(command, ctx, _words(ctx))
    for name, sub in getattr(command, "commands", {}).items():
        if not sub.hidden:
            sub_ctx = model.command_context(sub, name, ctx)
            described["commands"].append(model.describe(sub, sub_ctx, (*_words(ctx), name)))
    return described


def _words(ctx: Any) -> tuple[str, ...]:
    """The command's words after the program's name, from its context's chain."""
    words: list[str] = []
    while ctx.parent is not None:
        words.insert(0, ctx.info_name)
        ctx = ctx.parent
    return tuple(words)


def _guarded(action: Callable[[], Result], context_of: Callable[[], Any]) -> Result:
    """Run `action`, turning click's usage errors into the tool's few lines and exit 2;
    `context_of` gives the command's context when the error carries none (the parser's own
    errors, raised before the context is handed out)."""
    try:
        return action()
    except typer.TyperException as error:  # click's UsageError and kin, in typer 0.29
        ctx = getattr(error, "ctx", None) or context_of()
        # As the tool's own messages: "no such option: --bogus", not "No such option: --bogus."
        message = error.format_message().removesuffix(".")
        if message[:2].istitle():
            message = message[0].lower() + message[1:]
        message = message.replace(": Input should", ": input should") + _bounds(error)
        described = _described(ctx.command, ctx)
        typer.echo(help_page.usage_error(described, message), err=True, nl=False)
        raise typer.Exit(error.exit_code) from None


def _bounds(error: Exception) -> str:
    """An option's range, after a value it refused: "(from 1 to 64)"."""
    param = getattr(error, "param", None)
    low, high = getattr(param, "min", None), getattr(param, "max", None)
    if low is None and high is None:
        return ""
    if high is None:
        return f" (at least {low:g})"
    if low is None:
        return f" (at most {high:g})"
    return f" (from {low:g} to {high:g})"


def _one_of(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


class Command(TyperCommand):
    def get_help(self, ctx: Any) -> str:
        return _help(self, ctx)

    def make_context(self, info_name: Any, args: Any, parent: Any = None, **extra: Any) -> Any:
        return _guarded(
            lambda: super(Command, self).make_context(info_name, args, parent, **extra),
            lambda: model.command_context(self, info_name, parent),
        )


class Group(TyperGroup):
    def get_help(self, ctx: Any) -> str:
        return _help(self, ctx)

    def make_context(self, info_name: Any, args: Any, parent: Any = None, **extra: Any) -> Any:
        return _guarded(
            lambda: super(Group, self).make_context(info_name, args, parent, **extra),
            lambda: model.command_context(self, info_name, parent),
        )

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if not args and not ctx.resilient_parsing:
            # Not the whole page: the commands there are, in one line.
            names = [name for name, sub in self.commands.items() if not sub.hidden]
            ctx.fail(f"no command given: {_one_of(names)}")
        return list(super().parse_args(ctx, args))

    def invoke(self, ctx: Any) -> Any:
        # Where a subcommand's name is looked up, and its own command line parsed.
        return _guarded(lambda: super(Group, self).invoke(ctx), lambda: ctx)
