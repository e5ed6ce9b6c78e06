"""What a running `watch` tells its operator: systemd (READY, STATUS, WATCHDOG, STOPPING), the
run log that `status` reads, and the metrics file.

The watch's main loop calls `tick` each time round (and the push loop calls it while files are
in flight): the watchdog pings come from there and nowhere else, so a loop that hangs stops
them and systemd restarts the service, while a long transfer, which runs in a worker thread,
does not. Figures, status and metrics are refreshed as files finish, at most once a second,
and at least every `REFRESH_S`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from productiv_upload.common.text import plural
from productiv_upload.core.integrations.prometheus import Snapshot, write_metrics
from productiv_upload.core.integrations.systemd import Notifier
from productiv_upload.core.journal import Journal, JournalError
from productiv_upload.core.journal.runs import Figures, RunLog, Waiting
from productiv_upload.core.model import FileResult, Status

REFRESH_S = 15.0  # README, "Metrics for Prometheus": rewritten at least this often
SOON_S = 1.0  # and not more often than this when files finish


@dataclass
class Waits:
    """What the loop holds: files settling, and files waiting out a retry."""

    settling: int = 0
    retrying: list[Waiting] = field(default_factory=list)


class WatchOps:
    def __init__(
        self,
        notifier: Notifier,
        journal: Journal,
        api_url: str,
        app_id: str,
        *,
        metrics_file: Path | None,
        warn: Callable[[str], None],
        waits: Callable[[], Waits],
    ) -> None:
        self._notifier = notifier
        self._log = RunLog(journal, api_url, app_id, "watch")
        self._app_id = app_id
        self._metrics_file = metrics_file
        self._warn = warn
        self._waits = waits
        self.figures = Figures()
        self._last_upload: float | None = None
        self._last_success: float | None = None
        self._written = 0.0  # when figures were last written out (monotonic)
        self._dirty = False
        self._retrying: list[Waiting] = []
        self._said: set[str] = set()  # warnings given once
        self._stopping = False
        self.watching = False  # the start-up check passed and the folders are watched

    @property
    def tick_s(self) -> float:
        """How often the loop must call `tick` at the least: the watchdog's pace, if any."""
        return self._notifier.watchdog_every_s or REFRESH_S

    # --- start and stop ---

    def waiting_for_api(self, reason: str, retry_in: float) -> None:
        """The start-up check cannot reach the API yet: tell systemd to keep waiting."""
        self._notifier.extend_start(retry_in + 30, f"waiting for the API: {reason}")

    def ready(self, watching: str) -> None:
        """The start-up check passed and the folders are watched."""
        self._guard("run log", self._log.start)
        self.watching = True
        self._last_success = time.time()
        self._notifier.ready(f"watching {watching}")
        self._refresh()

    def stopping(self) -> None:
        if not self._stopping:
            self._stopping = True
            self._notifier.stopping("stopping: finishing the transfers in flight")

    def stopped(self, exit_code: int, message: str | None = None) -> None:
        self._guard("run log", lambda: self._log.finish(exit_code, self.figures, message))
        self._write_metrics()
        self._notifier.close()

    # --- as it works ---

    def tick(self) -> None:
        self._notifier.tick()
        now = time.monotonic()
        if now - self._written >= REFRESH_S or (self._dirty and now - self._written >= SOON_S):
            self._refresh()

    def finished(self, results: Sequence[FileResult]) -> None:
        """Files that finished (uploaded, skipped or failed this time round)."""
        self.figures.add(results)
        if any(r.status is Status.UPLOADED for r in results):
            self._last_upload = time.time()
        failed = [r for r in results if r.status is Status.FAILED]
        if failed:
            self._guard("run log", lambda: self._log.failed(failed))
        self._dirty = True
        self.tick()

    def changed(self) -> None:
        """What the loop holds has changed: write it out soon."""
        self._dirty = True

    # --- plumbing ---

    def _refresh(self) -> None:
        waits = self._waits()
        if not waits.retrying:
            self._last_success = time.time()
        if waits.retrying != self._retrying:
            self._retrying = waits.retrying
            self._guard("run log", lambda: self._log.retrying(waits.retrying))
        self._guard("run log", lambda: self._log.update(self.figures, healthy=not waits.retrying))
        self._notifier.status(self._summary(waits))
        self._write_metrics(waits)
        self._written = time.monotonic()
        self._dirty = False

    def _summary(self, waits: Waits) -> str:
        figures = self.figures
        last = ""
        if self._last_upload is not None:
            last = "; last upload " + time.strftime("%H:%M:%SZ", time.gmtime(self._last_upload))
        return (
            f"{figures.uploaded} uploaded, {figures.skipped} skipped, {figures.failed} failed "
            f"since start; {waits.settling} settling, {plural(len(waits.retrying), 'file')} to "
            f"retry{last}"
        )

    def _write_metrics(self, waits: Waits | None = None) -> None:
        if self._metrics_file is None:
            return
        waits = waits or self._waits()
        snapshot = Snapshot(
            self._app_id,
            "watch",
            self.figures,
            time.time(),
            self._last_success,
            settling=waits.settling,
            retrying=len(waits.retrying),
        )
        problem = write_metrics(self._metrics_file, snapshot)
        if problem is not None:
            self._once(problem)

    def _guard(self, what: str, action: Callable[[], None]) -> None:
        try:
            action()
        except JournalError as error:
            self._once(f"the {what} for `status` could not be written: {error}")

    def _once(self, message: str) -> None:
        if message not in self._said:
            self._said.add(message)
            self._warn(message)
