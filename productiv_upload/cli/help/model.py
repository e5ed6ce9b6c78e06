"""The command model: every command, argument and option of the CLI as plain data.

It is read from the typer app's command objects, where the options are declared, and nowhere
else. Help pages (page.py) and the shell completion scripts (completion.py) are both drawn
from it, so neither can drift from the options the CLI really takes. A copy is saved as package
data (command_model.json) so that `--help` answers without loading typer; a test fails when the
copy is stale:

    python -m productiv_upload.cli.help.generate   # rewrite command_model.json and completions/

Nothing here imports typer: the objects are read through the attributes typer's command classes
carry (typer 0.29 names them as click does).
"""

from __future__ import annotations

import json
import os
from typing import Any, Literal, TypedDict, cast

PROG = "productiv-upload"
SAVED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "command_model.json")
# Options without a panel of their own (--help, --version) are listed under this heading.
DEFAULT_PANEL = "Options"

# What an option or argument takes, for completion: a flag takes nothing; a FILE or PATH
# metavar takes files, DIR takes directories, any other metavar a value the shell cannot guess.
Takes = Literal["nothing", "value", "files", "dirs"]


class OptionModel(TypedDict):
    names: list[str]  # as declared: "-j", "--concurrency"
    metavar: str  # what follows the option ("N", "FILE"); "" for a flag
    help: str
    panel: str  # the heading it is listed under
    default: str | None  # as shown; None: nothing worth showing
    min: float | None
    max: float | None
    repeatable: bool
    takes: Takes


class ArgumentModel(TypedDict):
    name: str  # "PATH", without the "..." of a variadic argument
    help: str
    required: bool
    variadic: bool
    hidden: bool  # not listed (the command's own text explains it); still completed
    takes: Takes


class CommandModel(TypedDict):
    words: list[str]  # after the program's name: [] for the program, ["config", "show"]
    help: str
    arguments: list[ArgumentModel]
    options: list[OptionModel]
    commands: list[CommandModel]


def from_app(typer_app: Any) -> CommandModel:
    """The whole model of a typer app (imports typer: for generation, not for `--help`)."""
    import typer.main

    root = typer.main.get_command(typer_app)
    return _walk(root, PROG, (), None)


def _walk(command: Any, name: str, words: tuple[str, ...], parent: Any) -> CommandModel:
    ctx = command_context(command, name, parent)
    described = describe(command, ctx, words)
    for sub_name, sub in getattr(command, "commands", {}).items():
        if not sub.hidden:
            described["commands"].append(_walk(sub, sub_name, (*words, sub_name), ctx))
    return described


def command_context(command: Any, name: str, parent: Any) -> Any:
    """A context for `command` under `parent`'s, with nothing parsed."""
    # As click's make_context builds one, without parsing arguments: the help option's names
    # come from the context settings, inherited from the parent.
    return command.context_class(command, info_name=name, parent=parent, **command.context_settings)


def describe(command: Any, ctx: Any, words: tuple[str, ...]) -> CommandModel:
    """One command's model (its subcommands are left empty), from a command object and its
    context, as the CLI holds them when it runs."""
    params = command.get_params(ctx)
    arguments = [param for param in params if param.param_type_name == "argument"]
    options = [param for param in params if param.param_type_name == "option"]
    return CommandModel(
        words=list(words),
        help=_clean(command.help or ""),
        arguments=[_argument(param) for param in arguments],
        options=[_option(param) for param in options if not param.hidden],
        commands=[],
    )


def _argument(param: Any) -> ArgumentModel:
    return ArgumentModel(
        name=(param.metavar or param.name.upper()).rstrip("."),
        help=_clean(getattr(param, "help", None) or ""),
        required=bool(param.required),
        variadic=param.nargs == -1,
        hidden=bool(getattr(param, "hidden", False)),
        takes=_takes(param),
    )


def _option(param: Any) -> OptionModel:
    flag = bool(getattr(param, "is_flag", False))
    return OptionModel(
        # Short names first; click keeps the help option's names in a set, in no fixed order.
        names=sorted([*param.opts, *param.secondary_opts], key=lambda name: name.startswith("--")),
        metavar="" if flag else (param.metavar or "VALUE"),
        help=_clean(param.help or ""),
        panel=getattr(param, "rich_help_panel", None) or DEFAULT_PANEL,
        default=None if flag else _shown_default(param),
        min=_number(getattr(param, "min", None)),
        max=_number(getattr(param, "max", None)),
        repeatable=bool(param.multiple),
        takes=_takes(param),
    )


def _shown_default(param: Any) -> str | None:
    # `show_default` may itself be the text to show, when the value alone would mislead
    # (`--wait-lock`: 0 means "do not wait").
    shown = param.show_default
    if isinstance(shown, str):
        return shown
    if not shown or param.default is None or param.default in ((), []):
        return None
    if isinstance(param.default, float):
        return format_number(param.default)
    return str(param.default)


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def format_number(value: float) -> str:
    """60.0 as 60, 0.1 as 0.1: the numbers a user would type."""
    return f"{value:g}"


def _takes(param: Any) -> Takes:
    if getattr(param, "is_flag", False):
        return "nothing"
    metavar = (param.metavar or "").strip("[]. ")
    if metavar == "DIR":
        return "dirs"
    if metavar in ("FILE", "PATH"):
        return "files"
    return "value"


def _clean(text: str) -> str:
    """Help text as declared, without a docstring's indentation or trailing space."""
    import inspect

    return inspect.cleandoc(text)


def walk(command: CommandModel) -> list[CommandModel]:
    """The command and all its subcommands, depth first."""
    return [command, *(found for sub in command["commands"] for found in walk(sub))]


def find(model: CommandModel, words: list[str]) -> CommandModel | None:
    """The command named by `words` (["config", "show"]), or None."""
    for command in walk(model):
        if command["words"] == words:
            return command
    return None


def dumps(model: CommandModel) -> str:
    return json.dumps(model, indent=1, ensure_ascii=False) + "\n"


def load_saved() -> CommandModel:
    with open(SAVED, encoding="utf-8") as saved:
        return cast(CommandModel, json.load(saved))
