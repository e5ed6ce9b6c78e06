"""Storage connections that give up on silence, never on slowness (README: "Stalled connections").

Python's own sockets apply a timeout to each whole `sendall` and to a whole TLS handshake or
record, so on a slow link a 256 KiB block can outlast `--timeout` while every byte of it is
moving. Here the socket is non-blocking while a request goes out, and every wait is ours: it
ends when the socket is ready, or when nothing at all has moved for `--timeout` seconds. Once
the body is handed to the kernel, the wait for the answer watches the kernel's queue of bytes
the peer has not acknowledged: while it shrinks the body is still on its way, and the answer's
clock starts only when it is empty (see `common/platform/sockets.py`).
"""

from __future__ import annotations

import contextlib
import http.client
import io
import select
import socket
import ssl
import time
from collections.abc import Callable
from typing import Any, cast

import urllib3

from productiv_upload.common.platform.sockets import enable_keepalive, unacknowledged_bytes

# How often a wait wakes to look at the send queue: often enough to tell progress from silence
# within a fraction of a second, rarely enough to cost nothing next to a transfer. A ready
# socket ends a wait at once, so this adds no latency.
WAKE_S = 0.25
NOTICE_AFTER_S = 5.0  # silence worth telling of (or half the timeout, if that is shorter)
# One TLS record: a TLS write sends a whole record or waits, so no write asks for more.
TLS_PIECE = 16 * 1024
_FIRST_READ = 64 * 1024

WaitCallback = Callable[[float], None]  # seconds without movement so far; 0.0: it moves again


class Stalled(TimeoutError):
    """Nothing moved on a storage connection for the timeout. The message names no URL."""


class _Clock:
    """When something last moved on one request's connection, and who hears of a long wait."""

    def __init__(self, idle_s: float, on_wait: WaitCallback | None) -> None:
        self._idle_s = idle_s
        self._on_wait = on_wait
        self._notice_s = min(NOTICE_AFTER_S, idle_s / 2)
        self._moved_at = time.monotonic()
        self._told_s = 0.0  # the silence last told of; 0.0 when none was
        self._unacknowledged: int | None = None

    def resume(self) -> None:
        """The connection's turn starts now: the time spent away from it, reading the file or
        pacing the transfer (--limit-rate), was not the network's silence."""
        self._moved_at = time.monotonic()

    def moved(self) -> None:
        self._moved_at = time.monotonic()
        if self._told_s:
            self._told_s = 0.0
            if self._on_wait is not None:
                self._on_wait(0.0)

    def wait(
        self,
        sock: socket.socket,
        doing: str,
        *,
        read: bool = False,
        write: bool = False,
        while_unacknowledged: str | None = None,
    ) -> None:
        """Until `sock` is ready; raises Stalled once nothing has moved for the timeout.

        Bytes the peer acknowledges count as movement: on a slow link the kernel may need
        many seconds to free enough room for a socket to be writable again.
        """
        while True:
            quiet = time.monotonic() - self._moved_at
            if quiet >= self._idle_s:
                if while_unacknowledged is not None and self._unacknowledged:
                    doing = while_unacknowledged
                raise Stalled(f"nothing moved for {self._idle_s:g} s while {doing}")
            if _ready(sock, read=read, write=write, timeout=min(WAKE_S, self._idle_s - quiet)):
                self.moved()
                return
            unacknowledged = unacknowledged_bytes(sock)
            if (
                unacknowledged is not None
                and self._unacknowledged is not None
                and unacknowledged < self._unacknowledged
            ):
                self.moved()
            self._unacknowledged = unacknowledged
            self._tell()

    def _tell(self) -> None:
        quiet = time.monotonic() - self._moved_at
        if quiet >= self._idle_s:
            return  # not a wait any more: a stall, which the caller hears of as Stalled
        if self._on_wait is not None and quiet >= self._told_s + self._notice_s:
            self._told_s = quiet
            self._on_wait(quiet)


def _ready(sock: socket.socket, *, read: bool, write: bool, timeout: float) -> bool:
    """Whether `sock` is ready (or failed: the next call on it says how) within `timeout`."""
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(sock, (select.POLLIN if read else 0) | (select.POLLOUT if write else 0))
        return bool(poller.poll(timeout * 1000))
    # Windows: select() has no limit on descriptor numbers there.
    readable, writable, failed = select.select(
        [sock] if read else [], [sock] if write else [], [sock], timeout
    )
    return bool(readable or writable or failed)


