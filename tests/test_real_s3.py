"""The tool against s3rver, an independent S3 server, with URLs from botocore's real presigner.

The project's sandbox checks what the tool sends; here a server written by others, from its own
reading of S3, checks it. s3rver verifies SigV2 query signatures (AWSAccessKeyId/Signature/
Expires, the form Productiv's documentation shows) and expiry in both forms, but not SigV4
signatures (measured; see the README), so the first tests prove its strictness before any test
trusts it. The tool runs as a user runs it: its console script, in a process of its own.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NoReturn

import botocore.session  # type: ignore[import-untyped]
import pytest
import requests
from botocore.config import Config  # type: ignore[import-untyped]
from botocore.exceptions import ClientError  # type: ignore[import-untyped]

from tests.real_s3_server import ACCESS_KEY, SECRET_KEY, S3rver, S3rverUnavailable, install

BUCKET = "productiv-data"
FAKE_TOKEN = "fake-access-token-for-s3rver-tests"
MAX_BATCH = 100  # the service's limit on filenames per request
CONSOLE_SCRIPT = Path(sys.executable).parent / "productiv-upload"
UPLOAD_PATH = re.compile(r"^/services/push/v1/customer/apps/([^/]+)/upload$")
# Every character a file name may hold that means something in a URL, and non-ASCII letters.
AWKWARD_NAMES = [
    "with space.json",
    "plus+sign.json",
    "percent%41 and 100%.json",  # %41 would turn into "A" if anything decoded the key twice
    "a&b=c.json",
    "hash#fragment.json",
    "question?mark.json",
    "café.json",
    "über.json",
    "日本.json",
    "all + % & = # ? é ü 日本.json",
]


def unavailable(reason: str) -> NoReturn:
    """Skip on a developer machine without node/npm; in CI, where it must run, fail."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true and s3rver is unavailable: {reason}")
    pytest.skip(f"s3rver is unavailable: {reason}")


@pytest.fixture(scope="session")
def s3rver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3rver]:
    try:
        server = S3rver(install(), tmp_path_factory.mktemp("s3rver") / "data", BUCKET).start()
    except S3rverUnavailable as error:
        unavailable(str(error))
    yield server
    server.stop()


def s3_client(endpoint_url: str, signature_version: str) -> Any:
    # Created after the autouse fixture has cleared proxies: botocore reads them at creation.
    return botocore.session.get_session().create_client(
        "s3",
        region_name="us-east-1",
        endpoint_url=endpoint_url,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=Config(signature_version=signature_version, s3={"addressing_style": "path"}),
    )


@dataclass
class Storage:
    """Presigns PUT URLs and reads objects back, as the bucket's owner would."""

    s3rver: S3rver
    _clients: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def client(self, signature_version: str) -> Any:
        with self._lock:
            if signature_version not in self._clients:
                self._clients[signature_version] = s3_client(
                    self.s3rver.endpoint_url, signature_version
                )
            return self._clients[signature_version]

    def presign_put(self, key: str, signature_version: str, expires_in: int = 900) -> str:
        client = self.client(signature_version)
        url: str = client.generate_presigned_url(
            "put_object", Params={"Bucket": BUCKET, "Key": key}, ExpiresIn=expires_in
        )
        return url

    def sha256(self, key: str) -> str:
        """The stored object's SHA-256, read back in a stream."""
        # SigV4 headers: s3rver refuses botocore's SigV2 *header* signatures, even for plain keys.
        answer = self.client("s3v4").get_object(Bucket=BUCKET, Key=key)
        digest = hashlib.sha256()
        for chunk in answer["Body"].iter_chunks(1024 * 1024):
            digest.update(chunk)
        return digest.hexdigest()

    def close(self) -> None:
        for client in self._clients.values():
            client.close()

    def exists(self, key: str) -> bool:
        try:
            self.client("s3v4").head_object(Bucket=BUCKET, Key=key)
        except ClientError:
            return False
        return True


@pytest.fixture
def storage(s3rver: S3rver) -> Iterator[Storage]:
    storage = Storage(s3rver)
    yield storage
    storage.close()


