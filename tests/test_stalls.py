"""Stalls and slow links on real loopback sockets: --timeout is silence, never slowness.

The sandbox's network faults (a slow reader, a reader that stops, a kept-alive connection that
goes silent) stand in for a slow or broken network; small servers of our own stand in for a
storage endpoint that accepts a connection and then says nothing.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from productiv_upload.cli.commands.watch import WatchPrinter
from productiv_upload.cli.output.live import LiveView
from productiv_upload.cli.output.present import PlainPresenter
from productiv_upload.common.platform.sockets import unacknowledged_bytes
from productiv_upload.core.model import LocalFile
from productiv_upload.sandbox import SANDBOX_APP_ID, Sandbox
from productiv_upload.service import storage as storage_module
from productiv_upload.service.storage import StorageClient
from productiv_upload.service.transport import Stalled
from tests.conftest import invoke


def storage_host(sandbox: Sandbox) -> str:
    """How messages name the sandbox's bucket: host and port, never the signed URL."""
    return sandbox.api_url.split("//", 1)[1]


def push_with_report(tmp_path: Path, *args: str) -> tuple[int, str, dict[str, Any], float]:
    """`push` with --report: exit code, plain output, the report's files by name, seconds."""
    report = tmp_path / "report.json"
    started = time.monotonic()
    run = invoke("push", "--report", str(report), *args)
    elapsed = time.monotonic() - started
    files = json.loads(report.read_text())["files"]
    return run.exit_code, run.stdout, {entry["filename"]: entry for entry in files}, elapsed


def write_file(folder: Path, name: str, size: int) -> Path:
    path = folder / name
    path.write_bytes(os.urandom(size))
    return path