class StorageConnection(http.client.HTTPConnection):
    """A keep-alive `http.client` connection on which `idle_s` of silence, not of slowness,
    ends a request: TCP connect within `connect_s`, then every wait watched by a `_Clock`."""

    def __init__(
        self, host: str, port: int | None, *, connect_s: float, idle_s: float, blocksize: int
    ) -> None:
        super().__init__(host, port, timeout=connect_s, blocksize=blocksize)
        self._connect_s = connect_s
        self._idle_s = idle_s
        self._clock = _Clock(idle_s, None)
        self._first = b""  # the answer's first bytes, read while waiting for it (TLS)
        self._sending = False  # the socket is non-blocking, for a request going out
        self._poller: Any = None  # select.poll() for the answer, made for the socket `_poll_fd`
        self._poll_fd = -1
        self.idle_since = time.monotonic()  # when it last went back to its pool

    def watch(self, on_wait: WaitCallback | None) -> None:
        """Start the clock for a new request; `on_wait` hears of its long silences."""
        self._clock = _Clock(self._idle_s, on_wait)
        self._first = b""

    def connect(self) -> None:
        try:
            self.sock = socket.create_connection((self.host, self.port), self._connect_s)
        except OSError as error:
            if self._tunnelled_to():
                # urllib3's word for it, so that the message names the proxy, not storage.
                raise urllib3.exceptions.ProxyError("Unable to connect to proxy", error) from error
            if isinstance(error, TimeoutError):
                raise Stalled(f"nothing moved for {self._connect_s:g} s while connecting") from None
            raise
        # As http.client does: a platform without it still works, a little slower.
        with contextlib.suppress(OSError):
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        enable_keepalive(self.sock)
        self._sending = False
        self._clock.moved()
        if self._tunnelled_to():
            # CONNECT through the proxy (set_tunnel), under the same rule: silence ends it.
            self.sock.settimeout(self._idle_s)
            # http.client's CONNECT goes through send(), whose switch to non-blocking sends is
            # for the request itself: the proxy's answer is read here, blocking.
            self._sending = True
            try:
                self._tunnel()  # type: ignore[attr-defined]
            except TimeoutError:
                raise Stalled(
                    f"nothing moved for {self._idle_s:g} s while the proxy opened the tunnel"
                ) from None
            self._sending = False
            self._clock.moved()
        self._secure()

    def _tunnelled_to(self) -> str | None:
        """The target's host when this connection goes through a proxy's tunnel."""
        host: str | None = getattr(self, "_tunnel_host", None)  # set_tunnel's, not in typeshed
        return host

    def _secure(self) -> None:
        """The TLS handshake, for connections that have one."""

    def send(self, data: Any) -> None:
        # http.client sends the head and then each block of the body through here.
        if self.sock is None:
            self.connect()
        if not self._sending:
            self.sock.setblocking(False)
            self._sending = True
        self._clock.resume()
        view = memoryview(data).cast("B")
        while view:
            try:
                sent = self._send_piece(view)
            except (BlockingIOError, ssl.SSLWantWriteError):
                self._clock.wait(self.sock, "sending the body", write=True)
                continue
            except ssl.SSLWantReadError:  # TLS may need to read before it writes again
                self._clock.wait(self.sock, "sending the body", read=True)
                continue
            self._clock.moved()
            view = view[sent:]

    def _send_piece(self, view: memoryview) -> int:
        # On plain TCP a non-blocking send takes what fits: progress is seen byte by byte.
        return int(self.sock.send(view))

    def wait_for_answer(self) -> None:
        """After the request went out: wait, with the clock watching, for the answer's first
        bytes. An answer already there ends the wait at once: no time is added."""
        sock = self.sock
        if sock is None:
            return  # closed under the request: getresponse says so
        self._await_answer(sock)
        # The rest of a short answer is read with the timeout between bytes.
        sock.settimeout(self._idle_s)
        self._sending = False

    def _await_answer(self, sock: socket.socket) -> None:
        # On plain TCP, readable means bytes of the answer, or the server hanging up. Most
        # answers come within the first wake: that wait is one poll() with no bookkeeping,
        # on a poll object kept for the socket (small PUTs are counted in microseconds).
        if self._answer_within(sock, WAKE_S):
            return
        self._clock.wait(
            sock, "waiting for the answer", read=True, while_unacknowledged="sending the body"
        )

    def _answer_within(self, sock: socket.socket, seconds: float) -> bool:
        if not hasattr(select, "poll"):
            return False  # Windows: the clock's own wait does it all
        fd = sock.fileno()
        if self._poll_fd != fd:
            self._poller = select.poll()
            self._poller.register(fd, select.POLLIN)
            self._poll_fd = fd
        return bool(self._poller.poll(seconds * 1000))

    def getresponse(self) -> http.client.HTTPResponse:
        sock = self.sock
        if sock is None or not self._first:
            return self._answer()
        # http.client reads the answer from `sock.makefile()`: hand it the bytes read already.
        replay = _Replay(sock, self._first)
        self._first = b""
        self.sock = cast(socket.socket, replay)
        try:
            return self._answer()
        finally:
            if self.sock is not None:
                self.sock = sock  # kept alive: the real socket again (closed: left None)

    def _answer(self) -> http.client.HTTPResponse:
        try:
            return super().getresponse()
        except TimeoutError as error:
            if isinstance(error, Stalled):
                raise
            message = f"nothing moved for {self._idle_s:g} s while reading the answer"
            raise Stalled(message) from None


