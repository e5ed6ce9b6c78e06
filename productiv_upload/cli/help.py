"""Command classes whose help shows a flag as what it is: an option that takes no value.

typer 0.29 writes a type tag beside every option in the rich help, flags included
(`--recursive -r <bool>`, as if a value followed), and its own `--help` too. An option's
metavar, when set, replaces that tag, so flags get an empty one here; options that take a
value declare their metavar where they are declared (FILE, SECONDS, N...). Both hooks are
click's public API: a command's `get_params()` and typer's `cls=`.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperCommand, TyperGroup


def _untagged_flags(params: list[Any]) -> list[Any]:
    for param in params:
        if getattr(param, "is_flag", False):
            param.metavar = ""
    return params


class Command(TyperCommand):
    def get_params(self, ctx: Any) -> list[Any]:
        return _untagged_flags(super().get_params(ctx))


class Group(TyperGroup):
    def get_params(self, ctx: Any) -> list[Any]:
        return _untagged_flags(super().get_params(ctx))