@pytest.fixture
def silent_server() -> Iterator[tuple[int, list[socket.socket]]]:
    """A TCP server on loopback that accepts connections, reads nothing and says nothing."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    done = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not done.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            accepted.append(connection)

    thread = threading.Thread(target=accept, name="silent-server")
    thread.start()
    try:
        yield listener.getsockname()[1], accepted
    finally:
        done.set()
        thread.join()
        for connection in accepted:
            connection.close()
        listener.close()


def test_a_storage_that_stops_reading_is_left_after_the_timeout_and_the_file_sent_again(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    path = write_file(tmp_path, "big.json", 8 * 1024 * 1024)
    sandbox.faults.stop_reading_puts = 1
    log = tmp_path / "push.log"

    code, output, files, elapsed = push_with_report(
        tmp_path, "--timeout", "2", "--debug", "--log-file", str(log), str(path)
    )

    assert code == 0
    assert files["big.json"]["status"] == "uploaded"
    assert files["big.json"]["attempts"] == 2
    assert sandbox.put_count(SANDBOX_APP_ID, "big.json") == 1
    assert 2 <= elapsed < 2 + 5
    failed_try = (
        f"{path}: attempt 1 failed (storage at {storage_host(sandbox)}: nothing moved for 2 s "
        "while sending the body); trying again"
    )
    assert failed_try in log.read_text()
    assert failed_try in output  # --debug shows it on the screen too


def test_a_slow_link_that_keeps_moving_is_never_cut_by_the_timeout(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    path = write_file(tmp_path, "slow.json", 1024 * 1024)
    sandbox.faults.put_read_rate = 128 * 1024  # 8 s for the body, four times --timeout

    run = invoke("push", "--json", "--timeout", "2", str(path))

    assert run.exit_code == 0, run.stdout
    [entry] = json.loads(run.stdout)["files"]
    assert (entry["status"], entry["attempts"]) == ("uploaded", 1)
    assert sandbox.put_count(SANDBOX_APP_ID, "slow.json") == 1


def test_a_kept_alive_connection_gone_silent_costs_one_timeout_then_a_new_connection(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    first, second = write_file(spool, "a.json", 4096), write_file(spool, "b.json", 4096)
    sandbox.faults.silent_on_put = 2  # answers a.json, then reads b.json and says nothing
    log = tmp_path / "push.log"

    code, output, files, elapsed = push_with_report(
        tmp_path, "--timeout", "2", "--concurrency", "1", "--log-file", str(log),
        str(first), str(second),
    )  # fmt: skip

    assert code == 0
    assert (files["a.json"]["attempts"], files["b.json"]["attempts"]) == (1, 2)
    assert [sandbox.put_count(SANDBOX_APP_ID, n) for n in ("a.json", "b.json")] == [1, 1]
    assert elapsed < 2 + 5
    puts = sandbox.requests_of("put")
    assert len({request.client_port for request in puts}) == 2  # b.json went on a new one
    # The wait is told of while it lasts, on the screen and in the log.
    assert f"waiting: {second}: nothing has moved for 1 s" in output
    text = log.read_text()
    assert f"waiting: {second}: nothing has moved for 1 s" in text
    failed_try = (
        f"{second}: attempt 1 failed (storage at {storage_host(sandbox)}: nothing moved for 2 s "
        "while waiting for the answer); trying again"
    )
    assert failed_try in text
    assert "attempt 1 failed" not in output  # the log keeps it; without --debug, not the screen


def test_a_server_that_never_answers_raises_stalled_from_put(
    silent_server: tuple[int, list[socket.socket]],
) -> None:
    port, _ = silent_server
    client = StorageClient(pool_size=1, timeout=(1.0, 1.0))
    waits: list[float] = []
    started = time.monotonic()

    with pytest.raises(Stalled, match=r"^nothing moved for 1 s while waiting for the answer$"):
        client.put(f"http://127.0.0.1:{port}/b/k?Signature=secret", b"x" * 100, 100,
                   max_body=1024, on_wait=waits.append)  # fmt: skip

    assert 1.0 <= time.monotonic() - started < 2.0
    # Told once half the timeout had gone by (give or take one wake of a quarter second).
    assert len(waits) == 1
    assert 0.5 <= waits[0] < 0.8
    client.close()


def test_a_tls_handshake_that_never_comes_is_a_stall_too(
    silent_server: tuple[int, list[socket.socket]],
) -> None:
    port, _ = silent_server
    client = StorageClient(pool_size=1, timeout=(1.0, 0.5))

    stall = r"^nothing moved for 0.5 s while completing the TLS handshake$"
    with pytest.raises(Stalled, match=stall):
        client.put(f"https://127.0.0.1:{port}/b/k", b"", 0, max_body=1024)
    client.close()


def test_an_answer_that_comes_at_once_is_read_at_once(sandbox: Sandbox) -> None:
    client = StorageClient(pool_size=1, timeout=(2.0, 2.0))
    slowest = 0.0
    for number in range(20):
        url = sandbox.signed_url(SANDBOX_APP_ID, f"quick{number}.json")
        started = time.monotonic()
        answer = client.put(url, b"{}", 2, max_body=1024)
        slowest = max(slowest, time.monotonic() - started)
        assert answer.status == 200
    client.close()
    # The waits wake every quarter of a second: a PUT that waited for one would show it.
    assert slowest < 0.2
    assert len({request.client_port for request in sandbox.requests_of("put")}) == 1


def test_a_connection_idle_past_the_limit_is_not_reused(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(storage_module, "MAX_IDLE_S", 0.2)
    client = StorageClient(pool_size=1, timeout=(2.0, 2.0))
    for number, pause in enumerate((0.0, 0.05, 0.4)):
        time.sleep(pause)
        client.put(sandbox.signed_url(SANDBOX_APP_ID, f"f{number}"), b"{}", 2, max_body=1024)
    client.close()

    ports = [request.client_port for request in sandbox.requests_of("put")]
    assert ports[0] == ports[1] != ports[2]


def test_storage_connections_ask_for_keepalive_and_see_their_send_queue(
    sandbox: Sandbox,
) -> None:
    client = StorageClient(pool_size=1, timeout=(2.0, 2.0))
    client.put(sandbox.signed_url(SANDBOX_APP_ID, "k.json"), b"{}", 2, max_body=1024)
    [[connection]] = client._idle.values()
    sock = connection.sock

    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
    if hasattr(socket, "TCP_KEEPIDLE"):
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 15
    if os.uname().sysname == "Linux":
        assert unacknowledged_bytes(sock) == 0  # everything sent was acknowledged
    client.close()


@dataclass
class TlsStorage:
    """A storage endpoint of our own over TLS: it reads PUTs (at `read_rate`, if set) and
    answers each with its body's MD5 as ETag, on kept-alive connections."""

    port: int
    ca_file: Path
    read_rate: float | None = None
    connections: int = 0
    bodies: list[bytes] = field(default_factory=list)


@pytest.fixture
def tls_storage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TlsStorage]:
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    server = TlsStorage(listener.getsockname()[1], cert)
    done = threading.Event()
    threads: list[threading.Thread] = []

    def answer(raw: socket.socket) -> None:
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        raw.settimeout(5)
        with raw, context.wrap_socket(raw, server_side=True) as tls, tls.makefile("rb") as rfile:
            while not done.is_set():
                head = [rfile.readline()]
                while head[-1] not in (b"\r\n", b""):
                    head.append(rfile.readline())
                if head[-1] == b"":
                    return
                fields = dict(line.decode().split(":", 1) for line in head[1:-1])
                left = int(fields["Content-Length"])
                body = bytearray()
                while left:
                    chunk = rfile.read(min(left, 16 * 1024))
                    if server.read_rate is not None:
                        time.sleep(len(chunk) / server.read_rate)
                    body += chunk
                    left -= len(chunk)
                server.bodies.append(bytes(body))
                etag = hashlib.md5(body).hexdigest()
                tls.sendall(f'HTTP/1.1 200 OK\r\nETag: "{etag}"\r\nContent-Length: 0\r\n\r\n'
                            .encode())  # fmt: skip

    def accept() -> None:
        while not done.is_set():
            try:
                raw, _ = listener.accept()
            except TimeoutError:
                continue
            server.connections += 1
            thread = threading.Thread(target=answer, args=(raw,), name="tls-storage")
            threads.append(thread)
            thread.start()

    acceptor = threading.Thread(target=accept, name="tls-accept")
    acceptor.start()
    try:
        yield server
    finally:
        done.set()
        acceptor.join()
        for thread in threads:
            thread.join()
        listener.close()


