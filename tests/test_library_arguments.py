"""`push()` from Python: its arguments checked up front, its messages in parameter names, every
option of the command line, and what a callback that raises does."""

from __future__ import annotations

import inspect
import json
import os
import re
import time
from pathlib import Path
from typing import Any

import pytest
import typer.main

from productiv_upload import FileResult, LockHeld, UsageError, push
from productiv_upload.cli.app import app
from productiv_upload.core.session.lock import AppLock
from productiv_upload.core.settings import options
from productiv_upload.library.arguments import CLI_ONLY, CLI_OPTIONS, PYTHON_ONLY
from productiv_upload.sandbox import SANDBOX_APP_ID, Sandbox
from tests.conftest import make_files

A_FLAG = re.compile(r"(?<![\w/.-])--[a-z]")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"concurrency": "8"}, "concurrency must be a whole number from 1 to 64, not str '8'"),
        ({"concurrency": True}, "concurrency must be a whole number from 1 to 64, not bool True"),
        ({"app_id": 123}, "app_id must be a string or None, not int 123"),
        ({"exclude": "*.tmp"}, "exclude must be a list of strings, not a single string: ['*.tmp']"),
        ({"storage_hosts": [1]}, "each of storage_hosts must be a string, not int 1"),
        ({"timeout": "60"}, "timeout must be a number of seconds, not str '60'"),
        ({"timeout": 0}, "timeout must be from 0.1 to 3600 seconds, not 0"),
        ({"min_age": -1}, "min_age must be at least 0 seconds, not -1"),
        ({"max_age": None}, "max_age must be a number of hours, not NoneType None"),
        ({"wait_lock": float("nan")}, "wait_lock must be a number of seconds, not float nan"),
        ({"recursive": "yes"}, "recursive must be True or False, not str 'yes'"),
        ({"state_dir": 7}, "state_dir must be a str or a path, or None, not int 7"),
        ({"limit_rate": "fast"}, "limit_rate: 'fast' is not a rate"),
        ({"limit_rate": 0}, "limit_rate must be bytes per second (more than 0)"),
        ({"on_file": "print"}, "on_file must be a function taking a FileResult, or None"),
        ({"move_to": "done", "delete_after": True}, "choose move_to= or delete_after=True"),
        ({"access_token": 1234567}, "access_token must be a string or None, not int"),
    ],
)
def test_a_wrong_argument_raises_usage_error_naming_the_parameter(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path,
    arguments: dict[str, Any], message: str,
) -> None:  # fmt: skip
    [path] = make_files(tmp_path / "exports", 1)

    with pytest.raises(UsageError) as raised:
        push([path], **arguments)

    assert str(raised.value).startswith(message), raised.value
    assert "1234567" not in str(raised.value)  # a secret is never echoed, even a wrong one
    assert sandbox.requests == []


@pytest.mark.parametrize("paths", ["x.json", Path("x.json"), [1], None])
def test_paths_must_be_a_list_of_paths(sandbox_env: dict[str, str], paths: Any) -> None:
    with pytest.raises(UsageError, match="paths must be"):
        push(paths)


