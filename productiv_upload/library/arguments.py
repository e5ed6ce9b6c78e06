"""`push()`'s arguments: checked before anything happens, and named the way Python names them.

The command line and `push()` offer the same options. `CLI_OPTIONS` pairs each option of
`productiv-upload push` with its parameter, `CLI_ONLY` lists the options `push()` leaves out
and why, and `PYTHON_ONLY` the parameters with no option; a test holds the three to the
command line. The core's messages name command-line options (`--min-age`); `python_words`
turns each into its parameter (`min_age=`) for messages that reach Python.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence

from productiv_upload.common.errors import UsageError
from productiv_upload.core.settings import limits
from productiv_upload.service.throttle import parse_rate

# Option of `productiv-upload push` -> how a message from push() names it. A flag becomes
# `name=True`; an option that takes a value, `name=` (followed by the value where one is shown).
CLI_OPTIONS: dict[str, str] = {
    "PATH": "paths",
    "--recursive": "recursive=True",
    "--exclude": "exclude=",
    "--allow-empty": "allow_empty=True",
    "--app-id": "app_id=",
    "--api-url": "api_url=",
    "--token-file": "token_file=",
    "--token-url": "token_url=",
    "--ca-bundle": "ca_bundle=",
    "--profile": "profile=",
    "--storage-host": "storage_hosts=",
    "--type": "upload_type=",
    "--concurrency": "concurrency=",
    "--batch-size": "batch_size=",
    "--retries": "retries=",
    "--timeout": "timeout=",
    "--force": "force=True",
    "--checksum": "checksum=True",
    "--state-dir": "state_dir=",
    "--journal-retention": "journal_retention_days=",
    "--metrics-file": "metrics_file=",
    "--wait-lock": "wait_lock=",
    "--limit-rate": "limit_rate=",
    "--move-to": "move_to=",
    "--delete-after": "delete_after=True",
    "--dry-run": "dry_run=True",
    "--max-age": "max_age=",
    "--min-age": "min_age=",
}
# Options of `productiv-upload push` that push() does not take, and why.
CLI_ONLY: dict[str, str] = {
    "--files-from": "pass the list itself as paths",
    "--null": "goes with --files-from; paths need no separator",
    "--sandbox": "start `productiv-upload sandbox` and pass the api_url it prints",
    "--keep-sandbox": "goes with --sandbox",
    "--json": "the result is the report: PushResult.report()",
    "--report": "write json.dumps(result.report()) where you need it",
    "--log-file": "warnings go to the `productiv_upload` logger; give it a handler",
    "--quiet": "push() prints nothing",
    "--debug": "exceptions keep their traceback in Python",
}
# Parameters of push() with no command-line option, and why.
PYTHON_ONLY: dict[str, str] = {
    "access_token": "on the command line every user could read it in `ps`",
    "client_id": "goes with client_secret",
    "client_secret": "on the command line every user could read it in `ps`",
    "on_file": "the command line shows each file instead",
}
SECRET_PARAMETERS = frozenset({"access_token", "client_secret"})

# An option as the core's messages name it, and the value shown after it, if any: a number, a
# path or a METAVAR (`--min-age 60 s`, `--move-to /x`, `--wait-lock SECONDS`).
_OPTION = re.compile(r"(?<![\w/.-])(--[a-z][a-z0-9-]*)(?![\w-])(?: ([0-9./~]\S*|[A-Z]+\b))?")


def python_words(message: str) -> str:
    """`message` with each command-line option named as push()'s parameter."""

    def parameter(match: re.Match[str]) -> str:
        option, value = match[1], match[2]
        named = CLI_OPTIONS.get(option, option)
        if value is None:
            return named
        # `min_age=60 s`: the value shown after an option joins its parameter.
        return named + value if named.endswith("=") else f"{named} {value}"

    return _OPTION.sub(parameter, message)


Check = Callable[[str, object], None]


def check_arguments(arguments: Mapping[str, object]) -> None:
    """Check each of push()'s arguments; the first problem raises UsageError naming it."""
    for name, value in arguments.items():
        CHECKS[name](name, value)
    if arguments.get("move_to") is not None and arguments.get("delete_after") is True:
        raise UsageError("choose move_to= or delete_after=True, not both")


