"""HTTP_PROXY / NO_PROXY are honoured for the API and for storage, proxy credentials included."""

from __future__ import annotations

import base64
import http.client
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from productiv_upload.sandbox import SANDBOX_APP_ID, Sandbox
from tests.conftest import invoke, make_files


class _Forwarder(BaseHTTPRequestHandler):
    """A plain-http forward proxy: records each request, then relays it to its target."""

    protocol_version = "HTTP/1.1"
    server: _ProxyServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _relay(self) -> None:
        self.server.seen.append((self.command, self.path, self.headers.get("Proxy-Authorization")))
        target = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() != "proxy-authorization"}
        upstream = http.client.HTTPConnection(target.netloc, timeout=10)
        upstream.request(self.command, f"{target.path}?{target.query}", body=body, headers=headers)
        answer = upstream.getresponse()
        payload = answer.read()
        self.send_response(answer.status)
        for name, value in answer.getheaders():
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        upstream.close()

    do_GET = do_PUT = do_POST = _relay


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    seen: list[tuple[str, str, str | None]]


@pytest.fixture
def proxy() -> Iterator[_ProxyServer]:
    server = _ProxyServer(("127.0.0.1", 0), _Forwarder)
    server.seen = []
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_api_and_storage_requests_go_through_http_proxy_with_its_credentials(
    sandbox: Sandbox, sandbox_env: dict[str, str], proxy: _ProxyServer, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("HTTP_PROXY", f"http://someone:pa55@127.0.0.1:{proxy.server_address[1]}")
    [path] = make_files(tmp_path, 1)

    run = invoke("push", str(path))

    assert run.exit_code == 0, run.stdout + run.stderr
    methods = [method for method, _, _ in proxy.seen]
    assert methods == ["GET", "PUT"]
    expected = "Basic " + base64.b64encode(b"someone:pa55").decode()
    assert all(auth == expected for _, _, auth in proxy.seen)
    assert sandbox.put_count(SANDBOX_APP_ID, path.name) == 1


def test_a_proxy_given_without_scheme_means_http(
    sandbox: Sandbox, sandbox_env: dict[str, str], proxy: _ProxyServer, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("HTTP_PROXY", f"127.0.0.1:{proxy.server_address[1]}")
    [path] = make_files(tmp_path, 1)

    run = invoke("push", str(path))

    assert run.exit_code == 0, run.stdout + run.stderr
    assert [method for method, _, _ in proxy.seen] == ["GET", "PUT"]


def test_no_proxy_bypasses_the_proxy(
    sandbox: Sandbox, sandbox_env: dict[str, str], proxy: _ProxyServer, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.server_address[1]}")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    [path] = make_files(tmp_path, 1)

    run = invoke("push", str(path))

    assert run.exit_code == 0, run.stderr
    assert proxy.seen == []
