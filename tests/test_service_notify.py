"""`watch` under systemd: the notify protocol, spoken to a real AF_UNIX datagram socket that the
test binds where systemd's would be, with the service in a real process."""

from __future__ import annotations

import itertools
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import trustme

from productiv_upload.core.journal import JOURNAL_NAME
from productiv_upload.sandbox import SANDBOX_APP_ID, SANDBOX_TOKEN, Sandbox
from productiv_upload.service.api import PROBE_FILENAME
from tests.conftest import wait_for
from tests.tls import StartTlsSandbox

WAIT_S = 30.0


@dataclass
class Datagram:
    at: float  # time.monotonic() when it arrived
    fields: dict[str, str]
    checked_before: bool  # whether the start-up check had reached the sandbox by then


@dataclass
class Manager:
    """What systemd's end of $NOTIFY_SOCKET received."""

    address: str
    received: list[Datagram] = field(default_factory=list)

    def with_field(self, name: str) -> list[Datagram]:
        return [d for d in list(self.received) if name in d.fields]

    def statuses(self) -> list[str]:
        return [d.fields["STATUS"] for d in self.with_field("STATUS")]


def checked(sandbox: Sandbox | None) -> bool:
    return sandbox is not None and any(PROBE_FILENAME in r.path for r in sandbox.requests_of("api"))


@pytest.fixture
def manager(request: pytest.FixtureRequest) -> Iterator[Manager]:
    """A datagram socket bound where systemd's would be, read by a thread."""
    folder = tempfile.mkdtemp(prefix="notify-", dir="/tmp")  # AF_UNIX paths are short
    path = os.path.join(folder, "notify")
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(path)
    receiver.settimeout(0.1)
    found = Manager(path)
    sandbox: Sandbox | None = (
        request.getfixturevalue("sandbox") if "sandbox" in request.fixturenames else None
    )
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            try:
                data = receiver.recv(4096)
            except TimeoutError:
                continue
            lines = data.decode().split("\n")
            fields = dict(line.split("=", 1) for line in lines if "=" in line)
            found.received.append(Datagram(time.monotonic(), fields, checked(sandbox)))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    yield found
    done.set()
    reader.join(timeout=5)
    receiver.close()
    os.unlink(path)
    os.rmdir(folder)


def start_watch(
    folder: Path, state: Path, env: dict[str, str], *args: str
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "productiv_upload", "watch", "--min-age", "0.2", *args,
         str(folder)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PRODUCTIV_UPLOAD_STATE_DIR": str(state), **env},
    )  # fmt: skip


@pytest.fixture
def watches() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate()


def gaps(datagrams: list[Datagram], start: float, end: float) -> list[float]:
    times = [d.at for d in datagrams if start <= d.at <= end]
    return [later - earlier for earlier, later in itertools.pairwise(times)]


def test_ready_after_the_check_then_status_and_pings_then_stopping(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path, manager: Manager,
    watches: list[subprocess.Popen[str]],
) -> None:  # fmt: skip
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / "a.json").write_bytes(b'{"a": 1}')
    env = {"NOTIFY_SOCKET": manager.address, "WATCHDOG_USEC": "1000000"}
    watch = start_watch(spool, tmp_path / "state", env)
    watches.append(watch)

    wait_for(lambda: bool(manager.with_field("READY")), WAIT_S)
    wait_for(lambda: any(s.startswith("1 uploaded") for s in manager.statuses()), WAIT_S)
    ready = manager.with_field("READY")[0]
    time.sleep(2.0)  # pings keep coming while nothing happens
    watch.send_signal(signal.SIGTERM)
    _, stderr = watch.communicate(timeout=WAIT_S)

    assert watch.returncode == 0, stderr
    assert len(manager.with_field("READY")) == 1
    assert ready.checked_before  # never before the credentials and the app were proven
    assert ready.fields["STATUS"].startswith(f"watching {spool}")
    pings = manager.with_field("WATCHDOG")
    assert len([p for p in pings if p.at > ready.at]) >= 4
    assert max(gaps(pings, ready.at, pings[-1].at)) < 1.2  # every 0.5 s, give or take
    assert manager.with_field("STOPPING")
    assert "1 uploaded, 0 skipped, 0 failed since start" in " ".join(manager.statuses())


def test_refused_credentials_exit_3_without_ever_saying_ready(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path, manager: Manager,
    watches: list[subprocess.Popen[str]],
) -> None:  # fmt: skip
    spool = tmp_path / "spool"
    spool.mkdir()
    env = {"NOTIFY_SOCKET": manager.address, "PRODUCTIV_ACCESS_TOKEN": "refused-token"}
    watch = start_watch(spool, tmp_path / "state", env)
    watches.append(watch)
    watch.communicate(timeout=WAIT_S)

    assert watch.returncode == 3
    assert manager.with_field("READY") == []


def test_an_unreachable_api_delays_ready_until_it_answers(
    tmp_path: Path, manager: Manager, watches: list[subprocess.Popen[str]],
) -> None:  # fmt: skip
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    spool = tmp_path / "spool"
    spool.mkdir()
    env = {
        "NOTIFY_SOCKET": manager.address, "PRODUCTIV_API_URL": f"http://127.0.0.1:{port}",
        "PRODUCTIV_APP_ID": SANDBOX_APP_ID, "PRODUCTIV_ACCESS_TOKEN": SANDBOX_TOKEN,
    }  # fmt: skip
    watch = start_watch(spool, tmp_path / "state", env, "--retries", "0")
    watches.append(watch)

    wait_for(lambda: len(manager.with_field("EXTEND_TIMEOUT_USEC")) >= 2, WAIT_S)
    assert manager.with_field("READY") == []
    assert "waiting for the API: could not reach the API" in manager.statuses()[0]
    with Sandbox(tmp_path / "bucket", port=port):  # the API comes up
        wait_for(lambda: bool(manager.with_field("READY")), WAIT_S)
        watch.send_signal(signal.SIGTERM)
        watch.communicate(timeout=WAIT_S)
    assert watch.returncode == 0


