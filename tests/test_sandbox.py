"""The sandbox is only useful if it is as strict as the real API and S3: pin each refusal."""

from __future__ import annotations

import hashlib
import http.client
import time
import urllib.parse
from pathlib import Path

import pytest
import requests

from productiv_upload.sandbox import SANDBOX_APP_ID, SANDBOX_TOKEN, Sandbox

BEARER = {"Authorization": f"Bearer {SANDBOX_TOKEN}"}
API_HEADERS = {**BEARER, "Content-Type": "application/json"}


def upload_url(sandbox: Sandbox, filename: str = "a.json") -> str:
    response = requests.get(
        f"{sandbox.api_url}/services/push/v1/customer/apps/{SANDBOX_APP_ID}/upload",
        params={"filenames": filename},
        headers=API_HEADERS,
        timeout=5,
    )
    assert response.status_code == 200
    url: str = response.json()[filename]
    return url


def raw_put(url: str, headers: dict[str, str], body: bytes = b"") -> tuple[int, bytes]:
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.netloc, timeout=5)
    connection.putrequest("PUT", f"{parts.path}?{parts.query}", skip_accept_encoding=True)
    for name, value in headers.items():
        connection.putheader(name, value)
    connection.endheaders(body)
    response = connection.getresponse()
    result = response.status, response.read()
    connection.close()
    return result


def test_api_requires_a_valid_bearer_token(sandbox: Sandbox) -> None:
    url = f"{sandbox.api_url}/services/push/v1/customer/apps/{SANDBOX_APP_ID}/upload"
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": SANDBOX_TOKEN}):
        response = requests.get(url, params={"filenames": "a.json"}, headers=headers, timeout=5)
        assert response.status_code == 401
        assert response.json() == {
            "code": "401",
            "message": "Invalid access_token",
            "success": False,
        }


def test_unknown_app_is_404(sandbox: Sandbox) -> None:
    response = requests.get(
        f"{sandbox.api_url}/services/push/v1/customer/apps/other/upload",
        params={"filenames": "a.json"},
        headers=API_HEADERS,
        timeout=5,
    )
    assert response.status_code == 404
    assert response.json()["code"] == "404"


def test_more_than_100_filenames_is_400(sandbox: Sandbox) -> None:
    names = [f"f{n}.json" for n in range(101)]
    response = requests.get(
        f"{sandbox.api_url}/services/push/v1/customer/apps/{SANDBOX_APP_ID}/upload",
        params={"filenames": names},
        headers=API_HEADERS,
        timeout=5,
    )
    assert response.status_code == 400


def test_signed_put_stores_the_body_and_answers_its_md5_as_etag(sandbox: Sandbox) -> None:
    status, _ = raw_put(upload_url(sandbox), {"Content-Length": "5"}, b"hello")
    assert status == 200
    assert sandbox.stored_path(SANDBOX_APP_ID, "a.json").read_bytes() == b"hello"
    assert sandbox.requests_of("put")[-1].status == 200
    response = requests.put(upload_url(sandbox), data=b"hello", timeout=5)
    assert response.headers["ETag"] == f'"{hashlib.md5(b"hello").hexdigest()}"'


def test_chunked_put_is_501(sandbox: Sandbox) -> None:
    status, body = raw_put(upload_url(sandbox), {"Transfer-Encoding": "chunked"}, b"0\r\n\r\n")
    assert status == 501
    assert b"NotImplemented" in body


def test_put_without_length_is_411(sandbox: Sandbox) -> None:
    status, body = raw_put(upload_url(sandbox), {})
    assert status == 411
    assert b"MissingContentLength" in body


def test_put_with_an_authorization_header_is_400(sandbox: Sandbox) -> None:
    status, _ = raw_put(upload_url(sandbox), {"Content-Length": "2", **BEARER}, b"{}")
    assert status == 400


@pytest.mark.parametrize(
    "header", [("Content-Type", "application/json"), ("Content-MD5", "x"), ("x-amz-acl", "private")]
)
def test_unsigned_headers_break_the_signature(sandbox: Sandbox, header: tuple[str, str]) -> None:
    status, body = raw_put(
        upload_url(sandbox), {"Content-Length": "2", header[0]: header[1]}, b"{}"
    )
    assert status == 403
    assert b"SignatureDoesNotMatch" in body


def test_tampered_signature_is_refused(sandbox: Sandbox) -> None:
    url = upload_url(sandbox).replace("a.json", "b.json")
    status, body = raw_put(url, {"Content-Length": "2"}, b"{}")
    assert status == 403
    assert b"SignatureDoesNotMatch" in body


def test_expired_url_is_403_request_has_expired(sandbox: Sandbox) -> None:
    sandbox.faults.url_ttl_s = -1
    status, body = raw_put(upload_url(sandbox), {"Content-Length": "2"}, b"{}")
    assert status == 403
    assert b"<Code>AccessDenied</Code><Message>Request has expired</Message>" in body


def test_token_endpoint_issues_tokens_the_api_accepts(sandbox: Sandbox) -> None:
    response = requests.post(
        sandbox.token_url,
        data={
            "grant_type": "client_credentials",
            "client_id": "sandbox-client",
            "client_secret": "sandbox-secret",
            "scope": "https://api.productiv.com/connector.write",
        },
        timeout=5,
    )
    assert response.status_code == 200
    token = response.json()["access_token"]
    assert response.json()["expires_in"] == 3600
    assert sandbox.token_is_valid(token)
    refused = requests.post(
        sandbox.token_url,
        data={
            "grant_type": "client_credentials",
            "client_id": "sandbox-client",
            "client_secret": "no",
        },
        timeout=5,
    )
    assert refused.status_code == 401


def test_issued_tokens_expire(sandbox: Sandbox) -> None:
    sandbox.faults.token_ttl_s = 0
    token, _ = sandbox.issue_token()
    time.sleep(0.01)
    assert not sandbox.token_is_valid(token)


def test_hostile_file_names_stay_inside_the_storage_folder(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    for name in ("../escape.json", ".hidden", ".."):
        assert raw_put(upload_url(sandbox, name), {"Content-Length": "2"}, b"{}")[0] == 200
        stored = sandbox.stored_path(SANDBOX_APP_ID, name)
        assert stored.read_bytes() == b"{}"
        assert stored.resolve().is_relative_to(sandbox.storage_dir.resolve())
