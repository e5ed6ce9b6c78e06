"""What an option is, as plain data: the command line, push()'s checks and the help read it.

An `Option` names a setting once: the command line's flags and typer parameter, push()'s
keyword, and the settings field it fills all use `Option.name`. options.py holds the entries
and, per command, the ordered tuple of those it takes; nothing here knows typer.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path
from typing import Any, Literal, get_type_hints

from productiv_upload.common.errors import UsageError
from productiv_upload.service.throttle import parse_rate

# How a value is taken: the command line's type and push()'s check both follow from it.
Kind = Literal["flag", "whole", "number", "text", "path", "texts", "rate", "paths", "callback"]


@dataclass(frozen=True)
class Option:
    name: str  # the one name: typer parameter, push() keyword, settings field
    flags: tuple[str, ...]  # () for an argument, or a parameter push() alone takes
    kind: Kind
    default: Any = None
    help: str = ""  # "{env}" in it reads "env NAME"
    panel: str | None = None
    metavar: str | None = None  # also the unit push()'s messages give a number (SECONDS)
    low: float | None = None
    high: float | None = None
    env: str | None = None  # the environment variable the settings read for it
    show_default: bool | str = True
    argument: bool = False  # a positional argument (its metavar names it)
    hidden: bool = False
    folder: bool = False  # a path that must not be a file (typer's file_okay=False)
    secret: bool = False  # its value is never shown, not even a wrong one

    @property
    def text(self) -> str:
        return self.help.replace("{env}", f"env {self.env}")

    @property
    def flag(self) -> str:
        """The long flag, as messages name the option."""
        return self.flags[-1] if self.flags else self.name

    def value_of(self, given: Any) -> Any:
        """A value given on the command line or to push(), as the settings take it: lists as
        lists (none given: empty), paths as Path."""
        if self.kind == "paths":
            return [os.fspath(path) for path in given or ()]
        if self.kind == "texts":
            return list(given or ())
        if self.kind == "path" and given is not None:
            return Path(given)
        return given

    def check(self, value: object) -> None:
        """push()'s check of a value given for this option: UsageError naming it if wrong."""
        _CHECKS[self.kind](self, value)


def values_of(options: Iterable[Option], given: Mapping[str, object]) -> dict[str, Any]:
    """What typer passed, or push()'s arguments, as the settings take them (an option never
    given a list: empty)."""
    return {option.name: option.value_of(given[option.name]) for option in options}


def settings_of(cls: type[Any], values: Mapping[str, object]) -> Any:
    """`cls(**values)`, for a settings dataclass whose fields are named as the options are:
    fields that are settings dataclasses themselves are built from the same values, fields
    with no value keep their defaults."""
    hints = get_type_hints(cls)
    given: dict[str, object] = {}
    for field in fields(cls):
        part = hints[field.name]
        if isinstance(part, type) and is_dataclass(part):
            given[field.name] = settings_of(part, values)
        elif field.name in values:
            given[field.name] = values[field.name]
    return cls(**given)


def bytes_per_second(limit_rate: float | str | None, name: str = "--limit-rate") -> float | None:
    """--limit-rate as the transfers take it: a number of bytes per second, or a rate as text
    (10M is 10 MB/s, 500k, 8Mi); UsageError naming the option if it is not one."""
    if not isinstance(limit_rate, str):
        return None if limit_rate is None else float(limit_rate)
    try:
        return parse_rate(limit_rate)
    except ValueError as error:
        raise UsageError(f"{name}: {error}") from None


def _paths(option: Option, value: object) -> None:
    name = option.name
    if isinstance(value, str | bytes | os.PathLike):
        raise UsageError(f"{name} must be a list of paths or patterns, not a single one")
    if not isinstance(value, Sequence):
        raise _wrong(option, value, "a list of paths or patterns")
    for path in value:
        if not isinstance(path, str | os.PathLike):
            raise _wrong(option, path, "a str or a path", each=True)


def _text(option: Option, value: object) -> None:
    if value is not None and not isinstance(value, str):
        raise _wrong(option, value, "a string or None")


def _flag(option: Option, value: object) -> None:
    if not isinstance(value, bool):
        raise _wrong(option, value, "True or False")


def _whole(option: Option, value: object) -> None:
    low, high = int(option.low or 0), int(option.high or 0)
    optional = option.default is None
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        kind = f"a whole number from {low} to {high}" + (" or None" if optional else "")
        raise _wrong(option, value, kind)
    if not low <= value <= high:
        raise UsageError(f"{option.name} must be from {low} to {high}, not {value}")


def _number(option: Option, value: object) -> None:
    optional = option.default is None
    unit = (option.metavar or "").lower()
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise _wrong(option, value, f"a number of {unit}" + (" or None" if optional else ""))
    low, high = option.low or 0, option.high
    if value < low or (high is not None and value > high):
        bounds = f"from {low:g} to {high:g}" if high is not None else f"at least {low:g}"
        raise UsageError(f"{option.name} must be {bounds} {unit}, not {value:g}")


def _path(option: Option, value: object) -> None:
    if value is not None and not isinstance(value, str | os.PathLike):
        raise _wrong(option, value, "a str or a path, or None")


def _texts(option: Option, value: object) -> None:
    if isinstance(value, str):
        raise UsageError(
            f"{option.name} must be a list of strings, not a single string: [{value!r}]"
        )
    if not isinstance(value, Iterable):
        raise _wrong(option, value, "a list of strings")
    for item in value:
        if not isinstance(item, str):
            raise _wrong(option, item, "a string", each=True)


def _rate(option: Option, value: object) -> None:
    if value is None or isinstance(value, str):
        bytes_per_second(value, option.name)  # a string is checked by parsing it
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        kind = "bytes per second (more than 0), a string such as '10M', or None"
        raise _wrong(option, value, kind)


def _callback(option: Option, value: object) -> None:
    if value is not None and not callable(value):
        raise _wrong(option, value, "a function taking a FileResult, or None")


def _wrong(option: Option, value: object, kind: str, *, each: bool = False) -> UsageError:
    shown = type(value).__name__
    if not option.secret:  # a secret's value is never shown, even a wrong one
        text = repr(value)
        shown += f" {text if len(text) <= 60 else text[:59] + '…'}"
    name = f"each of {option.name}" if each else option.name
    return UsageError(f"{name} must be {kind}, not {shown}")


_CHECKS = {
    "flag": _flag,
    "whole": _whole,
    "number": _number,
    "text": _text,
    "path": _path,
    "texts": _texts,
    "rate": _rate,
    "paths": _paths,
    "callback": _callback,
}