def test_a_long_transfer_keeps_the_pings_but_a_stuck_main_loop_stops_them(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path, manager: Manager,
    watches: list[subprocess.Popen[str]],
) -> None:  # fmt: skip
    spool = tmp_path / "spool"
    spool.mkdir()
    state = tmp_path / "state"
    env = {"NOTIFY_SOCKET": manager.address, "WATCHDOG_USEC": "1000000"}
    watch = start_watch(spool, state, env)
    watches.append(watch)
    wait_for(lambda: bool(manager.with_field("READY")), WAIT_S)

    # A transfer that takes 4 s, in a worker thread: the loop goes on pinging. It starts once
    # the file has settled (0.2 s) and the batch wait (1 s) is over.
    sandbox.faults.stall_puts_s = 4.0
    written_at = time.monotonic()
    (spool / "slow.json").write_bytes(b"slow")
    wait_for(lambda: any(s.startswith("1 uploaded") for s in manager.statuses()), WAIT_S)
    answered_at = time.monotonic()
    sandbox.faults.stall_puts_s = 0.0

    # The main loop stuck: another process holds the journal's write lock for 4 s, so the
    # loop waits inside SQLite (whose busy timeout is 5 s) when it next records something.
    holder = sqlite3.connect(state / JOURNAL_NAME, isolation_level=None, timeout=10)
    holder.execute("BEGIN IMMEDIATE")
    stuck_at = time.monotonic()
    (spool / "next.json").write_bytes(b"next")
    time.sleep(4.0)
    holder.execute("ROLLBACK")
    holder.close()
    released_at = time.monotonic()
    wait_for(lambda: any(s.startswith("2 uploaded") for s in manager.statuses()), WAIT_S)
    time.sleep(1.5)
    watch.send_signal(signal.SIGTERM)
    watch.communicate(timeout=WAIT_S)

    pings = manager.with_field("WATCHDOG")
    assert answered_at - written_at > 4.0  # the transfer did take its time
    assert max(gaps(pings, written_at, answered_at)) < 1.2
    assert max(gaps(pings, stuck_at, released_at + 1)) > 2.0
    assert [p for p in pings if p.at > released_at]  # and they resume
    assert watch.returncode == 0


def test_pings_meant_for_another_process_are_not_sent(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path, manager: Manager,
    watches: list[subprocess.Popen[str]],
) -> None:  # fmt: skip
    spool = tmp_path / "spool"
    spool.mkdir()
    env = {"NOTIFY_SOCKET": manager.address, "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"}
    watch = start_watch(spool, tmp_path / "state", env)
    watches.append(watch)
    wait_for(lambda: bool(manager.with_field("READY")), WAIT_S)
    time.sleep(1.5)
    watch.send_signal(signal.SIGTERM)
    watch.communicate(timeout=WAIT_S)

    assert manager.with_field("WATCHDOG") == []
    assert watch.returncode == 0


def test_an_abstract_notify_socket_is_spoken_to(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path,
    watches: list[subprocess.Popen[str]],
) -> None:  # fmt: skip
    name = f"productiv-upload-test-{os.getpid()}-{time.monotonic_ns()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as receiver:
        receiver.bind("\0" + name)
        receiver.settimeout(WAIT_S)
        spool = tmp_path / "spool"
        spool.mkdir()
        watch = start_watch(spool, tmp_path / "state", {"NOTIFY_SOCKET": "@" + name})
        watches.append(watch)
        first = receiver.recv(4096).decode()
        watch.send_signal(signal.SIGTERM)
        watch.communicate(timeout=WAIT_S)

    assert first.startswith("READY=1\nSTATUS=watching")


def test_a_certificate_that_fails_at_start_is_named_in_the_warnings_and_status(
    tmp_path: Path, manager: Manager, watches: list[subprocess.Popen[str]],
    start_tls_sandbox: StartTlsSandbox, unknown_ca_cert: trustme.LeafCert, tls_ca_bundle: Path,
) -> None:  # fmt: skip
    sandbox = start_tls_sandbox(unknown_ca_cert)
    spool = tmp_path / "spool"
    spool.mkdir()
    env = {
        "NOTIFY_SOCKET": manager.address, "PRODUCTIV_API_URL": sandbox.api_url,
        "PRODUCTIV_APP_ID": SANDBOX_APP_ID, "PRODUCTIV_ACCESS_TOKEN": SANDBOX_TOKEN,
        "PRODUCTIV_CA_BUNDLE": str(tls_ca_bundle),
    }  # fmt: skip
    watch = start_watch(spool, tmp_path / "state", env)
    watches.append(watch)

    wait_for(lambda: len(manager.with_field("EXTEND_TIMEOUT_USEC")) >= 2, WAIT_S)
    watch.send_signal(signal.SIGTERM)
    _, stderr = watch.communicate(timeout=WAIT_S)

    assert manager.with_field("READY") == []
    reason = "certificate verify failed: unable to get local issuer certificate"
    assert reason in manager.statuses()[0]
    assert reason in stderr
    assert "trying again in" in stderr  # the start-up backoff, not an exit
    assert watch.returncode == 0
    assert sandbox.requests == []