def object_key(app_id: str, filename: str) -> str:
    return f"log-connector-data/{app_id}/{filename}"


class FakeProductivApi(ThreadingHTTPServer):
    """Productiv's URL endpoint: a fresh presigned URL per file name, on every request."""

    daemon_threads = True

    def __init__(self, storage: Storage, signature_version: str) -> None:
        super().__init__(("127.0.0.1", 0), _ApiHandler)
        self.storage = storage
        self.signature_version = signature_version
        self.batches: list[list[str]] = []  # the filenames of each GET answered with URLs
        self.stale_batches = 0  # how many first GETs get URLs that expired a minute ago
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def gets(self) -> int:
        with self.lock:
            return len(self.batches)


class _ApiHandler(BaseHTTPRequestHandler):
    server: FakeProductivApi
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        parts = urllib.parse.urlsplit(self.path)
        route = UPLOAD_PATH.match(parts.path)
        if route is None:
            self._answer(HTTPStatus.NOT_FOUND, {"code": "404", "message": "Not Found"})
            return
        app_id = urllib.parse.unquote(route.group(1))
        if self.headers.get("Authorization") != f"Bearer {FAKE_TOKEN}":
            self._answer(HTTPStatus.UNAUTHORIZED, {"code": "401", "message": "Invalid token"})
            return
        filenames = urllib.parse.parse_qs(parts.query, keep_blank_values=True).get("filenames")
        if not filenames or len(filenames) > MAX_BATCH:
            message = f"filenames: 1 to {MAX_BATCH}, not {len(filenames or [])}"
            self._answer(HTTPStatus.BAD_REQUEST, {"code": "400", "message": message})
            return
        with self.server.lock:
            self.server.batches.append(filenames)
            expires_in = -60 if len(self.server.batches) <= self.server.stale_batches else 900
        storage, version = self.server.storage, self.server.signature_version
        self._answer(
            HTTPStatus.OK,
            {
                name: storage.presign_put(object_key(app_id, name), version, expires_in)
                for name in filenames
            },
        )

    def _answer(self, status: HTTPStatus, payload: dict[str, object]) -> None:
        if status != HTTPStatus.OK:
            payload = {**payload, "success": False}  # the service's error shape
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: pytest shows what matters


@pytest.fixture
def signature_version() -> str:
    """SigV2 query signatures, which s3rver verifies; a test may parametrize this."""
    return "s3"


@pytest.fixture
def fake_api(storage: Storage, signature_version: str) -> Iterator[FakeProductivApi]:
    server = FakeProductivApi(storage, signature_version)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def app_id(request: pytest.FixtureRequest) -> str:
    """One app per test: the server and its bucket are shared by the whole session."""
    return hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:16]


@dataclass
class Push:
    exit_code: int
    report: dict[str, Any]
    stderr: str

    def statuses(self) -> dict[str, str]:
        return {entry["filename"]: entry["status"] for entry in self.report["files"]}

    def failures(self) -> dict[str, str]:
        """Each file not uploaded, with its reason: what an assertion should show."""
        failed = {e["filename"]: e["error"] for e in self.report["files"] if e["error"]}
        return failed or {"stderr": self.stderr}