def bytes_per_second(limit_rate: float | str | None) -> float | None:
    """limit_rate as the core takes it: a number of bytes per second, or a string like '10M'."""
    if not isinstance(limit_rate, str):
        return None if limit_rate is None else float(limit_rate)
    try:
        return parse_rate(limit_rate)
    except ValueError as error:
        raise UsageError(f"limit_rate: {error}") from None


def _paths(name: str, value: object) -> None:
    if isinstance(value, str | bytes | os.PathLike):
        raise UsageError(f"{name} must be a list of paths or patterns, not a single one")
    if not isinstance(value, Sequence):
        raise _wrong(name, value, "a list of paths or patterns")
    for path in value:
        if not isinstance(path, str | os.PathLike):
            raise _wrong(f"each of {name}", path, "a str or a path")


def _text(name: str, value: object) -> None:
    if value is not None and not isinstance(value, str):
        raise _wrong(name, value, "a string or None")


def _flag(name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise _wrong(name, value, "True or False")


def _whole(low: int, high: int) -> Check:
    def check(name: str, value: object) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _wrong(name, value, f"a whole number from {low} to {high}")
        if not low <= value <= high:
            raise UsageError(f"{name} must be from {low} to {high}, not {value}")

    return check


def _number(unit: str, low: float, high: float | None = None, *, optional: bool = False) -> Check:
    def check(name: str, value: object) -> None:
        if value is None and optional:
            return
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
            raise _wrong(name, value, f"a number of {unit}" + (" or None" if optional else ""))
        if value < low or (high is not None and value > high):
            bounds = f"from {low:g} to {high:g}" if high is not None else f"at least {low:g}"
            raise UsageError(f"{name} must be {bounds} {unit}, not {value:g}")

    return check


def _folder(name: str, value: object) -> None:
    if value is not None and not isinstance(value, str | os.PathLike):
        raise _wrong(name, value, "a str or a path, or None")


def _texts(name: str, value: object) -> None:
    if isinstance(value, str):
        raise UsageError(f"{name} must be a list of strings, not a single string: [{value!r}]")
    if not isinstance(value, Iterable):
        raise _wrong(name, value, "a list of strings")
    for item in value:
        if not isinstance(item, str):
            raise _wrong(f"each of {name}", item, "a string")


def _rate(name: str, value: object) -> None:
    if value is None or isinstance(value, str):
        bytes_per_second(value)  # a string is checked by parsing it
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise _wrong(name, value, "bytes per second (more than 0), a string such as '10M', "
                     "or None")  # fmt: skip


def _callback(name: str, value: object) -> None:
    if value is not None and not callable(value):
        raise _wrong(name, value, "a function taking a FileResult, or None")


def _wrong(name: str, value: object, kind: str) -> UsageError:
    shown = type(value).__name__
    if name not in SECRET_PARAMETERS:  # a secret's value is never shown, even a wrong one
        text = repr(value)
        shown += f" {text if len(text) <= 60 else text[:59] + '…'}"
    return UsageError(f"{name} must be {kind}, not {shown}")


# How each of push()'s parameters is checked; the ranges are the command line's.
CHECKS: dict[str, Check] = {
    "paths": _paths,
    "app_id": _text,
    "api_url": _text,
    "access_token": _text,
    "client_id": _text,
    "client_secret": _text,
    "token_url": _text,
    "token_file": _folder,
    "ca_bundle": _folder,
    "profile": _text,
    "state_dir": _folder,
    "storage_hosts": _texts,
    "recursive": _flag,
    "exclude": _texts,
    "allow_empty": _flag,
    "concurrency": _whole(1, limits.MAX_CONCURRENCY),
    "batch_size": _whole(1, limits.MAX_BATCH_SIZE),
    "retries": _whole(0, limits.MAX_RETRIES),
    "timeout": _number("seconds", limits.MIN_TIMEOUT_S, limits.MAX_TIMEOUT_S),
    "force": _flag,
    "checksum": _flag,
    "journal_retention_days": _number("days", 0, limits.MAX_JOURNAL_RETENTION_DAYS),
    "dry_run": _flag,
    "min_age": _number("seconds", 0, optional=True),
    "max_age": _number("hours", 0),
    "wait_lock": _number("seconds", 0, limits.MAX_WAIT_LOCK_S),
    "limit_rate": _rate,
    "move_to": _folder,
    "metrics_file": _folder,
    "delete_after": _flag,
    "upload_type": _text,
    "on_file": _callback,
}
