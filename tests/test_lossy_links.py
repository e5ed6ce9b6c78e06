"""Uploads over a lossy, a slow and a silently broken link, in a network namespace of their own.

The sandbox and the tool both run inside one namespace (tests/netns.py), whose loopback drops
packets at random, is limited by a token bucket, or blackholes the connections established at
a given moment, as a NAT that forgot an idle flow does. Each file is checked where it landed:
stored once (one PUT answered 200, from the sandbox's own log) and byte for byte intact.
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import re
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from productiv_upload.sandbox import SANDBOX_APP_ID, SANDBOX_TOKEN
from tests.netns import Link, Namespace, namespace, skip_unless_available

KIB, MIB = 1024, 1024 * 1024
TOOL = [sys.executable, "-m", "productiv_upload"]


@dataclass
class SandboxProcess:
    """`productiv-upload sandbox` running inside a namespace."""

    api_url: str
    storage: Path  # where the app's uploads land
    log: Path  # its stderr: one line per request answered

    @property
    def port(self) -> int:
        return int(self.api_url.rpartition(":")[2])

    def stored_puts(self, filename: str) -> int:
        """PUTs of `filename` the sandbox answered 200."""
        line = re.compile(rf"^PUT /[^/]+/{SANDBOX_APP_ID}/{re.escape(filename)} 200$", re.M)
        return len(line.findall(self.log.read_text()))

    def env(self) -> dict[str, str]:
        """The test's environment pointed at this sandbox."""
        return os.environ | {
            "PRODUCTIV_API_URL": self.api_url,
            "PRODUCTIV_APP_ID": SANDBOX_APP_ID,
            "PRODUCTIV_ACCESS_TOKEN": SANDBOX_TOKEN,
        }


def start_sandbox(ns: Namespace, folder: Path) -> SandboxProcess:
    log = folder / "sandbox.log"
    with log.open("w") as sink:
        process = ns.start([*TOOL, "sandbox", "--port", "0", "--dir", folder / "storage"],
                           stderr=sink.fileno())  # fmt: skip
    assert process.stdout is not None
    # Read from the descriptor itself: a text wrapper would buffer what select has not seen.
    stdout, banner = process.stdout.fileno(), ""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and process.poll() is None:
        if select.select([stdout], [], [], 0.2)[0]:
            banner += os.read(stdout, 65536).decode()
            found = re.search(r"PRODUCTIV_API_URL=(\S+)", banner)
            if found:
                return SandboxProcess(found[1], folder / "storage" / SANDBOX_APP_ID, log)
    raise AssertionError(f"the sandbox did not start: {banner!r} {log.read_text()!r}")


@pytest.fixture
def link_namespace(request: pytest.FixtureRequest) -> Iterator[Namespace]:
    """A namespace shaped by the test's `Link` (passed with indirect parametrisation)."""
    skip_unless_available()
    with namespace(request.param) as ns:
        yield ns


