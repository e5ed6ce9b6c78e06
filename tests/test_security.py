"""Hostile input and secrets: what SECURITY.md promises, each pinned by a test."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from productiv_upload.common.redact import Redactor, redact
from productiv_upload.core.model import LocalFile, Status
from productiv_upload.core.push.discover import discover
from productiv_upload.core.push.events import NullEvents
from productiv_upload.sandbox import SANDBOX_APP_ID, Sandbox
from tests.conftest import Run, invoke, make_files, run_process, use_client_credentials
from tests.test_reliability import pusher_for

SIGNATURE_PARAMS = ("Signature=", "X-Amz-Signature=", "AWSAccessKeyId=", "X-Amz-Credential=")


def leaks(text: str, *secrets: str) -> list[str]:
    found = [s for s in secrets if s in text]
    found += [p for p in SIGNATURE_PARAMS if p in text and f"{p}REDACTED" not in text]
    return found


def everything_written(run: Run, *files: Path) -> str:
    return run.stdout + run.stderr + "".join(f.read_text() for f in files if f.exists())


# --- 1. secrets never leak ---


def test_a_successful_debug_run_writes_no_secret_anywhere(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    files = make_files(tmp_path / "exports", 3)
    log, report = tmp_path / "run.log", tmp_path / "report.json"

    run = run_process("push", "--debug", "--log-file", str(log), "--report", str(report),
                      *map(str, files))  # fmt: skip

    assert run.exit_code == 0, run.stderr
    assert leaks(everything_written(run, log, report), "sandbox-token") == []
    with contextlib.closing(sqlite3.connect(tmp_path / "state" / "journal.sqlite3")) as journal:
        rows = journal.execute("SELECT * FROM uploads").fetchall()
    assert leaks(repr(rows), "sandbox-token") == []


def test_client_secret_and_fetched_tokens_stay_hidden_even_on_401(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_client_credentials(sandbox, monkeypatch, app_id="not-this-app")
    [path] = make_files(tmp_path, 1)
    log = tmp_path / "run.log"

    run = run_process("push", "--debug", "--log-file", str(log), str(path))

    assert run.exit_code == 3
    issued = [dict(r.headers).get("Authorization", "")[7:] for r in sandbox.requests_of("api")]
    assert issued
    assert all(issued)
    assert leaks(everything_written(run, log), "sandbox-secret", *issued) == []


def test_storage_refusals_and_connection_errors_never_show_the_signature(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    files = make_files(tmp_path, 3)
    sandbox.faults.drop_puts = 10  # dropped mid-body, again and again
    dropped = run_process("push", "--debug", "--retries", "1", "--json", str(files[0]))
    sandbox.faults.drop_puts = 0
    sandbox.faults.stall_puts_s = 2
    stalled = run_process("push", "--debug", "--retries", "0", "--timeout", "0.3", "--json",
                          str(files[1]))  # fmt: skip
    sandbox.faults.stall_puts_s = 0
    good = sandbox.signed_url(SANDBOX_APP_ID, files[2].name)
    sandbox.faults.signed_url_override = good.replace("Signature=", "Signature=x")
    refused = run_process("push", "--debug", "--json", str(files[2]))

    for run in (dropped, stalled, refused):
        assert run.exit_code == 1
        assert leaks(run.stdout + run.stderr, "sandbox-token") == []
    assert "SignatureDoesNotMatch" in refused.stdout
    assert "nothing moved for" in stalled.stdout


def test_an_interrupt_with_debug_shows_no_secret(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    files = make_files(tmp_path / "exports", 20)
    sandbox.faults.latency_s = 0.1
    process = subprocess.Popen(
        [sys.executable, "-m", "productiv_upload", "push", "--debug", "-j", "2", *map(str, files)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 20
    while not sandbox.requests_of("put") and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=20)

    assert process.returncode == 130
    assert leaks(stdout + stderr, "sandbox-token") == []


def test_redactor_masks_registered_secrets_bearer_tokens_and_signatures() -> None:
    redactor = Redactor()
    redactor.add("client-secret-123", None, "abc")  # too short to mask safely: ignored
    text = redactor(
        "secret client-secret-123; Authorization: Bearer eyJhbGciOi.x.y; "
        "https://s3/x?AWSAccessKeyId=AKIA1&Signature=abc%2B&Expires=9&X-Amz-Credential=a/b"
    )
    assert "client-secret-123" not in text
    assert "eyJhbGciOi" not in text
    assert "AKIA1" not in text
    assert "abc%2B" not in text
    assert "a/b" not in text
    assert "Expires=9" in text  # not a secret: kept for diagnosis
    assert redact("no secrets here") == "no secrets here"


# --- 2. requests only go where they should ---


def test_an_api_redirect_is_not_followed_and_carries_no_token(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    with Sandbox(tmp_path / "elsewhere") as elsewhere:
        sandbox.faults.api_redirect_to = f"{elsewhere.api_url}/steal"
        [path] = make_files(tmp_path, 1)

        run = invoke("push", str(path))

        assert run.exit_code == 1
        assert "redirect (302)" in run.stdout
        assert elsewhere.requests == []


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https:///no-host?Signature=x", "without a host"),
        ("ftp://example.com/a.json", "scheme 'ftp'"),
        ("not a url at all", "without a host"),
        ("http://[::1/broken", "not a valid URL"),
    ],
)
def test_a_bad_signed_url_fails_its_file_without_connecting(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path, url: str, reason: str
) -> None:
    [path] = make_files(tmp_path, 1)
    sandbox.faults.signed_url_override = url

    run = invoke("push", "--json", str(path))

    assert run.exit_code == 1
    [entry] = json.loads(run.stdout)["files"]
    assert reason in entry["error"]
    assert sandbox.requests_of("put") == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"[]", "not a map of file names to URLs"),
        (b'{"a.json": {"url": "x"}}', "not a map of file names to URLs"),
        (b'{"a.json": 1}', "not a map of file names to URLs"),
        (b"\xff\xfe\x00", "not JSON"),
        (b"<html><body>Proxy error</body></html>", "not JSON"),
        (b"{" + b'"k": "v", ' * 1_000_000 + b"}", "larger than"),
    ],
)
def test_an_api_answer_that_is_not_a_url_map_is_a_clear_error(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path, body: bytes, reason: str
) -> None:
    [path] = make_files(tmp_path, 1)
    sandbox.faults.api_body = body

    run = invoke("push", "--json", str(path))

    assert run.exit_code == 1
    [entry] = json.loads(run.stdout)["files"]
    assert reason in entry["error"]


def test_plain_http_token_url_is_refused_and_a_password_in_a_url_never_echoed(
    sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    [path] = make_files(tmp_path, 1)

    plain = invoke("push", "--token-url", "http://login.example.com/token", str(path))
    userinfo = invoke("push", "--api-url", "https://me:hunter22@api.example.com", str(path))

    assert plain.exit_code == 2
    assert "https://" in plain.stderr
    assert userinfo.exit_code == 2
    assert "hunter22" not in userinfo.stderr
    assert "user name or password" in userinfo.stderr


# --- 3. hostile file names and paths ---


def test_a_newline_or_escape_in_a_name_cannot_forge_output(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    forged = tmp_path / "x.json\n2026-01-01T00:00:00Z uploaded fake.json (1 B)"
    escape = tmp_path / "\x1b[2Jclear.json"
    for path in (forged, escape):
        path.write_text("{}")

    plain = run_process("push", str(forged), str(escape))
    report = run_process("push", "--force", "--json", str(forged), str(escape))

    assert plain.exit_code == 0, plain.stderr
    assert "\x1b" not in plain.stdout
    assert not any(line.startswith("2026-01-01") for line in plain.stdout.splitlines())
    assert len([line for line in plain.stdout.splitlines() if " uploaded " in line]) == 2
    names = {f["filename"] for f in json.loads(report.stdout)["files"]}
    assert names == {forged.name, escape.name}
    assert sandbox.stored_path(SANDBOX_APP_ID, forged.name).read_text() == "{}"


def test_names_equal_after_unicode_normalisation_are_refused(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    composed = tmp_path / "a" / "caf\u00e9.json"
    decomposed = tmp_path / "b" / "cafe\u0301.json"
    for path in (composed, decomposed):
        path.parent.mkdir()
        path.write_text("{}")

    run = invoke("push", str(composed), str(decomposed))

    assert run.exit_code == 2
    assert "two files would be uploaded" in run.stderr
    assert sandbox.requests == []


def test_leading_dashes_long_names_and_dot_dot_paths_are_sent_as_they_are(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "sub").mkdir()
    dashed = tmp_path / "-rf.json"
    long_name = tmp_path / ("L" * 240 + ".json")
    for path in (dashed, long_name):
        path.write_text("{}")

    run = invoke("push", "--json", "--", str(dashed), str(tmp_path / "sub" / ".." / long_name.name))

    assert run.exit_code == 0, run.stderr
    assert {f["filename"] for f in json.loads(run.stdout)["files"]} == {dashed.name, long_name.name}


def test_files_that_vanish_or_shrink_before_upload_fail_cleanly(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    vanishing, shrinking = make_files(tmp_path, 2, size=1_000_000)
    files = discover([str(vanishing), str(shrinking)]).files
    vanishing.unlink()

    class Truncator(NullEvents):
        def bytes_sent(self, file: LocalFile, count: int) -> None:
            if file.filename == shrinking.name and count > 0:
                os.truncate(file.path, 10)  # while its body is being sent

    pusher = pusher_for(sandbox, Truncator(), retries=0)
    gone, shrunk = pusher.run(files).results

    assert gone.status is Status.FAILED
    assert "No such file" in (gone.error or "")
    assert shrunk.status is Status.FAILED
    assert "shrank while it was being sent" in (shrunk.error or "")


# --- 4. hostile config and flags ---


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("", "is empty"),
        ("   \n\n", "is empty"),
        ("abc\ndef", "whitespace or control characters"),
        ("x" * 100_000, "too large"),
    ],
)
def test_bad_token_files_are_exit_2(
    sandbox: Sandbox, tmp_path: Path, content: str, reason: str
) -> None:
    token = tmp_path / "token"
    token.write_text(content)
    token.chmod(0o600)
    [path] = make_files(tmp_path / "exports", 1)

    run = invoke("push", "--api-url", sandbox.api_url, "--app-id", SANDBOX_APP_ID,
                 "--token-file", str(token), str(path))  # fmt: skip

    assert run.exit_code == 2
    assert reason in run.stderr
    assert sandbox.requests == []


@pytest.mark.parametrize(
    "args",
    [["--timeout", "0"], ["--retries", "99"], ["-j", "1000"], ["--batch-size", "-1"],
     ["--app-id", ".."], ["--app-id", "a\nb"], ["--max-age", "-5"]],
)  # fmt: skip
def test_absurd_flags_are_exit_2(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path, args: list[str]
) -> None:
    [path] = make_files(tmp_path, 1)

    run = invoke("push", *args, str(path))

    assert run.exit_code == 2
    assert sandbox.requests == []


# --- 6. packaging ---


def test_the_wheel_holds_only_the_package(tmp_path: Path) -> None:
    # Built from a copy: setuptools builds in the source tree and keeps its build/ there, which
    # would leave a folder in the checkout and carry modules that have since moved.
    source = tmp_path / "source"
    scratch = ("build", "dist", ".git", ".venv*", "*.egg-info", "__pycache__", "node_modules",
               ".*_cache", ".hypothesis")  # fmt: skip
    shutil.copytree(Path(__file__).parent.parent, source,
                    ignore=shutil.ignore_patterns(*scratch))  # fmt: skip
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path), str(source)],
        check=True, capture_output=True,
    )  # fmt: skip
    [wheel] = tmp_path.glob("productiv_upload-*.whl")

    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names}
    assert top == {"productiv_upload", next(t for t in top if t.endswith(".dist-info"))}
    # No report, journal or test came along; the command model `--help` prints from must.
    data = [n for n in names if "test" in n.split("/")[-1] or n.endswith((".json", ".sqlite3"))]
    assert data == ["productiv_upload/cli/help/command_model.json"]
