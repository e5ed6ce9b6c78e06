"""`productiv_upload.push()` from a real Python process, against the sandbox over HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from productiv_upload.core.session.lock import AppLock
from productiv_upload.sandbox import SANDBOX_APP_ID, SANDBOX_TOKEN, Sandbox
from tests.conftest import invoke, make_files

REPO = Path(__file__).resolve().parent.parent


def run_python(code: str, *args: str, env: dict[str, str] | None = None) -> tuple[Any, str, str]:
    """Run `code` in a new interpreter; it leaves its findings as JSON in the file argv[1]."""
    findings = Path(args[0]) if args else None
    completed = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **(env or {})},
    )
    assert completed.returncode == 0, completed.stderr
    found = json.loads(findings.read_text()) if findings and findings.exists() else None
    return found, completed.stdout, completed.stderr


PUSH_AND_RECORD = """
    import json, sys
    from productiv_upload import push
    seen = []
    result = push(sys.argv[2:], on_file=lambda r: seen.append([r.filename, r.status.value]))
    with open(sys.argv[1], "w") as out:
        json.dump({"report": result.report(), "seen": seen, "exit_code": result.exit_code,
                   "ok": result.ok, "counts": result.counts,
                   "files": [[f.path, f.filename, f.size, f.status.value, f.attempts, f.error]
                             for f in result.files]}, out)