def push(api: FakeProductivApi, app_id: str, tmp_path: Path, *args: str) -> Push:
    """`productiv-upload push --json`, from the installed console script, as a user runs it."""
    assert CONSOLE_SCRIPT.exists(), f"{CONSOLE_SCRIPT} missing: pip install -e '.[test]'"
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("PRODUCTIV_") and not name.lower().endswith("_proxy")
    }
    env.update(
        HOME=str(home),
        PRODUCTIV_API_URL=api.url,
        PRODUCTIV_APP_ID=app_id,
        PRODUCTIV_ACCESS_TOKEN=FAKE_TOKEN,
        PRODUCTIV_UPLOAD_STATE_DIR=str(tmp_path / "state"),
    )
    completed = subprocess.run(
        [str(CONSOLE_SCRIPT), "push", "--json", *args],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    try:
        report = json.loads(completed.stdout)
    except ValueError:
        pytest.fail(f"no JSON report (exit {completed.returncode}):\n{completed.stderr}")
    return Push(completed.returncode, report, completed.stderr)


def mark_log(s3rver: S3rver, storage: Storage, app_id: str, mark: str) -> int:
    """Make a request of our own and wait for s3rver to log it; return the log's size then.

    s3rver logs each request when it answers it, so every request answered before this one
    is in the log by then: nothing is missed, and nothing turns up later.
    """
    storage.exists(object_key(app_id, mark))
    deadline = time.monotonic() + 10
    while mark not in s3rver.log_since(0):
        assert time.monotonic() < deadline, f"s3rver never logged the request for {mark}"
        time.sleep(0.02)
    return s3rver.log_size()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


# --- s3rver is strict: what would make a wrong request fail does make it fail --------------


@pytest.mark.real_s3
def test_s3rver_refuses_a_tampered_sigv2_signature(storage: Storage) -> None:
    key = object_key("strictness", "tampered.json")
    signed_url = storage.presign_put(key, "s3")
    tampered = signed_url.replace("Signature=", "Signature=A", 1)
    assert tampered != signed_url

    answer = requests.put(tampered, data=b'{"x":1}', timeout=10)

    assert answer.status_code == 403
    assert "<Code>SignatureDoesNotMatch</Code>" in answer.text
    assert not storage.exists(key)


@pytest.mark.real_s3
@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("Content-Type", "application/json"),
        ("Content-MD5", base64.b64encode(hashlib.md5(b'{"x":1}').digest()).decode()),
        ("x-amz-meta-source", "exports"),
    ],
    ids=["Content-Type", "Content-MD5", "x-amz-meta"],
)
def test_s3rver_refuses_an_unsigned_header_that_sigv2_signs(
    storage: Storage, header: str, value: str
) -> None:
    key = object_key("strictness", f"unsigned {header}.json")
    signed_url = storage.presign_put(key, "s3")

    answer = requests.put(signed_url, data=b'{"x":1}', headers={header: value}, timeout=10)

    assert answer.status_code == 403
    assert "<Code>SignatureDoesNotMatch</Code>" in answer.text
    assert not storage.exists(key)


@pytest.mark.real_s3
@pytest.mark.parametrize("signature_version", ["s3", "s3v4"])
def test_s3rver_refuses_an_expired_url(storage: Storage, signature_version: str) -> None:
    key = object_key("strictness", f"expired-{signature_version}.json")
    signed_url = storage.presign_put(key, signature_version, expires_in=1)
    time.sleep(2.1)  # past the expiry, which both forms state to the second

    answer = requests.put(signed_url, data=b'{"x":1}', timeout=10)

    assert answer.status_code == 403
    assert "<Code>AccessDenied</Code>" in answer.text
    assert "<Message>Request has expired</Message>" in answer.text
    assert not storage.exists(key)


