"""systemd's notify protocol, as sd_notify(3) describes it: datagrams to $NOTIFY_SOCKET.

`watch` under a `Type=notify` unit says READY=1 once its start-up check has passed and its
folders are watched, STATUS= lines as it works, WATCHDOG=1 from its main loop, and STOPPING=1
when asked to stop. Without $NOTIFY_SOCKET every call does nothing.

It is a few lines of the standard library (a connectionless AF_UNIX socket), so no library is
used: the `sdnotify` package does the same with fewer checks, and systemd's own bindings need
libsystemd and a compiler.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping

STATUS_EVERY_S = 1.0  # sd_notify(3): status updates are cheap, but not meant per event


class Notifier:
    """Tells the service manager how the service is doing; silent outside systemd."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._address = _address(environ.get("NOTIFY_SOCKET", ""))
        self._socket: socket.socket | None = None
        if self._address is not None:
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self.watchdog_every_s = _watchdog_interval(environ)
        self._last_ping = 0.0
        self._last_status = 0.0
        self._pending_status: str | None = None
        self.failed: OSError | None = None  # the first send that failed, for one warning

    @property
    def enabled(self) -> bool:
        return self._socket is not None

    def ready(self, status: str) -> None:
        self._send(f"READY=1\nSTATUS={status}")
        self._last_status = time.monotonic()
        self.tick()

    def status(self, status: str, *, now: bool = False) -> None:
        """A one-line summary; sent at most once a second (the latest one wins)."""
        self._pending_status = status
        if now or time.monotonic() - self._last_status >= STATUS_EVERY_S:
            self._flush_status()

    def extend_start(self, seconds: float, status: str) -> None:
        """Still starting (waiting for the API): let systemd wait `seconds` more for READY=1."""
        self._send(f"EXTEND_TIMEOUT_USEC={int(seconds * 1_000_000)}\nSTATUS={status}")
        self._last_status = time.monotonic()

    def tick(self) -> None:
        """Called by the main loop each time round: a WATCHDOG=1 when one is due, and any
        status held back by the rate limit. A loop that stops calling this stops the pings."""
        now = time.monotonic()
        if self.watchdog_every_s is not None and now - self._last_ping >= self.watchdog_every_s:
            self._send("WATCHDOG=1")
            self._last_ping = now
        if self._pending_status is not None and now - self._last_status >= STATUS_EVERY_S:
            self._flush_status()

    def stopping(self, status: str) -> None:
        self._send(f"STOPPING=1\nSTATUS={status}")

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def _flush_status(self) -> None:
        if self._pending_status is not None:
            self._send(f"STATUS={self._pending_status}")
            self._pending_status = None
            self._last_status = time.monotonic()

    def _send(self, message: str) -> None:
        if self._socket is None or self._address is None:
            return
        try:
            self._socket.sendto(message.encode("utf-8", "replace"), self._address)
        except OSError as error:
            # The manager went away or the socket is full: the service itself goes on.
            self.failed = self.failed or error


def _address(value: str) -> str | bytes | None:
    """$NOTIFY_SOCKET: a path, or an abstract socket name written with a leading '@'."""
    if value.startswith("/"):
        return value
    if value.startswith("@") and len(value) > 1:
        return b"\0" + value[1:].encode()
    return None  # unset, or a form this does not speak (vsock:...)


def _watchdog_interval(environ: Mapping[str, str]) -> float | None:
    """Half of $WATCHDOG_USEC, when it is meant for this process (sd_watchdog_enabled(3): a
    $WATCHDOG_PID naming another process means the pings are not ours to send)."""
    try:
        usec = int(environ.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    if usec <= 0:
        return None
    pid = environ.get("WATCHDOG_PID")
    if pid is not None and pid.strip() != str(os.getpid()):
        return None
    return usec / 1_000_000 / 2