def test_messages_name_parameters_not_command_line_options(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    [path] = make_files(tmp_path / "exports", 1)
    messages = []

    (tmp_path / "spool").mkdir()
    with pytest.raises(UsageError) as no_match:
        push([str(tmp_path / "spool" / "*.json")])
    messages.append(str(no_match.value))
    assert "add allow_empty=True" in messages[-1]

    with pytest.raises(UsageError) as no_scheme:
        push([path], api_url="127.0.0.1:8765")
    messages.append(str(no_scheme.value))
    assert messages[-1] == "api_url=127.0.0.1:8765 has no scheme: write http://127.0.0.1:8765"

    deferred = push([path], min_age=60)
    messages.append(deferred.files[0].error or "")
    assert "less than min_age=60 s" in messages[-1]

    state = Path(os.environ["PRODUCTIV_UPLOAD_STATE_DIR"])
    with AppLock(state, sandbox.api_url, SANDBOX_APP_ID, wait_s=0), pytest.raises(LockHeld) as held:
        push([path])
    messages.append(str(held.value))
    assert "pass wait_lock=SECONDS to wait for it" in messages[-1]

    monkeypatch.delenv("PRODUCTIV_APP_ID")
    with pytest.raises(UsageError) as no_app:
        push([path])
    messages.append(str(no_app.value))
    assert messages[-1].startswith("no app id: pass app_id=, set PRODUCTIV_APP_ID")

    for message in messages:
        assert not A_FLAG.search(message), message


def test_push_has_every_option_of_the_command_or_says_why_not() -> None:
    command: Any = typer.main.get_command(app)
    flags = {}  # each option of `push` by its long name (its argument by metavar): a flag?
    for param in command.commands["push"].params:
        if param.param_type_name == "argument":
            flags[param.metavar] = False
        else:
            flags[max(param.opts, key=len)] = bool(param.is_flag)
    taken = {option.flag if option.flags else option.metavar for option in options.PUSH_FUNCTION}

    assert set(flags) == {o.flag if o.flags else o.metavar for o in options.PUSH}
    assert set(flags) - taken == set(CLI_ONLY), "an option is missing from push()"
    assert set(CLI_OPTIONS) == set(flags) & taken
    python_only = {o.name for o in options.PUSH_FUNCTION if not o.flags and not o.argument}
    assert python_only == set(PYTHON_ONLY)
    for option in options.PUSH_FUNCTION:
        if option.flags:
            assert (option.kind == "flag") == flags[option.flag], option.flag


def test_push_s_signature_is_the_spec_s() -> None:
    parameters = inspect.signature(push).parameters

    assert list(parameters) == [option.name for option in options.PUSH_FUNCTION]
    for option in options.PUSH_FUNCTION:
        default = parameters[option.name].default
        if option.argument:
            assert default is inspect.Parameter.empty
        elif option.kind == "texts":
            assert tuple(default) == (), option.name
        else:
            assert default == option.default, option.name


def test_an_empty_spool_with_allow_empty_is_a_success(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "spool").mkdir()

    result = push([str(tmp_path / "spool" / "*.json")], allow_empty=True)

    assert result.ok
    assert result.files == []
    assert sandbox.requests == []


def test_the_spool_options_from_python(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    files = make_files(tmp_path / "spool", 3)
    old = time.time() - 60
    for path in files:
        os.utime(path, (old, old))
    planned = push([str(tmp_path / "spool" / "*.json")], dry_run=True)
    assert planned.counts == {"uploaded": 0, "skipped": 0, "failed": 0, "planned": 3}
    assert sandbox.requests == []

    result = push([str(tmp_path / "spool" / "*.json")], move_to=tmp_path / "sent",
                  limit_rate="10M", wait_lock=5, max_age=0.01)  # fmt: skip

    assert result.ok
    assert sorted(p.name for p in (tmp_path / "sent").iterdir()) == [f.name for f in files]
    assert any("last modified more than" in w for w in result.warnings)
    assert not any(A_FLAG.search(w) for w in result.warnings)


def stored(sandbox: Sandbox) -> int:
    return sum(1 for r in sandbox.requests_of("put") if r.status == 200)


def test_a_callback_that_raises_stops_the_push_and_every_verified_file_is_journaled(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    files = make_files(tmp_path / "exports", 40)
    sandbox.faults.latency_s = 0.05
    heard: list[FileResult] = []

    def on_file(result: FileResult) -> None:
        heard.append(result)
        if len(heard) == 3:
            raise ValueError("the orchestrator gives up")

    with pytest.raises(ValueError, match="the orchestrator gives up") as raised:
        push(files, concurrency=4, on_file=on_file)

    assert len(heard) == 3  # not called again once it raised
    [note] = raised.value.__notes__
    match = re.fullmatch(r"productiv_upload\.push\(\) stopped because on_file raised: (\d+) of "
                         r"40 files uploaded and recorded, (\d+) not sent; push\(\) again sends "
                         r"the rest", note)  # fmt: skip
    assert match, note
    uploaded = stored(sandbox)
    assert int(match[1]) == uploaded
    assert int(match[2]) >= 40 - uploaded - 4
    # Every file storage verified is in the journal: the next push skips it and sends the rest.
    sandbox.faults.latency_s = 0
    again = push(files)
    assert again.ok
    assert again.counts["skipped"] == uploaded
    assert [sandbox.put_count(SANDBOX_APP_ID, f.name) for f in files] == [1] * 40


def test_a_callback_that_raises_on_a_skipped_file_stops_before_sending(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    files = make_files(tmp_path / "exports", 3)
    push(files[:1])
    before = stored(sandbox)

    def on_file(result: FileResult) -> None:
        raise RuntimeError(f"no thanks: {result.status}")

    with pytest.raises(RuntimeError, match="no thanks: skipped") as raised:
        push(files, on_file=on_file)

    assert raised.value.__notes__ == ["productiv_upload.push() stopped before sending any file"]
    assert stored(sandbox) == before
    assert push(files).counts == {"uploaded": 2, "skipped": 1, "failed": 0}


def test_the_documented_signature_still_works(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    files = make_files(tmp_path / "exports", 2)
    old = time.time() - 120
    for path in files:
        os.utime(path, (old, old))

    # Every parameter README's "From Python" describes, each passed by keyword.
    result = push(
        [str(tmp_path / "exports" / "*.json")], app_id=SANDBOX_APP_ID, api_url=sandbox.api_url,
        access_token="sandbox-token", client_id=None, client_secret=None, token_url=None,
        profile=None, state_dir=tmp_path / "state", recursive=False, exclude=(),
        concurrency=8, batch_size=100, retries=5, timeout=60.0, force=False, min_age=60,
        upload_type=None, on_file=None,
    )  # fmt: skip

    assert result.ok
    assert json.loads(json.dumps(result.report()))["counts"]["uploaded"] == 2


@pytest.mark.parametrize(
    ("core", "python"),
    [
        ("less than --min-age 60 s; eligible", "less than min_age=60 s; eligible"),
        ("pass --wait-lock SECONDS to wait for it", "pass wait_lock=SECONDS to wait for it"),
        ("--move-to /data/sent is not a folder", "move_to=/data/sent is not a folder"),
        ("add --recursive to upload every file", "add recursive=True to upload every file"),
        ("that --token-url and --api-url belong", "that token_url= and api_url= belong"),
        ("exports/--force.json is missing", "exports/--force.json is missing"),  # a path
        ("cannot open a= 1.json", "cannot open a= 1.json"),  # not an option: left alone
    ],
)
def test_the_core_s_option_names_become_parameters(core: str, python: str) -> None:
    from productiv_upload.library.arguments import python_words

    assert python_words(core) == python


def test_an_optional_whole_number_takes_none_and_says_so_when_wrong() -> None:
    from productiv_upload.core.settings.spec import Option

    optional = Option("max_files", ("--max-files",), "whole", None, metavar="N", low=1, high=9)
    optional.check(None)
    with pytest.raises(UsageError) as wrong:
        optional.check("3")

    assert str(wrong.value) == "max_files must be a whole number from 1 to 9 or None, not str '3'"
    with pytest.raises(UsageError, match="concurrency must be a whole number from 1 to 64, not"):
        options.CONCURRENCY.check(None)
