"""Typer parameters built from the option spec (core/settings/options.py), never written here.

    @app.command(cls=typer_classes.Command)
    @takes(options.STATUS)
    def status(**values: Any) -> None: ...

typer reads a command's parameters from its signature and type hints; `takes` gives the
function one parameter per option, after its own (such as `ctx`), and typer calls it with one
keyword per option, named as the settings are.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, TypeVar, get_type_hints

import typer

from productiv_upload.core.settings.spec import Option

Command = TypeVar("Command", bound=Callable[..., None])

_TYPES: dict[str, Any] = {
    "flag": bool,
    "whole": int,
    "number": float,
    "text": str,
    "path": Path,
    "texts": list[str],
    "rate": str,
    "paths": list[str],
}


def takes(options: Sequence[Option]) -> Callable[[Command], Command]:
    """Give a command function the parameters of `options`, in order."""

    def give(function: Command) -> Command:
        hints = get_type_hints(function, include_extras=True)
        own = [
            parameter.replace(annotation=hints.get(name, parameter.annotation))
            for name, parameter in inspect.signature(function).parameters.items()
            if parameter.kind is not parameter.VAR_KEYWORD
        ]
        parameters = [*own, *(_parameter(option) for option in options)]
        function.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
        function.__annotations__ = {p.name: p.annotation for p in parameters}
        return function

    return give


def _parameter(option: Option) -> inspect.Parameter:
    kind = _TYPES[option.kind]
    required = option.default is ...
    optional = option.default is None or option.kind in ("texts", "paths")
    annotation = kind | None if optional and not required else kind
    default = inspect.Parameter.empty if required else _typer_default(option)
    return inspect.Parameter(
        option.name,
        inspect.Parameter.KEYWORD_ONLY,
        default=default,
        annotation=Annotated[annotation, _declaration(option)],
    )


def _typer_default(option: Option) -> Any:
    # click wants None, not (), for a repeatable option given no value.
    return None if option.kind in ("texts", "paths") else option.default


def _declaration(option: Option) -> Any:
    settings: dict[str, Any] = {"metavar": option.metavar, "show_default": option.show_default}
    if option.text:
        settings["help"] = option.text
    if option.hidden:
        settings["hidden"] = True
    if option.argument:
        return typer.Argument(**settings)
    if option.panel is not None:
        settings["rich_help_panel"] = option.panel
    if option.low is not None:
        settings["min"] = option.low
    if option.high is not None:
        settings["max"] = option.high
    if option.folder:
        settings["file_okay"] = False
    return typer.Option(*option.flags, **settings)