"""


def test_push_uploads_every_file_and_prints_nothing(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    files = make_files(tmp_path / "exports", 5, size=300)

    found, stdout, stderr = run_python(PUSH_AND_RECORD, str(tmp_path / "out.json"),
                                       *map(str, files))  # fmt: skip

    assert (stdout, stderr) == ("", "")
    assert found["exit_code"] == 0
    assert found["ok"] is True
    assert found["counts"] == {"uploaded": 5, "skipped": 0, "failed": 0}
    assert [f[3] for f in found["files"]] == ["uploaded"] * 5
    assert found["report"]["version"] == 1
    assert found["report"]["counts"] == found["counts"]
    assert sorted(name for name, _ in found["seen"]) == sorted(p.name for p in files)
    for path in files:
        assert sandbox.stored_path(SANDBOX_APP_ID, path.name).read_bytes() == path.read_bytes()


def test_callback_hears_each_file_once_in_the_order_they_finish(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    files = make_files(tmp_path / "exports", 6, size=100)
    invoke("push", "-q", str(files[0]), str(files[1]))  # these two are then skipped
    sandbox.faults.put_errors.extend([500] * 20)  # every try of one more file fails...

    found, _, _ = run_python(
        PUSH_AND_RECORD.replace("push(sys.argv[2:],", "push(sys.argv[2:], retries=0, "
                                "concurrency=1,"),  # ...so one file fails, in order
        str(tmp_path / "out.json"), *map(str, files),
    )  # fmt: skip

    seen = found["seen"]
    # Skipped files are known before anything is sent, so they are told first.
    assert seen[:2] == [[files[0].name, "skipped"], [files[1].name, "skipped"]]
    assert sorted(name for name, _ in seen) == sorted(p.name for p in files)
    assert {tuple(s) for s in seen} == {(f[1], f[3]) for f in found["files"]}
    assert found["exit_code"] == 1
    assert found["ok"] is False
    assert found["counts"]["skipped"] == 2
    assert found["counts"]["failed"] == 4


def test_bad_input_raises_usage_error_before_any_request(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    found, stdout, stderr = run_python(
        """
        import json, sys
        from productiv_upload import UsageError, UploadError, push
        try:
            push([sys.argv[2]])
        except UsageError as error:
            outcome = {"kind": type(error).__name__, "is_upload_error":
                       isinstance(error, UploadError), "message": str(error)}
        json.dump(outcome, open(sys.argv[1], "w"))
        """,
        str(tmp_path / "out.json"), str(tmp_path / "missing.json"),
    )  # fmt: skip

    assert found["kind"] == "UsageError"
    assert found["is_upload_error"] is True
    assert "missing.json" in found["message"]
    assert (stdout, stderr) == ("", "")
    assert sandbox.requests == []


def test_a_refused_token_passed_as_an_argument_raises_access_refused_without_the_token(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    [path] = make_files(tmp_path / "exports", 1)
    secret = "wrong-token-Zq8v41x"

    found, stdout, stderr = run_python(
        f"""
        import json, sys
        from productiv_upload import AccessRefused, push
        try:
            push([sys.argv[2]], app_id="{SANDBOX_APP_ID}", api_url="{sandbox.api_url}",
                 access_token="{secret}")
        except AccessRefused as error:
            outcome = {{"message": str(error), "args": repr(error.args),
                        "result": error.result is not None}}
        json.dump(outcome, open(sys.argv[1], "w"))
        """,
        str(tmp_path / "out.json"), str(path),
    )  # fmt: skip

    assert "401" in found["message"]
    assert secret not in json.dumps(found) + stdout + stderr
    assert found["result"] is True  # the run's results come with the error


def test_a_refused_client_secret_passed_as_an_argument_never_appears(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    [path] = make_files(tmp_path / "exports", 1)
    secret = "client-secret-Xk29fj3"

    found, stdout, stderr = run_python(
        f"""
        import json, sys
        from productiv_upload import AccessRefused, push
        try:
            push([sys.argv[2]], app_id="{SANDBOX_APP_ID}", api_url="{sandbox.api_url}",
                 token_url="{sandbox.token_url}", client_id="sandbox-client",
                 client_secret="{secret}")
        except AccessRefused as error:
            outcome = {{"kind": type(error).__name__, "message": str(error)}}
        json.dump(outcome, open(sys.argv[1], "w"))
        """,
        str(tmp_path / "out.json"), str(path),
    )  # fmt: skip

    assert found["kind"] == "AccessRefused"
    assert secret not in json.dumps(found) + stdout + stderr
    assert sandbox.requests_of("api") == []


def test_explicit_arguments_come_before_the_environment(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRODUCTIV_APP_ID", "not-this-app")
    monkeypatch.setenv("PRODUCTIV_ACCESS_TOKEN", "not-this-token")
    monkeypatch.setenv("PRODUCTIV_API_URL", "http://127.0.0.1:9")
    [path] = make_files(tmp_path / "exports", 1)

    found, _, _ = run_python(
        f"""
        import json, sys
        from productiv_upload import push
        result = push([sys.argv[2]], app_id="{SANDBOX_APP_ID}", api_url="{sandbox.api_url}",
                      access_token="{SANDBOX_TOKEN}")
        json.dump(result.counts, open(sys.argv[1], "w"))
        """,
        str(tmp_path / "out.json"), str(path),
    )  # fmt: skip

    assert found == {"uploaded": 1, "skipped": 0, "failed": 0}


def test_a_held_lock_raises_lock_held(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    [path] = make_files(tmp_path / "exports", 1)
    state = Path(os.environ["PRODUCTIV_UPLOAD_STATE_DIR"])

    with AppLock(state, sandbox.api_url, SANDBOX_APP_ID, wait_s=0):
        found, _, _ = run_python(
            """
            import json, sys
            from productiv_upload import LockHeld, push
            try:
                push([sys.argv[2]])
            except LockHeld as error:
                outcome = {"kind": type(error).__name__, "message": str(error)}
            json.dump(outcome, open(sys.argv[1], "w"))
            """,
            str(tmp_path / "out.json"), str(path),
        )  # fmt: skip

    assert found["kind"] == "LockHeld"
    assert sandbox.requests_of("put") == []


def test_out_of_range_arguments_are_usage_errors(sandbox_env: dict[str, str]) -> None:
    from productiv_upload import UsageError, push

    with pytest.raises(UsageError, match=r"concurrency must be from 1 to 64, not 0"):
        push(["x.json"], concurrency=0)
    with pytest.raises(
        UsageError, match="paths must be a list of paths or patterns, not a single one"
    ):
        push("x.json")


def test_public_names_are_exactly_all() -> None:
    import productiv_upload

    public = {
        "push", "PushResult", "FileResult", "UploadError", "UsageError", "AccessRefused",
        "LockHeld", "__version__",
    }  # fmt: skip
    assert set(productiv_upload.__all__) == public
    for name in public:
        assert getattr(productiv_upload, name) is not None
    assert issubclass(productiv_upload.LockHeld, productiv_upload.UploadError)


def test_the_example_task_script_uploads_through_the_api(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    files = make_files(tmp_path / "exports", 3)
    old = time.time() - 60  # older than the example's min_age
    for path in files:
        os.utime(path, (old, old))

    completed = subprocess.run(
        [sys.executable, str(REPO / "examples" / "python_api.py"), str(tmp_path / "exports/*")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip

    assert completed.returncode == 0, completed.stderr
    assert "counts: {'uploaded': 3, 'skipped': 0, 'failed': 0, 'deferred': 0}" in completed.stderr
    assert len(sandbox.requests_of("put")) == 3


def test_the_example_task_script_passes_mypy_strict() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental",
         str(REPO / "examples" / "python_api.py")],
        capture_output=True, text=True, timeout=300, check=False, cwd=REPO,
    )  # fmt: skip

    assert completed.returncode == 0, completed.stdout + completed.stderr
