"""Command classes that give help pages and usage errors the tool's own shape.

Help is drawn by help_page.py from the command model of the live command objects, so a page
typer serves (`push -r --help`) is the one `__main__` prints from the saved model without typer.
A command line the CLI cannot take (an unknown option, a missing argument or command) gets a
few lines on stderr and exit 2, not typer's boxed message or the whole page. Both hooks are
click's API as typer 0.29 keeps it: a command's `get_help`, `make_context` and `invoke`, and
typer's `cls=`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import typer
from typer.core import TyperCommand, TyperGroup

from productiv_upload.cli import help_page, model

Result = TypeVar("Result")


def _help(command: Any, ctx: Any) -> str:
    described = model.describe(command, ctx, _words(ctx))
    if hasattr(command, "commands"):
        for name, sub in command.commands.items():
            if not sub.hidden:
                sub_ctx = model.command_context(sub, name, ctx)
                described["commands"].append(model.describe(sub, sub_ctx, (*_words(ctx), name)))
    # click writes the page with a newline of its own.
    return help_page.page_for(described, os.environ, sys.stdout).removesuffix("\n")


def _words(ctx: Any) -> tuple[str, ...]:
    """The command's words after the program's name, from its context's chain."""
    words: list[str] = []
    while ctx.parent is not None:
        words.insert(0, ctx.info_name)
        ctx = ctx.parent
    return tuple(words)


@contextmanager
def _usage_errors() -> Iterator[None]:
    try:
        yield
    except typer.TyperException as error:  # click's UsageError and kin, in typer 0.29
        ctx = getattr(error, "ctx", None)
        # As the tool's own messages: "no such option: --bogus", not "No such option: --bogus."
        message = error.format_message().removesuffix(".")
        if message[:2].istitle():
            message = message[0].lower() + message[1:]
        if ctx is None:
            typer.echo(f"{model.PROG}: error: {message}", err=True)
        else:
            described = model.describe(ctx.command, ctx, _words(ctx))
            if hasattr(ctx.command, "commands"):
                described["commands"] = [_stub(name) for name in ctx.command.commands]
            typer.echo(help_page.usage_error(described, message), err=True, nl=False)
        raise typer.Exit(error.exit_code) from None


def _stub(name: str) -> model.CommandModel:
    # Enough of a subcommand for the usage line, which only asks whether there are any.
    return model.CommandModel(words=[name], help="", arguments=[], options=[], commands=[])


def _guarded(action: Callable[[], Result]) -> Result:
    with _usage_errors():
        return action()


def _one_of(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


class Command(TyperCommand):
    def get_help(self, ctx: Any) -> str:
        return _help(self, ctx)

    def make_context(self, info_name: Any, args: Any, parent: Any = None, **extra: Any) -> Any:
        return _guarded(lambda: super(Command, self).make_context(info_name, args, parent, **extra))


class Group(TyperGroup):
    def get_help(self, ctx: Any) -> str:
        return _help(self, ctx)

    def make_context(self, info_name: Any, args: Any, parent: Any = None, **extra: Any) -> Any:
        return _guarded(lambda: super(Group, self).make_context(info_name, args, parent, **extra))

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if not args and not ctx.resilient_parsing:
            # Not the whole page: the commands there are, in one line.
            names = [name for name, sub in self.commands.items() if not sub.hidden]
            ctx.fail(f"no command given: {_one_of(names)}")
        return list(super().parse_args(ctx, args))

    def invoke(self, ctx: Any) -> Any:
        # Where a subcommand's name is looked up, and its own command line parsed.
        return _guarded(lambda: super(Group, self).invoke(ctx))