def write_random(path: Path, size: int) -> str:
    """Write `size` random bytes to `path`; their sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = os.urandom(size)
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def stored_digest(sandbox: SandboxProcess, filename: str) -> str:
    return hashlib.sha256((sandbox.storage / filename).read_bytes()).hexdigest()


def push(
    ns: Namespace, sandbox: SandboxProcess, *args: str | Path, timeout: float
) -> dict[str, Any]:
    run = ns.run([*TOOL, "push", "--json", *args], env=sandbox.env(), timeout=timeout)
    assert run.returncode == 0, run.stderr or run.stdout
    report: dict[str, Any] = json.loads(run.stdout)
    return report


@pytest.mark.parametrize("link_namespace", [Link(loss_percent=10)], indirect=True)
def test_a_file_crosses_a_link_losing_a_tenth_of_its_packets_once_and_intact(
    link_namespace: Namespace, tmp_path: Path
) -> None:
    sandbox = start_sandbox(link_namespace, tmp_path)
    digest = write_random(tmp_path / "exports" / "lossy.bin", 4 * MIB)

    report = push(link_namespace, sandbox, tmp_path / "exports" / "lossy.bin", timeout=50)

    [entry] = report["files"]
    assert entry["status"] == "uploaded", entry
    assert entry["attempts"] >= 1
    assert sandbox.stored_puts("lossy.bin") == 1
    assert stored_digest(sandbox, "lossy.bin") == digest


@pytest.mark.parametrize("link_namespace", [Link(rate="256kbit")], indirect=True)
def test_a_slow_link_that_keeps_moving_is_not_cut_short_by_the_timeout(
    link_namespace: Namespace, tmp_path: Path
) -> None:
    sandbox = start_sandbox(link_namespace, tmp_path)
    # 16 s at 256 kbit/s: eight times --timeout, with the send buffer full all along
    digest = write_random(tmp_path / "exports" / "slow.bin", MIB // 2)

    report = push(link_namespace, sandbox, "--timeout", "2", tmp_path / "exports" / "slow.bin",
                  timeout=50)  # fmt: skip

    [entry] = report["files"]
    assert (entry["status"], entry["attempts"]) == ("uploaded", 1), entry
    assert sandbox.stored_puts("slow.bin") == 1
    assert stored_digest(sandbox, "slow.bin") == digest


def read_lines(stream: subprocess.Popen[str]) -> queue.Queue[str]:
    """The lines of a process's stdout as they come, read by a thread (ends at EOF)."""
    lines: queue.Queue[str] = queue.Queue()
    assert stream.stdout is not None
    source = stream.stdout

    def pump() -> None:
        for line in source:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def next_entry(lines: queue.Queue[str], filename: str, timeout: float) -> dict[str, Any]:
    """The watch's JSON line for `filename`, waiting at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            entry: dict[str, Any] = json.loads(lines.get(timeout=left))
        except queue.Empty:
            break
        if entry.get("filename") == filename:
            return entry
    raise AssertionError(f"no line for {filename} within {timeout} s")


TIMEOUT_S = 4
MIN_AGE_S = 0.3
BATCH_WAIT_S = 0.1


@pytest.mark.parametrize("link_namespace", [Link()], indirect=True)
def test_a_kept_alive_connection_the_network_dropped_costs_one_timeout(
    link_namespace: Namespace, tmp_path: Path
) -> None:
    sandbox = start_sandbox(link_namespace, tmp_path)
    exports = tmp_path / "exports"
    exports.mkdir()
    options = ["--timeout", str(TIMEOUT_S), "--min-age", str(MIN_AGE_S),
               "--batch-wait", str(BATCH_WAIT_S)]  # fmt: skip
    with (tmp_path / "watch.err").open("w") as errors:  # a file: no pipe to fill unread
        watch = link_namespace.start([*TOOL, "watch", "--json", *options, exports],
                                     env=sandbox.env(), stderr=errors.fileno())  # fmt: skip
    lines = read_lines(watch)
    first = write_random(exports / "first.bin", 64 * KIB)
    assert next_entry(lines, "first.bin", timeout=20)["status"] == "uploaded"

    # The connections the watch keeps alive to the sandbox now go silent: no RST, no FIN.
    assert link_namespace.blackhole_established(sandbox.port), "no kept-alive connection"
    written = time.monotonic()
    second = write_random(exports / "second.bin", 64 * KIB)
    entry = next_entry(lines, "second.bin", timeout=TIMEOUT_S + 5 + MIN_AGE_S + BATCH_WAIT_S)
    took = time.monotonic() - written

    watch.send_signal(signal.SIGTERM)
    assert watch.wait(15) == 0
    assert entry["status"] == "uploaded", entry
    assert took <= TIMEOUT_S + 5 + MIN_AGE_S + BATCH_WAIT_S, (took, entry)
    # One --timeout, not one for the API's connection and another for storage's.
    assert took < 2 * TIMEOUT_S, (took, entry)
    assert [sandbox.stored_puts("first.bin"), sandbox.stored_puts("second.bin")] == [1, 1]
    assert [stored_digest(sandbox, "first.bin"), stored_digest(sandbox, "second.bin")] == [
        first,
        second,
    ]


def test_the_namespace_and_what_ran_in_it_are_gone_afterwards() -> None:
    skip_unless_available()
    with namespace(Link(loss_percent=5)) as ns:
        sleeper = ns.start(["sleep", "60"])
        name = ns.name
    assert sleeper.poll() is not None
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    assert name not in listed.stdout
