"""`push()`'s arguments: checked before anything happens, and named the way Python names them.

The command line and `push()` offer the same options, declared once in
core/settings/options.py (`PUSH` and `PUSH_FUNCTION`). `CLI_OPTIONS` pairs each option of
`productiv-upload push` with its parameter, `CLI_ONLY` says why `push()` leaves out the options
it does, and `PYTHON_ONLY` why some parameters have no option; a test holds them to the spec.
The core's messages name command-line options (`--min-age`); `python_words` turns each into
its parameter (`min_age=`) for messages that reach Python.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from productiv_upload.core.settings import options

# Option of `productiv-upload push` -> how a message from push() names it. A flag becomes
# `name=True`; an option that takes a value, `name=` (followed by the value where one is shown).
CLI_OPTIONS: dict[str, str] = {
    option.flag: f"{option.name}=True" if option.kind == "flag" else f"{option.name}="
    for option in options.PUSH_FUNCTION
    if option.flags
}
CLI_OPTIONS["PATH"] = "paths"
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


_PARAMETERS = {option.name: option for option in options.PUSH_FUNCTION}


def check_arguments(arguments: Mapping[str, object]) -> None:
    """Check each of push()'s arguments, as the option spec declares it; the first problem
    raises UsageError naming it. Rules between options are the settings' own (PushRequest)."""
    for name, value in arguments.items():
        _PARAMETERS[name].check(value)
