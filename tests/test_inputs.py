"""Finding files: everything wrong with the inputs is found before the first request."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from productiv_upload.sandbox import SANDBOX_APP_ID, Sandbox
from tests.conftest import invoke, make_files, run_process


def assert_refused_before_any_request(sandbox: Sandbox, run_exit: int) -> None:
    assert run_exit == 2
    assert sandbox.requests == []


def test_missing_path_is_exit_2_naming_it(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    make_files(tmp_path, 1)

    run = invoke("push", str(tmp_path / "f0000.json"), str(tmp_path / "nope.json"))

    assert_refused_before_any_request(sandbox, run.exit_code)
    assert "nope.json" in run.stderr


def test_pattern_matching_nothing_is_exit_2(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    run = invoke("push", str(tmp_path / "*.json"))

    assert_refused_before_any_request(sandbox, run.exit_code)
    assert "*.json" in run.stderr


def test_allow_empty_makes_nothing_matched_a_success(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "exports").mkdir()

    run = invoke("push", "--allow-empty", "--json", "-r", str(tmp_path / "exports"))

    assert run.exit_code == 0, run.stderr
    assert json.loads(run.stdout)["files"] == []
    assert sandbox.requests == []


def test_directory_needs_recursive(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    make_files(tmp_path / "exports", 2)

    run = invoke("push", str(tmp_path / "exports"))

    assert_refused_before_any_request(sandbox, run.exit_code)
    assert "--recursive" in run.stderr


def test_recursive_uploads_every_regular_file_below(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    make_files(tmp_path / "exports", 2)
    make_files(tmp_path / "exports" / "deeper" / "still", 2, prefix="g")

    run = invoke("push", "-r", str(tmp_path / "exports"))

    assert run.exit_code == 0, run.stderr
    for name in ("f0000.json", "f0001.json", "g0000.json", "g0001.json"):
        assert sandbox.put_count(SANDBOX_APP_ID, name) == 1


def test_quoted_double_star_pattern_matches_any_depth_including_none(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    make_files(tmp_path / "exports", 1, prefix="top")
    make_files(tmp_path / "exports" / "a" / "b", 1, prefix="deep")
    (tmp_path / "exports" / "a" / "notes.txt").write_text("not json")

    run = invoke("push", str(tmp_path / "exports" / "**" / "*.json"))

    assert run.exit_code == 0, run.stderr
    assert sandbox.put_count(SANDBOX_APP_ID, "top0000.json") == 1
    assert sandbox.put_count(SANDBOX_APP_ID, "deep0000.json") == 1
    assert sandbox.put_count(SANDBOX_APP_ID, "notes.txt") == 0


def test_existing_path_with_glob_characters_is_taken_literally(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    literal = tmp_path / "report[1].json"
    literal.write_text("{}")
    (tmp_path / "report1.json").write_text('{"other": true}')

    run = invoke("push", str(literal))

    assert run.exit_code == 0, run.stderr
    assert sandbox.put_count(SANDBOX_APP_ID, "report[1].json") == 1
    assert sandbox.put_count(SANDBOX_APP_ID, "report1.json") == 0


def test_same_file_given_twice_is_sent_once(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    [path] = make_files(tmp_path, 1)

    run = invoke(
        "push",
        "--json",
        str(path),
        str(path),
        str(tmp_path / "." / path.name),
        str(tmp_path / "*.json"),
    )

    assert run.exit_code == 0, run.stderr
    assert len(json.loads(run.stdout)["files"]) == 1
    assert sandbox.put_count(SANDBOX_APP_ID, path.name) == 1


def test_two_files_with_the_same_base_name_are_refused_naming_both(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    first = tmp_path / "a" / "same.json"
    second = tmp_path / "b" / "same.json"
    for path in (first, second):
        path.parent.mkdir()
        path.write_text(str(path))

    run = invoke("push", str(first), str(second))

    assert_refused_before_any_request(sandbox, run.exit_code)
    assert str(first) in run.stderr
    assert str(second) in run.stderr


def test_symlink_uploads_target_bytes_under_the_link_name(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    target = tmp_path / "real.json"
    target.write_text('{"real": 1}')
    link = tmp_path / "link.json"
    link.symlink_to(target)

    run = invoke("push", str(link))

    assert run.exit_code == 0, run.stderr
    assert sandbox.stored_path(SANDBOX_APP_ID, "link.json").read_text() == '{"real": 1}'
    assert sandbox.put_count(SANDBOX_APP_ID, "real.json") == 0


def test_broken_symlink_is_exit_2(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "dangling.json").symlink_to(tmp_path / "gone.json")

    run = invoke("push", str(tmp_path / "dangling.json"))

    assert_refused_before_any_request(sandbox, run.exit_code)
    assert "dangling.json" in run.stderr
    assert "broken symlink" in run.stderr


def test_fifo_named_explicitly_is_reported_failed_and_never_opened(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)  # opening it for reading would block this test forever
    [regular] = make_files(tmp_path, 1)

    run = invoke("push", "--json", str(fifo), str(regular))

    assert run.exit_code == 1
    files = {f["filename"]: f for f in json.loads(run.stdout)["files"]}
    assert files["pipe.json"]["status"] == "failed"
    assert "FIFO" in files["pipe.json"]["error"]
    assert files[regular.name]["status"] == "uploaded"
    assert sandbox.put_count(SANDBOX_APP_ID, "pipe.json") == 0


def test_fifo_inside_a_recursive_directory_is_left_out_with_a_warning(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    make_files(tmp_path / "exports", 1)
    os.mkfifo(tmp_path / "exports" / "pipe.json")

    run = invoke("push", "-r", str(tmp_path / "exports"))

    assert run.exit_code == 0, run.stderr
    assert "pipe.json" in run.stderr
    assert "warning" in run.stderr
    assert sandbox.put_count(SANDBOX_APP_ID, "f0000.json") == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-j", "0"], "--concurrency"),
        (["-j", "65"], "--concurrency"),
        (["--batch-size", "101"], "--batch-size"),
        (["--batch-size", "0"], "--batch-size"),
    ],
)
def test_out_of_range_numbers_are_exit_2(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path, args: list[str], message: str
) -> None:
    [path] = make_files(tmp_path, 1)

    run = invoke("push", *args, str(path))

    assert_refused_before_any_request(sandbox, run.exit_code)
    assert message in run.stderr


def test_missing_app_id_is_exit_2(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRODUCTIV_ACCESS_TOKEN", "sandbox-token")
    [path] = make_files(tmp_path, 1)

    run = invoke("push", "--api-url", sandbox.api_url, str(path))

    assert_refused_before_any_request(sandbox, run.exit_code)
    assert "PRODUCTIV_APP_ID" in run.stderr


def test_missing_credentials_is_exit_2_saying_how_to_give_them(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    [path] = make_files(tmp_path, 1)

    run = invoke("push", "--api-url", sandbox.api_url, "--app-id", SANDBOX_APP_ID, str(path))

    assert_refused_before_any_request(sandbox, run.exit_code)
    assert "PRODUCTIV_ACCESS_TOKEN" in run.stderr


def test_token_file_readable_by_others_is_refused_with_the_fix(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("sandbox-token")
    token_file.chmod(0o644)
    [path] = make_files(tmp_path / "exports", 1)

    run = invoke(
        "push",
        "--api-url",
        sandbox.api_url,
        "--app-id",
        SANDBOX_APP_ID,
        "--token-file",
        str(token_file),
        str(path),
    )

    assert_refused_before_any_request(sandbox, run.exit_code)
    assert f"chmod 600 {token_file}" in run.stderr


def test_plain_http_api_url_is_refused_unless_loopback(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    [path] = make_files(tmp_path, 1)

    run = invoke("push", "--api-url", "http://api.example.com", str(path))

    assert_refused_before_any_request(sandbox, run.exit_code)
    assert "https://" in run.stderr


def test_socket_and_device_named_explicitly_are_failed_unopened(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(tmp_path / "sock.json"))
    [regular] = make_files(tmp_path, 1)
    try:
        run = invoke("push", "--json", str(tmp_path / "sock.json"), "/dev/null", str(regular))
    finally:
        listener.close()

    assert run.exit_code == 1
    files = {f["filename"]: f for f in json.loads(run.stdout)["files"]}
    assert "a socket" in files["sock.json"]["error"]
    assert "a device" in files["null"]["error"]
    assert files[regular.name]["status"] == "uploaded"
    assert len(sandbox.requests_of("put")) == 1


def test_every_bad_input_is_named_at_once(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    run = invoke(
        "push", str(tmp_path / "one.json"), str(tmp_path / "two.json"), str(tmp_path / "*.csv")
    )

    assert_refused_before_any_request(sandbox, run.exit_code)
    assert "one.json" in run.stderr
    assert "two.json" in run.stderr
    assert "*.csv" in run.stderr


def test_allow_empty_covers_a_quoted_pattern_matching_nothing(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    run = invoke("push", "--allow-empty", str(tmp_path / "*.json"))

    assert run.exit_code == 0, run.stderr
    assert sandbox.requests == []


def test_double_star_does_not_follow_directory_links(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    make_files(tmp_path / "exports" / "sub", 2)
    (tmp_path / "exports" / "loop1").symlink_to(".")
    (tmp_path / "exports" / "loop2").symlink_to(".")

    run = invoke("push", "--json", str(tmp_path / "exports" / "**" / "*.json"))

    assert run.exit_code == 0, run.stderr
    assert sorted(f["filename"] for f in json.loads(run.stdout)["files"]) == [
        "f0000.json",
        "f0001.json",
    ]


def test_a_directory_name_that_is_not_utf8_keeps_the_report_valid_json(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    folder = os.fsdecode(os.path.join(os.fsencode(tmp_path), b"dump\xff"))
    [path] = make_files(Path(folder), 1)

    run = run_process("push", "--json", str(path))

    assert run.exit_code == 0, run.stderr
    [entry] = json.loads(run.stdout)["files"]
    assert entry["path"] == str(path)
    assert entry["status"] == "uploaded"
