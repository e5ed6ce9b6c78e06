"""The main path over real HTTP: batches, URLs, streamed PUTs, and what reaches storage."""

from __future__ import annotations

import json
import math
import urllib.parse
from collections.abc import Sequence
from pathlib import Path

import pytest

from productiv_upload.core.model import FileResult
from productiv_upload.core.push.discover import discover
from productiv_upload.core.push.events import NullEvents
from productiv_upload.core.push.pusher import Pusher, PushOptions
from productiv_upload.sandbox import SANDBOX_APP_ID, SANDBOX_TOKEN, Sandbox
from productiv_upload.service.api import ProductivApi
from productiv_upload.service.http import make_session
from productiv_upload.service.storage import StorageClient
from productiv_upload.service.tokens import StaticToken
from tests.conftest import invoke, make_files, use_client_credentials
from tests.tls import over_http_and_https

FORBIDDEN_STORAGE_HEADERS = ("authorization", "content-type", "content-md5", "transfer-encoding")


def api_filenames(sandbox: Sandbox) -> list[list[str]]:
    batches = []
    for request in sandbox.requests_of("api"):
        query = urllib.parse.urlsplit(request.path).query
        batches.append(urllib.parse.parse_qs(query)["filenames"])
    return batches


@over_http_and_https
@pytest.mark.parametrize("count", [1, 100, 101, 250])
def test_files_go_in_batches_of_at_most_100_and_arrive_byte_identical(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path, count: int
) -> None:
    files = make_files(tmp_path / "exports", count, size=300)

    run = invoke("push", *map(str, files))

    assert run.exit_code == 0, run.stderr
    batches = api_filenames(sandbox)
    assert len(batches) == math.ceil(count / 100)
    assert all(len(batch) <= 100 for batch in batches)
    assert sorted(name for batch in batches for name in batch) == sorted(f.name for f in files)
    for path in files:
        assert sandbox.stored_path(SANDBOX_APP_ID, path.name).read_bytes() == path.read_bytes()
        assert sandbox.put_count(SANDBOX_APP_ID, path.name) == 1


