"""`productiv-upload watch` on the command line: the core's watch loop, one line per file.

Plain lines even on a terminal (journald and `docker logs` keep them), or JSON lines with
`--json`; a start line on stderr says what is watched and how.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from typing import TextIO

from productiv_upload.cli.output.present import PlainPresenter
from productiv_upload.common.errors import ExitStatus
from productiv_upload.common.redact import Redactor
from productiv_upload.common.text import printable
from productiv_upload.core.model import FileResult, LocalFile
from productiv_upload.core.settings.watch import WatchRequest
from productiv_upload.core.watch.service import WatchStart, run_watch


class WatchPrinter(PlainPresenter):
    """One line per finished file: plain, or a JSON object with the report's fields and time."""

    def __init__(self, out: TextIO, *, json_lines: bool, debug: bool = False) -> None:
        super().__init__(out, debug=debug)
        self._json = json_lines

    def file_finished(self, result: FileResult) -> None:
        if not self._json:
            super().file_finished(result)
            return
        self._write(
            json.dumps(
                {
                    "path": result.path,
                    "filename": result.filename,
                    "size": result.size,
                    "status": result.status.value,
                    "attempts": result.attempts,
                    "error": result.error,
                    "time": datetime.now(UTC).isoformat(timespec="seconds"),
                }
            )
        )

    def notice(self, message: str) -> None:
        if not self._json:
            super().notice(message)

    def waiting(self, file: LocalFile, seconds: float) -> None:
        if not self._json:
            super().waiting(file, seconds)

    def attempt_failed(self, file: LocalFile, attempt: int, reason: str) -> None:
        if not self._json:
            super().attempt_failed(file, attempt, reason)

    def request_retried(self, what: str, attempt: int, reason: str) -> None:
        if not self._json:
            super().request_retried(what, attempt, reason)


def run_watch_command(
    request: WatchRequest,
    *,
    json_lines: bool,
    stdout: TextIO,
    stderr: TextIO,
    redactor: Redactor,
    stop: threading.Event | None = None,
    debug: bool = False,
) -> int:
    """Run the service until SIGTERM or Ctrl-C; returns 0, or raises what ends it early."""

    def started(start: WatchStart) -> None:
        folders = ", ".join(printable(d) for d in start.dirs)
        recursive = " and below" if request.recursive else ""
        stderr.write(
            f"productiv-upload watch: watching {folders}{recursive} ({start.method}); files "
            f"are sent once unchanged for {request.min_age:g} s, to app "
            f"{printable(start.app_id)} at {printable(start.api_url)}; stop with SIGTERM or "
            "Ctrl-C\n"
        )
        stderr.flush()

    def warn(message: str) -> None:
        stderr.write(f"productiv-upload: warning: {message}\n")
        stderr.flush()

    printer = WatchPrinter(stdout, json_lines=json_lines, debug=debug)
    figures = run_watch(
        request, printer, started=started, warn=warn, on_secret=redactor.add, stop=stop
    )
    if figures is None:
        stderr.write("productiv-upload watch: stopped before it started watching\n")
    else:
        stderr.write(
            f"productiv-upload watch: stopped; since it started {figures.uploaded} uploaded, "
            f"{figures.skipped} skipped, {figures.failed} failed\n"
        )
    stderr.flush()
    return int(ExitStatus.OK)
