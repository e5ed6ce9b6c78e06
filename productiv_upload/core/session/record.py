"""What a push leaves for the operator: its line in the run log, its failures, and the metrics
file (`--metrics-file`), for `status`, alerting and dashboards."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from productiv_upload.core.integrations.prometheus import Snapshot, write_metrics
from productiv_upload.core.journal import Journal, JournalError
from productiv_upload.core.journal.runs import Figures, RunLog, last_success
from productiv_upload.core.model import RunReport


class PushRecord:
    """Started once the journal is open; ended with the run's exit code, however it ends.

    Nothing here may fail a run that otherwise went well: a journal that cannot take the record
    is a warning, a metrics file that cannot be written a problem the caller reports (exit 1).
    """

    def __init__(
        self,
        journal_path: Path,
        api_url: str,
        app_id: str,
        metrics_file: Path | None,
        warn: Callable[[str], None],
    ) -> None:
        self._journal_path = journal_path
        self._api_url = api_url
        self._app_id = app_id
        self.metrics_file = metrics_file
        self._warn = warn
        self._log: RunLog | None = None

    def started(self, journal: Journal) -> None:
        """Log the run's start (a run killed later still shows, started and never ended)."""
        log = RunLog(journal, self._api_url, self._app_id, "push")
        log.start()  # a journal that cannot take this cannot take the uploads: let it raise
        self._log = log

    def ended(self, exit_code: int, report: RunReport | None, message: str | None) -> list[str]:
        """Log the end and write the metrics file; returns what could not be written."""
        figures = Figures()
        if report is not None:
            figures.add(report.files)
        if self._log is not None:
            try:
                if report is not None:
                    self._log.failed(report.files)
                self._log.finish(exit_code, figures, message)
            except JournalError as error:
                self._warn(f"the run was not recorded for `status`: {error}")
        if self.metrics_file is None:
            return []
        snapshot = Snapshot(
            self._app_id, "push", figures, time.time(), self._last_success(), exit_code
        )
        problem = write_metrics(self.metrics_file, snapshot)
        return [] if problem is None else [problem]

    def _last_success(self) -> float | None:
        """From the run log: this run's end if it succeeded, else the last one that did. The
        run's own journal when it got that far; else (a held lock, refused credentials) a
        read-only look."""
        try:
            if self._log is not None:
                success = last_success(self._log.journal, self._api_url, self._app_id)
            else:
                journal = Journal.open_existing(self._journal_path)
                if journal is None:
                    return None
                with journal:
                    success = last_success(journal, self._api_url, self._app_id)
        except JournalError:
            return None
        return float(success) if success is not None else None
