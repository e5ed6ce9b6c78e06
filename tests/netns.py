"""A network namespace of its own, with a slow or lossy loopback, for tests and the bench.

    with namespace(Link(rate="256kbit", loss_percent=10)) as ns:
        server = ns.start([sys.executable, "-m", "productiv_upload", "sandbox", "--port", "0"])
        ns.run(["curl", ...])
        ns.blackhole_established(server_port)  # kept-alive flows go silent, new ones work

Inside the namespace there is only its own `lo`, so nothing can leave the machine. The link is
shaped with `tc ... tbf` (bandwidth; under an htb root that lets pure ACKs by, see `_shape`) and
an nftables table on lo's input hook (random loss, dropped flows): on loopback every packet
passes that hook exactly once, so a rule there acts on both directions of a connection. Every
process started through `Namespace.start` is killed and the namespace deleted when the block
ends, whatever happened in it.

Needs root (or CAP_NET_ADMIN and CAP_SYS_ADMIN), `ip` (iproute2) and, for loss or dropped flows,
`nft` (nftables); `unavailable()` says why it cannot run here, `skip_unless_available()` turns
that into a pytest skip.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

TABLE = "productiv_netns"  # the nftables table (inet family) each namespace gets
COMMAND_TIMEOUT_S = 20.0  # for ip, tc, nft and ss: each answers in milliseconds


class NamespaceUnavailable(RuntimeError):
    """This machine cannot make a network namespace (not root, no `ip`, no `nft`, ...)."""


@dataclass(frozen=True)
class Link:
    """How the namespace's loopback behaves; the defaults leave it as fast as loopback is."""

    rate: str | None = None  # tc's syntax: "160kbit", "10mbit"; None: no limit
    burst: str = "8kb"  # tbf's bucket: it must hold a whole packet (see mtu)
    # tbf: how long a packet may wait in its queue before being dropped. Long, as a modem's
    # buffer is: a short queue drops packets, and TCP's backed-off retransmissions then leave
    # the link silent for seconds (3.9 s seen at 256 kbit/s with 1 s), which is not a slow link.
    latency: str = "10s"
    loss_percent: int = 0  # packets dropped at random, each direction
    # A real link's, not lo's 65536: loss then hits a few bytes of a transfer, not 64 KiB at a
    # time, and a packet fits in tbf's bucket (tbf drops any packet larger than its burst).
    mtu: int = 1500


