"""What the operating system can tell about a TCP connection, and the keepalive we ask of it.

Every platform-specific socket constant the tool uses lives here. Where a platform lacks one
(macOS, Windows), the feature is off and the caller falls back on plain timeouts.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import sys

# Kernel keepalive finds a flow that died while nothing was in flight on it: a connection
# waiting for an answer with its request all acknowledged, or idle in a pool (a NAT or firewall
# that forgot it, a peer that vanished). After 15 s of silence a probe goes every 5 s, and 3
# unanswered end the connection: a dead one is known within 30 s, half the default --timeout,
# for one tiny packet per 5 s on a connection that waits. Middle boxes that drop idle flows
# mostly wait a minute or more: probes every 5 s after 15 s also keep the flow alive in their
# tables while a slow answer is awaited.
KEEPALIVE_IDLE_S = 15
KEEPALIVE_INTERVAL_S = 5
KEEPALIVE_PROBES = 3


def _keepalive_options() -> list[tuple[int, int, int]]:
    options = [(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)]
    # Linux and Windows name the idle time TCP_KEEPIDLE, macOS TCP_KEEPALIVE; a platform with
    # neither keeps its own (often two hours) and only the switch above applies.
    idle = getattr(socket, "TCP_KEEPIDLE", None) or getattr(socket, "TCP_KEEPALIVE", None)
    tuning = [
        (idle, KEEPALIVE_IDLE_S),
        (getattr(socket, "TCP_KEEPINTVL", None), KEEPALIVE_INTERVAL_S),
        (getattr(socket, "TCP_KEEPCNT", None), KEEPALIVE_PROBES),
    ]
    options += [(socket.IPPROTO_TCP, name, value) for name, value in tuning if name is not None]
    return options


# In urllib3's `socket_options` format, for sessions built elsewhere (the API's).
KEEPALIVE_SOCKET_OPTIONS: list[tuple[int, int, int]] = _keepalive_options()

# Linux's SIOCOUTQ (the same number as TIOCOUTQ): the bytes of a TCP socket's send queue
# that the peer has not acknowledged yet, sent or not.
_SIOCOUTQ = 0x5411 if sys.platform.startswith("linux") else None


def enable_keepalive(sock: socket.socket) -> None:
    """Ask the kernel to probe `sock` while it is idle (see KEEPALIVE_IDLE_S)."""
    for level, name, value in KEEPALIVE_SOCKET_OPTIONS:
        # An option this kernel refuses: keepalive is a help, never a requirement.
        with contextlib.suppress(OSError):
            sock.setsockopt(level, name, value)


def unacknowledged_bytes(sock: socket.socket) -> int | None:
    """How many bytes handed to the kernel the peer has not acknowledged; None if unknown."""
    if _SIOCOUTQ is None:
        return None
    import fcntl  # POSIX only; imported here so that importing this module works everywhere

    try:
        answer = fcntl.ioctl(sock.fileno(), _SIOCOUTQ, b"\0\0\0\0")
    except (OSError, ValueError):
        return None  # a closed socket, or a kernel that does not answer for this one
    (count,) = struct.unpack("i", answer)
    return int(count)