@over_http_and_https
def test_batch_size_option_sets_names_per_request(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    files = make_files(tmp_path / "exports", 20)

    run = invoke("push", "--batch-size", "7", *map(str, files))

    assert run.exit_code == 0, run.stderr
    assert [len(batch) for batch in api_filenames(sandbox)] == [7, 7, 6]


@pytest.mark.parametrize(
    "name",
    [
        "with space.json",
        "a&b=c.json",
        "hash#1.json",
        "plus+1.json",
        "percent%41.json",
        "ünïcødé.json",
        "日本語.json",
        "semi;colon?.json",
    ],
)
def test_awkward_file_names_are_encoded_and_stored_under_their_exact_name(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path, name: str
) -> None:
    path = tmp_path / name
    path.write_bytes(b'{"ok": true}')

    run = invoke("push", str(path))

    assert run.exit_code == 0, run.stderr
    assert api_filenames(sandbox) == [[name]]
    assert sandbox.stored_path(SANDBOX_APP_ID, name).read_bytes() == b'{"ok": true}'


def test_spaces_are_sent_as_percent_20_not_plus(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "a b+c.json").write_text("{}")

    assert invoke("push", str(tmp_path / "a b+c.json")).exit_code == 0

    [request] = sandbox.requests_of("api")
    assert "filenames=a%20b%2Bc.json" in request.path


def test_app_id_is_encoded_as_one_path_segment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Sandbox(tmp_path / "bucket", apps=("team/a?b#c",)) as server:
        monkeypatch.setenv("PRODUCTIV_ACCESS_TOKEN", "sandbox-token")
        (tmp_path / "a.json").write_text("{}")

        run = invoke(
            "push", "--api-url", server.api_url, "--app-id", "team/a?b#c", str(tmp_path / "a.json")
        )

        assert run.exit_code == 0, run.stderr
        [request] = server.requests_of("api")
        assert request.path.startswith("/services/push/v1/customer/apps/team%2Fa%3Fb%23c/upload?")
        assert server.stored_path("team/a?b#c", "a.json").read_text() == "{}"


def test_type_is_passed_only_when_given(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "a.json").write_text("{}")

    assert invoke("push", str(tmp_path / "a.json")).exit_code == 0
    assert invoke("push", "--force", "--type", "users", str(tmp_path / "a.json")).exit_code == 0

    first, second = (
        urllib.parse.parse_qs(urllib.parse.urlsplit(r.path).query)
        for r in sandbox.requests_of("api")
    )
    assert "type" not in first
    assert second["type"] == ["users"]


def test_api_request_carries_bearer_token_and_json_content_type(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "a.json").write_text("{}")

    assert invoke("push", str(tmp_path / "a.json")).exit_code == 0

    [request] = sandbox.requests_of("api")
    assert request.header("Authorization") == "Bearer sandbox-token"
    assert request.header("Content-Type") == "application/json"
    assert (request.header("User-Agent") or "").startswith("productiv-upload/")


@over_http_and_https
def test_storage_puts_carry_length_and_none_of_the_forbidden_headers(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    # A ~/.netrc entry for the storage host must not smuggle credentials onto the PUT either.
    host = urllib.parse.urlsplit(sandbox.api_url).hostname
    netrc = Path.home() / ".netrc"
    netrc.write_text(f"machine {host} login someone password hunter2\n")
    netrc.chmod(0o600)
    files = make_files(tmp_path / "exports", 5, size=70_000)
    empty = tmp_path / "exports" / "empty.json"
    empty.write_bytes(b"")

    assert invoke("push", *map(str, [*files, empty])).exit_code == 0

    puts = sandbox.requests_of("put")
    assert len(puts) == 6
    sizes = {p.name: p.stat().st_size for p in [*files, empty]}
    for put in puts:
        names = {key.lower() for key, _ in put.headers}
        assert not names & set(FORBIDDEN_STORAGE_HEADERS), put.headers
        assert not any(name.startswith("x-amz-") for name in names)
        filename = urllib.parse.unquote(urllib.parse.urlsplit(put.path).path.split("/")[-1])
        assert put.header("Content-Length") == str(sizes[filename])
    assert sandbox.stored_path(SANDBOX_APP_ID, "empty.json").read_bytes() == b""


@over_http_and_https
def test_puts_run_in_parallel_over_keep_alive_connections_sized_to_concurrency(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    files = make_files(tmp_path / "exports", 60)
    sandbox.faults.latency_s = 0.02

    assert invoke("push", "-j", "3", *map(str, files)).exit_code == 0

    puts = sandbox.requests_of("put")
    assert len(puts) == 60
    assert sandbox.peak_puts == 3
    assert len({put.client_port for put in puts}) == 3  # 60 PUTs, 3 connections


def test_next_batch_urls_are_fetched_while_the_current_batch_uploads(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    files = make_files(tmp_path / "exports", 10)
    sandbox.faults.latency_s = 0.1  # each PUT round takes long enough to watch
    timeline: list[tuple[str, str]] = []

    class RecordingApi(ProductivApi):
        def upload_urls(self, filenames: Sequence[str]) -> dict[str, str]:
            timeline.append(("asked", filenames[0]))
            return super().upload_urls(filenames)

    class Recorder(NullEvents):
        def file_finished(self, result: FileResult) -> None:
            timeline.append(("done", result.filename))

    api = RecordingApi(
        sandbox.api_url, SANDBOX_APP_ID, StaticToken(SANDBOX_TOKEN), make_session(pool_size=2)
    )
    options = PushOptions(concurrency=2, batch_size=5)
    Pusher(api, StorageClient(pool_size=2), options, Recorder()).run(
        discover(map(str, files)).files
    )

    first_batch = {f.name for f in files[:5]}
    second_ask = timeline.index(("asked", files[5].name))
    still_uploading = [
        n for kind, n in timeline[second_ask:] if kind == "done" and n in first_batch
    ]
    # Asked for just before the first batch ran out (at most -j in flight and -j ready left):
    # the workers never wait for URLs, and URLs do not sit unused for long.
    assert 1 <= len(still_uploading) <= 4


def test_long_names_are_split_into_batches_whose_url_stays_short(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    files = [tmp_path / f"{n:03d}{'数据导出' * 20}.json" for n in range(100)]
    for path in files:
        path.write_text("{}")

    run = invoke("push", *map(str, files))

    assert run.exit_code == 0, run.stdout
    api = sandbox.requests_of("api")
    assert len(api) > 1
    assert all(len(r.path) < 8000 for r in api)
    assert all(sandbox.put_count(SANDBOX_APP_ID, f.name) == 1 for f in files)


def test_file_missing_from_the_url_map_fails_alone(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    files = make_files(tmp_path / "exports", 3)
    sandbox.faults.omit_filenames.add(files[1].name)

    run = invoke("push", "--json", *map(str, files))

    assert run.exit_code == 1
    report = json.loads(run.stdout)
    status = {f["filename"]: (f["status"], f["error"]) for f in report["files"]}
    assert status[files[0].name] == ("uploaded", None)
    assert status[files[2].name] == ("uploaded", None)
    assert status[files[1].name][0] == "failed"
    assert "no upload URL" in status[files[1].name][1]


@over_http_and_https
def test_client_credentials_fetch_a_token_from_the_token_url(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_client_credentials(sandbox, monkeypatch)
    (tmp_path / "a.json").write_text("{}")

    run = invoke("push", str(tmp_path / "a.json"))

    assert run.exit_code == 0, run.stderr
    [token_request] = sandbox.requests_of("token")
    assert token_request.status == 200
    assert token_request.header("Content-Type") == "application/x-www-form-urlencoded"
    assert dict(token_request.form) == {
        "grant_type": "client_credentials",
        "client_id": "sandbox-client",
        "client_secret": "<hidden>",
        "scope": "https://api.productiv.com/connector.write",
    }
    assert sandbox.put_count(SANDBOX_APP_ID, "a.json") == 1


def test_a_token_file_is_read_and_stripped(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("  sandbox-token\n")
    token_file.chmod(0o600)
    (tmp_path / "a.json").write_text("{}")

    run = invoke(
        "push",
        "--api-url",
        sandbox.api_url,
        "--app-id",
        SANDBOX_APP_ID,
        "--token-file",
        str(token_file),
        str(tmp_path / "a.json"),
    )

    assert run.exit_code == 0, run.stderr
    assert sandbox.requests_of("api")[0].header("Authorization") == "Bearer sandbox-token"


def test_transient_storage_failures_are_retried(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "a.json").write_text('{"a": 1}')
    sandbox.faults.put_errors.extend([503])
    sandbox.faults.drop_puts = 1

    run = invoke("push", "--json", str(tmp_path / "a.json"))

    assert run.exit_code == 0, run.stderr
    [entry] = json.loads(run.stdout)["files"]
    assert entry["status"] == "uploaded"
    assert entry["attempts"] == 3
    assert sandbox.stored_path(SANDBOX_APP_ID, "a.json").read_text() == '{"a": 1}'