class TlsStorageConnection(StorageConnection):
    """The same over TLS, its handshake watched by the same clock."""

    default_port = http.client.HTTPS_PORT

    def __init__(
        self,
        host: str,
        port: int | None,
        *,
        connect_s: float,
        idle_s: float,
        blocksize: int,
        context: ssl.SSLContext,
    ) -> None:
        super().__init__(host, port, connect_s=connect_s, idle_s=idle_s, blocksize=blocksize)
        self._context = context

    def _secure(self) -> None:
        # Through a tunnel, the TLS session is with the target, verified as such.
        tls = self._context.wrap_socket(
            self.sock,
            server_hostname=self._tunnelled_to() or self.host,
            do_handshake_on_connect=False,
        )
        self.sock = tls
        tls.setblocking(False)
        while True:
            try:
                tls.do_handshake()
            except ssl.SSLWantReadError:
                self._clock.wait(tls, "completing the TLS handshake", read=True)
            except ssl.SSLWantWriteError:
                self._clock.wait(tls, "completing the TLS handshake", write=True)
            else:
                return

    def _send_piece(self, view: memoryview) -> int:
        # Never more than a record: a write that must wait is retried with the same bytes.
        return int(self.sock.send(view[:TLS_PIECE]))

    def _await_answer(self, sock: socket.socket) -> None:
        # A readable TLS socket may hold only records of TLS's own (a session ticket): the
        # answer's first bytes are read here, and handed to http.client by getresponse.
        sock.setblocking(False)
        while True:
            try:
                self._first = sock.recv(_FIRST_READ)
            except ssl.SSLWantReadError:
                self._clock.wait(
                    sock,
                    "waiting for the answer",
                    read=True,
                    while_unacknowledged="sending the body",
                )
            except ssl.SSLWantWriteError:
                self._clock.wait(sock, "waiting for the answer", write=True)
            else:
                return


class _Replay:
    """Stands in for the socket while http.client reads an answer whose start was read."""

    def __init__(self, sock: socket.socket, first: bytes) -> None:
        self._sock = sock
        self._first = first

    def makefile(self, mode: str) -> io.BufferedReader:
        assert mode == "rb"
        return io.BufferedReader(_ReplayReader(self._first, self._sock.makefile("rb", buffering=0)))

    def close(self) -> None:
        self._sock.close()


class _ReplayReader(io.RawIOBase):
    def __init__(self, first: bytes, rest: Any) -> None:
        self._first = first
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._first:
            count = min(len(buffer), len(self._first))
            buffer[:count] = self._first[:count]
            self._first = self._first[count:]
            return count
        return int(self._rest.readinto(buffer))

    def close(self) -> None:
        self._rest.close()
        super().close()