@pytest.mark.real_s3
@pytest.mark.parametrize("signature_version", ["s3", "s3v4"])
def test_s3rver_accepts_a_correct_put_and_answers_the_md5_etag(
    storage: Storage, signature_version: str
) -> None:
    key = object_key("strictness", f"correct {signature_version} é+%&=#.json")
    body = os.urandom(1000)

    answer = requests.put(storage.presign_put(key, signature_version), data=body, timeout=10)

    assert answer.status_code == 200, answer.text
    assert answer.headers["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    assert storage.sha256(key) == hashlib.sha256(body).hexdigest()


# --- the tool through s3rver ----------------------------------------------------------------


@pytest.mark.real_s3
@pytest.mark.parametrize("signature_version", ["s3", "s3v4"])
def test_push_sends_awkward_names_and_an_empty_file_byte_exact(
    fake_api: FakeProductivApi, storage: Storage, app_id: str, tmp_path: Path
) -> None:
    exports = tmp_path / "exports"
    exports.mkdir()
    contents = {name: os.urandom(100 + number) for number, name in enumerate(AWKWARD_NAMES)}
    contents["empty file.json"] = b""
    for name, body in contents.items():
        (exports / name).write_bytes(body)

    result = push(fake_api, app_id, tmp_path, *(str(exports / name) for name in contents))

    assert result.exit_code == 0, result.failures()
    assert result.statuses() == dict.fromkeys(contents, "uploaded")
    assert result.report["bytes_uploaded"] == sum(map(len, contents.values()))
    for name, body in contents.items():
        assert storage.sha256(object_key(app_id, name)) == hashlib.sha256(body).hexdigest(), name


@pytest.mark.real_s3
def test_push_sends_a_64_mib_file_intact(
    fake_api: FakeProductivApi, storage: Storage, app_id: str, tmp_path: Path
) -> None:
    big = tmp_path / "big export.json"
    with big.open("wb") as stream:
        for _ in range(64):
            stream.write(os.urandom(1024 * 1024))

    result = push(fake_api, app_id, tmp_path, str(big))

    assert result.exit_code == 0, result.failures()
    assert result.report["files"][0]["size"] == 64 * 1024 * 1024
    assert result.report["files"][0]["attempts"] == 1
    assert storage.sha256(object_key(app_id, big.name)) == file_sha256(big)


@pytest.mark.real_s3
def test_push_of_300_files_asks_for_urls_in_batches_of_at_most_100(
    fake_api: FakeProductivApi, storage: Storage, app_id: str, tmp_path: Path
) -> None:
    exports = tmp_path / "exports"
    exports.mkdir()
    contents = {f"usage-{number:03d}.json": os.urandom(number * 7) for number in range(300)}
    for name, body in contents.items():
        (exports / name).write_bytes(body)

    result = push(fake_api, app_id, tmp_path, "-j", "16", str(exports / "*.json"))

    assert result.exit_code == 0, result.failures()
    assert result.report["counts"]["uploaded"] == 300
    assert fake_api.gets() >= 3
    assert all(len(batch) <= MAX_BATCH for batch in fake_api.batches)
    assert sorted(name for batch in fake_api.batches for name in batch) == sorted(contents)
    for name, body in contents.items():
        assert storage.sha256(object_key(app_id, name)) == hashlib.sha256(body).hexdigest(), name


@pytest.mark.real_s3
def test_rerun_of_the_same_files_sends_nothing(
    fake_api: FakeProductivApi, s3rver: S3rver, storage: Storage, app_id: str, tmp_path: Path
) -> None:
    exports = tmp_path / "exports"
    exports.mkdir()
    for number in range(5):
        (exports / f"users {number} é.json").write_bytes(os.urandom(500))
    first = push(fake_api, app_id, tmp_path, str(exports / "*.json"))
    assert first.exit_code == 0, first.failures()
    gets_before = fake_api.gets()
    log_before = mark_log(s3rver, storage, app_id, "before-the-rerun")

    rerun = push(fake_api, app_id, tmp_path, str(exports / "*.json"))

    log_after = mark_log(s3rver, storage, app_id, "after-the-rerun")
    assert rerun.exit_code == 0, rerun.failures()
    assert set(rerun.statuses().values()) == {"skipped"}
    assert rerun.report["counts"]["skipped"] == 5
    assert rerun.report["bytes_uploaded"] == 0
    assert fake_api.gets() == gets_before
    # s3rver logs every request it answers: only our own mark means nothing reached it.
    logged = s3rver.log_since(log_before, log_after).splitlines()
    assert [line for line in logged if "after-the-rerun" not in line] == []


@pytest.mark.real_s3
@pytest.mark.parametrize("signature_version", ["s3", "s3v4"])
def test_a_signed_url_that_has_expired_is_requested_again(
    fake_api: FakeProductivApi, storage: Storage, app_id: str, tmp_path: Path
) -> None:
    export = tmp_path / "late export.json"
    export.write_bytes(os.urandom(300))
    fake_api.stale_batches = 1

    result = push(fake_api, app_id, tmp_path, str(export))

    assert result.exit_code == 0, result.failures()
    assert fake_api.gets() == 2
    assert storage.sha256(object_key(app_id, export.name)) == file_sha256(export)
