"""`watch`: a long-running push of the files that appear in folders, once each has settled.

The folders are rescanned whenever the OS says something changed (or every `--poll` seconds),
and at least every `RESCAN_S` seconds in any case, so a lost event never loses a file. Each file
becomes due once it has stayed unchanged for `min_age` seconds (`settle.Settler`); due files are
pushed in batches through the same `Pusher`, journal and lock as `push`. No output happens here.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from productiv_upload.common.errors import (
    AccessRefused,
    ApiError,
    ExitStatus,
    UploadError,
    UsageError,
)
from productiv_upload.common.text import printable
from productiv_upload.core.integrations.file_events import start_hints
from productiv_upload.core.integrations.systemd import Notifier
from productiv_upload.core.journal import Journal
from productiv_upload.core.journal.runs import Figures
from productiv_upload.core.model import FileResult, LocalFile
from productiv_upload.core.push.events import PushEvents
from productiv_upload.core.push.pusher import Pusher, PushOptions
from productiv_upload.core.push.run import open_clients
from productiv_upload.core.push.spool import prepare_move_target
from productiv_upload.core.session.clients import Clients
from productiv_upload.core.session.run_session import RunSession
from productiv_upload.core.settings.service import ServiceSettings
from productiv_upload.core.settings.watch import WatchRequest
from productiv_upload.core.watch.memory import WatchLoop
from productiv_upload.core.watch.reporting import WatchOps
from productiv_upload.service.api import ProductivApi

# An API that cannot be reached at start is asked again after this long, doubling up to a
# minute: a service started before the network is up waits for it.
START_RETRY_S = (1.0, 60.0)


@dataclass
class WatchStart:
    """What the service is about to do, for its start line."""

    dirs: list[str]
    method: str  # "inotify", "polling every 2 s"...
    app_id: str
    api_url: str


def run_watch(
    request: WatchRequest,
    events: PushEvents,
    *,
    started: Callable[[WatchStart], None],
    warn: Callable[[str], None],
    on_secret: Callable[[str], None] | None = None,
    environ: Mapping[str, str] | None = None,
    stop: threading.Event | None = None,
) -> Figures | None:
    """Run until `stop` is set or the process is interrupted (then in-flight files are drained);
    returns what it did since it started, or None if it stopped before it started watching.

    Raises UsageError (bad folders or settings), LockHeld, and AccessRefused when the service
    refuses the credentials or the app, at start or at any later time.
    """
    environ = os.environ if environ is None else environ
    stop = stop or threading.Event()
    _check_folders(request.dirs)
    if request.spool.move_to is not None:
        prepare_move_target(request.spool.move_to)
    session = RunSession.open(request.service, request.state, environ, kind="watch")
    session.check_metrics_file()

    with session:
        session.lock(wait_s=request.state.wait_lock)
        journal = session.open_journal()
        clients, options = open_clients(session, request.transfer, on_secret, events)
        # Files are counted as they are told of, right after each is journaled: counted
        # later, an interrupt in between would leave a recorded upload out of the figures.
        counted = _Counted(events)
        loop = WatchLoop(request, counted, warn, journal, session.api_key, session.app_id)
        ops = WatchOps(
            Notifier(environ),
            journal,
            session.api_key,
            session.app_id,
            metrics_file=session.metrics_file,
            warn=warn,
            waits=loop.waits,
        )
        loop.ops = counted.ops = ops
        service = _Service(
            request,
            session.service,
            loop,
            ops,
            clients,
            options,
            counted,
            journal,
            started,
            warn,
            stop,
        )
        exit_code, message = int(ExitStatus.OK), None
        try:
            # Asked without the transfers' retries: the check's own backoff paces the tries.
            probe = session.connect(replace(request.transfer, retries=0), on_secret=on_secret)
            if not _access_granted(probe.api, warn, stop, ops):
                return None
            service.serve()
        except KeyboardInterrupt:
            ops.stopping()  # nothing was in flight: a push in progress drains itself
        except UploadError as error:
            exit_code, message = int(error.exit_status), str(error)
            raise
        finally:
            ops.stopped(exit_code, message)
    return ops.figures if ops.watching else None


@dataclass
class _Service:
    """The running service: what it watches, remembers and reports, and how it sends."""

    request: WatchRequest
    settings: ServiceSettings
    loop: WatchLoop
    ops: WatchOps
    clients: Clients
    options: PushOptions
    events: PushEvents
    journal: Journal
    started: Callable[[WatchStart], None]
    warn: Callable[[str], None]
    stop: threading.Event
    wake: threading.Event = field(default_factory=threading.Event)

    def serve(self) -> None:
        """The main loop: rescan, send what is due, wait; a tick each time round."""
        request, loop, ops, stop = self.request, self.loop, self.ops, self.stop
        announced = False
        while not stop.is_set():
            # OS watches follow a folder's inode: when a watched folder is replaced (moved
            # away and made anew), they are set up again on the new one.
            hints = start_hints(
                request.dirs,
                recursive=request.recursive,
                poll=request.poll,
                wake=self.wake,
                warn=self.warn,
            )
            with hints as (method, poll):
                if not announced:
                    self.started(
                        WatchStart(
                            request.dirs, method, self.settings.app_id, self.settings.api_url
                        )
                    )
                    ops.ready(f"{', '.join(printable(d) for d in request.dirs)} ({method})")
                    announced = True
                while not stop.is_set() and loop.rescan():
                    ops.tick()
                    loop.upkeep()
                    due = loop.take_due()
                    if due:
                        if not self._send(due):
                            return
                        continue
                    loop.wait(self.wake, poll, stop)
        ops.stopping()  # stopped by `stop` (SIGTERM seen by the caller), not by an interrupt

    def _send(self, due: list[LocalFile]) -> bool:
        """Push the files that are due; False once interrupted."""
        pusher = Pusher(
            self.clients.api,
            self.clients.storage,
            self.options,
            self.events,
            self.journal,
            heartbeat=self.ops,
        )
        outcome = pusher.run(due)
        self.loop.finished(due, outcome.results)
        if outcome.fatal is not None:
            raise outcome.fatal
        return not outcome.interrupted


class _Counted:
    """The caller's events, with each finished file also told to the watch's operator side."""

    def __init__(self, events: PushEvents) -> None:
        self._events = events
        self.ops: WatchOps | None = None

    def file_started(self, file: LocalFile) -> None:
        self._events.file_started(file)

    def bytes_sent(self, file: LocalFile, count: int) -> None:
        self._events.bytes_sent(file, count)

    def file_finished(self, result: FileResult) -> None:
        if self.ops is not None:
            self.ops.finished([result])
        self._events.file_finished(result)

    def notice(self, message: str) -> None:
        self._events.notice(message)

    def waiting(self, file: LocalFile, seconds: float) -> None:
        self._events.waiting(file, seconds)

    def attempt_failed(self, file: LocalFile, attempt: int, reason: str) -> None:
        self._events.attempt_failed(file, attempt, reason)

    def request_retried(self, what: str, attempt: int, reason: str) -> None:
        self._events.request_retried(what, attempt, reason)


def _check_folders(dirs: list[str]) -> None:
    """Every DIR must be a folder at start; all problems are named at once."""
    problems = []
    for folder in dirs:
        if not os.path.exists(folder):
            problems.append(f"{printable(folder)} does not exist (watch takes existing folders)")
        elif not os.path.isdir(folder):
            problems.append(f"{printable(folder)} is not a folder; watch takes folders")
    if problems:
        raise UsageError("\n".join(problems))


def _access_granted(
    api: ProductivApi, warn: Callable[[str], None], stop: threading.Event, ops: WatchOps
) -> bool:
    """Prove the credentials and the app as `check` does, before watching anything.

    Refused credentials or an unknown app raise AccessRefused (exit 3) at once; an API that
    cannot be reached is asked again with backoff until it answers. False if stopped first.
    """
    wait_s = START_RETRY_S[0]
    while not stop.is_set():
        try:
            api.probe()
            return True
        except AccessRefused:
            raise
        except ApiError as error:
            warn(f"cannot check the credentials yet: {error}; trying again in {wait_s:g} s")
            ops.waiting_for_api(str(error), wait_s)
        if stop.wait(wait_s):
            break
        wait_s = min(wait_s * 2, START_RETRY_S[1])
    return False
