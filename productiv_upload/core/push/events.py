"""How a push talks to its caller: progress events out (`PushEvents`), a stop and a heartbeat in.

The presenter decides how to draw the events (a live view, plain lines, nothing); `NullEvents`
serves tests and callers that want none.
"""

from __future__ import annotations

from typing import Protocol

from productiv_upload.core.model import FileResult, LocalFile


class PushEvents(Protocol):
    """What the core tells whoever shows progress. Called from worker threads."""

    def file_started(self, file: LocalFile) -> None: ...

    def bytes_sent(self, file: LocalFile, count: int) -> None: ...

    def file_finished(self, result: FileResult) -> None: ...

    def notice(self, message: str) -> None: ...

    def waiting(self, file: LocalFile, seconds: float) -> None:
        """Nothing has moved on the file's transfer for `seconds`; 0.0 once it moves again."""

    def attempt_failed(self, file: LocalFile, attempt: int, reason: str) -> None:
        """Try number `attempt` of the file failed for `reason`, and it will be sent again."""

    def request_retried(self, what: str, attempt: int, reason: str) -> None:
        """Try number `attempt` of a request to `what` (the API) failed, and it is retried."""


class NullEvents:
    """Shows nothing: for tests, and for callers that only want the results."""

    def file_started(self, file: LocalFile) -> None:
        pass

    def bytes_sent(self, file: LocalFile, count: int) -> None:
        pass

    def file_finished(self, result: FileResult) -> None:
        pass

    def notice(self, message: str) -> None:
        pass

    def waiting(self, file: LocalFile, seconds: float) -> None:
        pass

    def attempt_failed(self, file: LocalFile, attempt: int, reason: str) -> None:
        pass

    def request_retried(self, what: str, attempt: int, reason: str) -> None:
        pass


class Heartbeat(Protocol):
    """For a caller whose liveness is watched (`watch` under systemd's watchdog)."""

    def tick(self) -> None:
        """Called from the scheduling thread at least every `HEARTBEAT_S` while it runs."""

    def stopping(self) -> None:
        """An interrupt arrived: the run is draining its transfers in flight."""


class Stop:
    """Set by the caller, from any thread, to end a run early as an interrupt would (no new
    uploads, those in flight finish and are recorded), for a reason the results give."""

    def __init__(self) -> None:
        self.reason: str | None = None

    def set(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