def _run(argv: Sequence[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    try:
        done = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False
        )
    except FileNotFoundError as error:
        raise NamespaceUnavailable(f"{argv[0]} is not installed") from error
    if check and done.returncode != 0:
        raise NamespaceUnavailable(
            f"`{' '.join(argv)}` failed (exit {done.returncode}): {done.stderr.strip()}"
        )
    return done


@functools.cache
def unavailable(*, need_nft: bool = True) -> str | None:
    """Why namespaces (and nftables in them, with `need_nft`) cannot be used here, or None."""
    for tool in ("ip", "tc", "ss", *(["nft"] if need_nft else [])):
        if shutil.which(tool) is None:
            return f"`{tool}` is not installed (apt-get install iproute2 nftables)"
    try:
        with namespace(Link(loss_percent=1 if need_nft else 0)):
            pass
    except NamespaceUnavailable as error:
        return str(error)
    return None


def skip_unless_available(*, need_nft: bool = True) -> None:
    import pytest  # only tests skip; the bench reports the reason itself

    reason = unavailable(need_nft=need_nft)
    if reason is not None:
        pytest.skip(f"no network namespace here: {reason}")


@dataclass
class Namespace:
    name: str
    link: Link
    _processes: list[subprocess.Popen[str]] = field(default_factory=list)
    _has_table: bool = False
    _blackholed: set[int] = field(default_factory=set)

    def command(self, argv: Sequence[str | Path]) -> list[str]:
        """`argv` as run inside the namespace."""
        return ["ip", "netns", "exec", self.name, *map(str, argv)]

    def run(
        self, argv: Sequence[str | Path], *, timeout: float = 60.0, check: bool = False,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:  # fmt: skip
        """Run `argv` inside the namespace to completion (killed after `timeout` seconds)."""
        return subprocess.run(
            self.command(argv),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=check,
            env=None if env is None else dict(env),
        )

    def start(
        self, argv: Sequence[str | Path], *, env: Mapping[str, str] | None = None,
        stdout: int | None = subprocess.PIPE, stderr: int | None = subprocess.PIPE,
    ) -> subprocess.Popen[str]:  # fmt: skip
        """Start `argv` inside the namespace, in a session of its own; killed when the
        namespace goes, if it is still running then."""
        process = subprocess.Popen(
            self.command(argv),
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            text=True,
            env=None if env is None else dict(env),
            start_new_session=True,
        )
        self._processes.append(process)
        return process

    def established_client_ports(self, server_port: int) -> set[int]:
        """The local ports of the TCP connections to `server_port` established right now."""
        listing = _run(self.command(["ss", "-Htn", "state", "established"])).stdout
        ports = set()
        for line in listing.splitlines():
            # Recv-Q Send-Q Local:Port Peer:Port (state is left out when one state is asked for)
            fields = line.split()
            if len(fields) < 4:
                continue
            local, peer = fields[2], fields[3]
            if peer.rpartition(":")[2] == str(server_port):
                ports.add(int(local.rpartition(":")[2]))
        return ports

    def blackhole_established(self, server_port: int) -> set[int]:
        """Drop, from now on, every packet of the connections to `server_port` established
        now, in both directions, as a NAT that forgot them would: no RST, no FIN, silence.
        New connections are not affected. Returns the client ports blackholed."""
        ports = self.established_client_ports(server_port) - self._blackholed
        if ports:
            self._ensure_table()
            listed = ", ".join(str(port) for port in sorted(ports))
            for direction in ("sport", "dport"):
                self._nft("add", "rule", "inet", TABLE, "input",
                          "tcp", direction, f"{{ {listed} }}", "drop")  # fmt: skip
            self._blackholed |= ports
        return ports

    def _ensure_table(self) -> None:
        if self._has_table:
            return
        self._nft("add", "table", "inet", TABLE)
        self._nft("add", "chain", "inet", TABLE, "input",
                  "{ type filter hook input priority 0 ; policy accept ; }")  # fmt: skip
        self._has_table = True

    def _nft(self, *words: str) -> None:
        _run(self.command(["nft", *words]))

    def _set_up(self) -> None:
        _run(["ip", "-n", self.name, "link", "set", "lo", "up"])
        _run(["ip", "-n", self.name, "link", "set", "lo", "mtu", str(self.link.mtu)])
        if self.link.rate is not None:
            self._shape()
        if self.link.loss_percent:
            self._ensure_table()
            self._nft("add", "rule", "inet", TABLE, "input", "iif", "lo",
                      "numgen", "random", "mod", "100", "<", str(self.link.loss_percent),
                      "drop")  # fmt: skip

    def _shape(self) -> None:
        """Every packet through a token bucket, except small ones (pure ACKs, SYNs, FINs).

        On loopback both directions share lo's one queue, so with a plain `tbf` at the root
        the ACKs of an upload wait behind its own data: the sender then sees nothing acked for
        seconds at a time although the data flows (measured at 256 kbit/s: gaps of 3 to 4 s
        in the bytes acked with tbf alone at either 1 s or 10 s of latency, 0.24 s with this).
        On a real link the ACKs come back on the other direction's own queue, so here they
        go around the bucket, through an htb class of their own.
        """
        tc = ["tc", "qdisc", "add", "dev", "lo"]
        for argv in (
            [*tc, "root", "handle", "1:", "htb", "default", "10"],
            ["tc", "class", "add", "dev", "lo", "parent", "1:", "classid", "1:10",
             "htb", "rate", "10gbit"],
            ["tc", "class", "add", "dev", "lo", "parent", "1:", "classid", "1:20",
             "htb", "rate", "10gbit"],
            [*tc, "parent", "1:10", "handle", "10:", "tbf", "rate", self.link.rate or "",
             "burst", self.link.burst, "latency", self.link.latency],
            # IPv4 packets of under 128 bytes (total length, bytes 2-3 of the header).
            ["tc", "filter", "add", "dev", "lo", "parent", "1:", "protocol", "ip", "prio", "1",
             "u32", "match", "u16", "0x0000", "0xff80", "at", "2", "flowid", "1:20"],
        ):  # fmt: skip
            _run(self.command(argv))

    def _tear_down(self) -> None:
        for process in self._processes:
            _kill(process)
        # Anything our processes left running in the namespace (a grandchild in a session of
        # its own): only processes of this namespace, which only we started.
        for _ in range(5):
            left = _run(["ip", "netns", "pids", self.name], check=False).stdout.split()
            if not left:
                break
            for pid in left:
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
            time.sleep(0.1)
        _run(["ip", "netns", "delete", self.name], check=False)


def _kill(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.communicate(timeout=10)


@contextlib.contextmanager
def namespace(link: Link | None = None) -> Iterator[Namespace]:
    """A new network namespace with only `lo`, shaped as `link` says; deleted on the way out,
    with every process started in it."""
    name = f"productiv-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    _run(["ip", "netns", "add", name])
    created = Namespace(name, link or Link())
    try:
        created._set_up()
        yield created
    finally:
        created._tear_down()