def test_puts_over_tls_go_whole_and_keep_their_connection(tls_storage: TlsStorage) -> None:
    client = StorageClient(pool_size=1, timeout=(2.0, 2.0))
    bodies = [os.urandom(3 * 1024 * 1024), b"{}"]
    for body in bodies:
        answer = client.put(f"https://127.0.0.1:{tls_storage.port}/b/k", body, len(body),
                            max_body=1024)  # fmt: skip
        assert (answer.status, answer.etag) == (200, f'"{hashlib.md5(body).hexdigest()}"')
    client.close()

    assert tls_storage.bodies == bodies
    assert tls_storage.connections == 1


def test_a_slow_reader_over_tls_is_never_cut_by_the_timeout(tls_storage: TlsStorage) -> None:
    # 2 s for the body, four times the timeout. On loopback the window reopens a segment
    # (64 KiB) at a time: at 1 MiB/s the reader frees one every 62 ms, well inside the
    # timeout. At 256 KiB/s (250 ms each) one CI run saw 0.5 s of silence and failed.
    tls_storage.read_rate = 1024 * 1024
    client = StorageClient(pool_size=1, timeout=(2.0, 0.5))
    body = os.urandom(2 * 1024 * 1024)

    answer = client.put(f"https://127.0.0.1:{tls_storage.port}/b/k", io.BytesIO(body),
                        len(body), max_body=1024)  # fmt: skip
    client.close()

    assert answer.status == 200
    assert tls_storage.bodies == [body]


def test_the_live_view_row_of_a_silent_transfer_says_how_long_it_has_waited() -> None:
    view = LiveView()
    file = LocalFile("/spool/a.json", "a.json", 1000, 0)
    view.start(1, 1000)
    view.file_started(file)
    view.bytes_sent(file, 1000)

    def row() -> str:
        screen = Console(file=io.StringIO(), width=100, color_system=None)
        screen.print(view.render(100, 24))
        out = screen.file
        assert isinstance(out, io.StringIO)
        [line] = [line for line in out.getvalue().splitlines() if "a.json" in line]
        return line

    assert row().endswith("awaiting answer")
    view.waiting(file, 12.2)
    assert row().endswith("waiting 12 s")
    view.waiting(file, 0.0)  # it moves again
    assert row().endswith("awaiting answer")


def test_each_retried_api_request_is_told_with_its_reason(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    path = write_file(tmp_path, "a.json", 64)
    sandbox.faults.api_errors.extend([(503, "0"), (502, "0")])
    log = tmp_path / "push.log"

    quiet = invoke("push", "--log-file", str(log), str(path))
    text = log.read_text()
    sandbox.faults.api_errors.append((503, "0"))
    debug = invoke("push", "--force", "--debug", str(path))

    assert quiet.exit_code == debug.exit_code == 0
    assert "the API: attempt 1 failed (answered 503); trying again" in text
    assert "the API: attempt 2 failed (answered 502); trying again" in text
    assert "attempt 1 failed" not in quiet.stdout + quiet.stderr  # the log keeps it
    assert "the API: attempt 1 failed (answered 503); trying again" in debug.stdout + debug.stderr


def test_plain_lines_tell_of_each_silence_once_and_watch_json_keeps_to_files() -> None:
    file = LocalFile("/spool/a.json", "a.json", 10, 0)

    def told(presenter: PlainPresenter, out: io.StringIO) -> list[str]:
        for seconds in (5.0, 10.0, 0.0, 5.0):  # two silences, the first told of twice
            presenter.waiting(file, seconds)
        presenter.attempt_failed(file, 1, "storage: nothing moved for 60 s while sending")
        return [line.split(" ", 1)[1] for line in out.getvalue().splitlines()]

    out = io.StringIO()
    assert (
        told(PlainPresenter(out), out) == ["waiting: /spool/a.json: nothing has moved for 5 s"] * 2
    )
    out = io.StringIO()
    assert told(PlainPresenter(out, quiet=True), out) == []
    out = io.StringIO()
    assert told(PlainPresenter(out, log=True), out)[-1] == (
        "/spool/a.json: attempt 1 failed (storage: nothing moved for 60 s while sending); "
        "trying again"
    )
    out = io.StringIO()
    assert told(WatchPrinter(out, json_lines=True, debug=True), out) == []
