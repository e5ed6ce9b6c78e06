"""Stalls and slow links on real loopback sockets: --timeout is silence, never slowness.

The sandbox's network faults (a slow reader, a reader that stops, a kept-alive connection that
goes silent) stand in for a slow or broken network; small servers of our own stand in for a
storage endpoint that accepts a connection and then says nothing.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from productiv_upload.common.sockets import unacknowledged_bytes
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

    code, _, files, elapsed = push_with_report(
        tmp_path, "--timeout", "2", "--log-file", str(log), str(path)
    )

    assert code == 0
    assert files["big.json"]["status"] == "uploaded"
    assert files["big.json"]["attempts"] == 2
    assert sandbox.put_count(SANDBOX_APP_ID, "big.json") == 1
    assert 2 <= elapsed < 2 + 5
    assert (
        f"big.json: attempt 1 failed (storage at {storage_host(sandbox)}: nothing moved for 2 s "
        "while sending the body); trying again" in log.read_text()
    )


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
    assert (
        f"{second}: attempt 1 failed (storage at {storage_host(sandbox)}: nothing moved for 2 s "
        "while waiting for the answer); trying again" in text
    )


def test_a_server_that_never_answers_raises_stalled_from_put(
    silent_server: tuple[int, list[socket.socket]],
) -> None:
    port, _ = silent_server
    client = StorageClient(pool_size=1, timeout=(1.0, 0.5))
    waits: list[float] = []
    started = time.monotonic()

    with pytest.raises(Stalled, match=r"^nothing moved for 0.5 s while waiting for the answer$"):
        client.put(f"http://127.0.0.1:{port}/b/k?Signature=secret", b"x" * 100, 100,
                   max_body=1024, on_wait=waits.append)  # fmt: skip

    assert 0.5 <= time.monotonic() - started < 1.5
    assert waits  # told once half the timeout had gone by
    assert 0.25 <= waits[0] < 0.5
    client.close()


def test_a_tls_handshake_that_never_comes_is_a_stall_too(
    silent_server: tuple[int, list[socket.socket]],
) -> None:
    port, _ = silent_server
    client = StorageClient(pool_size=1, timeout=(1.0, 0.5))

    with pytest.raises(Stalled, match="while the TLS handshake"):
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
