"""Showing a push: a rich live view on a terminal, plain lines elsewhere, or nothing at all.

Presenters receive the core's events (see `push.PushEvents`), from worker threads.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table
from rich.text import Text

from productiv_upload.common.text import human_size, plural, printable
from productiv_upload.core.discover import LocalFile
from productiv_upload.core.pusher import make_batches
from productiv_upload.core.report import FileResult, RunReport, Status
from productiv_upload.core.run import NullRunEvents, RunEvents

TABLE_ALL_ROWS_UP_TO = 30  # past this many files, the final table lists failures only
TABLE_MAX_FAILURES = 50  # past this many, the rest are counted (the JSON report lists them all)
_STATUS_STYLE = {
    Status.UPLOADED: "green",
    Status.SKIPPED: "dim",
    Status.FAILED: "bold red",
    Status.PLANNED: "cyan",
    Status.DEFERRED: "yellow",
}


def summary_line(report: RunReport) -> str:
    counts = report.counts()
    total = len(report.files)
    if report.dry_run:
        return (
            f"dry run: {counts.get('planned', 0)} of {plural(total, 'file')} would be sent to "
            f"app {printable(report.app_id)}; nothing was contacted"
        )
    rate = report.bytes_uploaded / report.elapsed_s if report.elapsed_s > 0 else 0.0
    deferred = f", {counts['deferred']} deferred" if counts.get("deferred") else ""
    return (
        f"{plural(total, 'file')}: {counts['uploaded']} uploaded, {counts['skipped']} skipped, "
        f"{counts['failed']} failed{deferred}; {human_size(report.bytes_uploaded)} in "
        f"{report.elapsed_s:.1f} s ({human_size(rate)}/s)"
    )


def _timestamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def plain_result_line(result: FileResult) -> str:
    path = printable(result.path)
    if result.status is Status.FAILED:
        tries = f" after {result.attempts} attempt(s)" if result.attempts > 1 else ""
        return f"{_timestamp()} failed {path}: {printable(result.error or 'failed')}{tries}"
    if result.status is Status.DEFERRED:
        return f"{_timestamp()} deferred {path}: {printable(result.error or '')}"
    extra = f", {result.attempts} attempts" if result.attempts > 1 else ""
    return f"{_timestamp()} {result.status.value} {path} ({human_size(result.size)}{extra})"


class PlainPresenter:
    """One line per finished file, no colours: for cron mail, pipes and log files."""

    def __init__(self, out: TextIO, *, quiet: bool = False, log: bool = False) -> None:
        self._out = out
        self._quiet = quiet
        self._log = log  # a --log-file: every line timestamped, and the run's start marked
        self._lock = threading.Lock()

    def start(self, files: int, total_bytes: int) -> None:
        if self._log:
            self._write(f"{_timestamp()} push started: {plural(files, 'file')}, "
                        f"{human_size(total_bytes)} to send")  # fmt: skip

    def file_started(self, file: LocalFile) -> None:
        pass

    def bytes_sent(self, file: LocalFile, count: int) -> None:
        pass

    def file_finished(self, result: FileResult) -> None:
        if self._quiet and result.status is not Status.FAILED:
            return
        self._write(plain_result_line(result))

    def notice(self, message: str) -> None:
        self._write(f"{_timestamp()} {message}")

    def finish(self, report: RunReport) -> None:
        failed = report.failed
        stamp = f"{_timestamp()} " if self._log else ""
        if failed and not self._quiet:
            self._write(f"{stamp}{plural(len(failed), 'file')} failed:")
            for result in failed:
                self._write(f"  {printable(result.path)}: {printable(result.error or 'failed')}")
        self._write(stamp + summary_line(report))

    def _write(self, line: str) -> None:
        with self._lock:
            self._out.write(line + "\n")
            self._out.flush()


class _Progress(Progress):
    def refresh(self) -> None:
        # rich redraws synchronously on every add, reset and update call that asks for it;
        # with thousands of small files that costs more than the uploads. The live display's
        # own thread still redraws 8 times a second, and once more when it stops.
        pass


class LivePresenter:
    """A live view: one overall bar, and a fixed few rows for the transfers in flight.

    The number of rows never grows with the number of files, so drawing costs the same for 10
    files or 100,000.
    """

    def __init__(self, console: Console, *, rows: int = 4, show_table: bool = True) -> None:
        self._console = console
        self._show_table = show_table
        self._lock = threading.Lock()
        self._progress = _Progress(
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=console,
            refresh_per_second=8,
            transient=True,  # the table and summary replace the bars when the run ends
        )
        self._overall = self._progress.add_task("starting", total=0, start=True)
        self._free_rows = [self._progress.add_task("", total=1, visible=False) for _ in range(rows)]
        self._row_of: dict[str, TaskID] = {}
        self._active: set[str] = set()
        self._files = self._done = 0

    def start(self, files: int, total_bytes: int) -> None:
        self._files = files
        self._progress.update(self._overall, total=total_bytes)
        self._describe()
        self._progress.start()

    def file_started(self, file: LocalFile) -> None:
        with self._lock:
            self._active.add(file.filename)
            if self._free_rows and file.filename not in self._row_of:
                row = self._free_rows.pop()
                self._row_of[file.filename] = row
                self._progress.reset(
                    row,
                    total=max(file.size, 1),
                    visible=True,
                    description=f"  {printable(file.filename, 40)}",
                )
            self._describe()

    def bytes_sent(self, file: LocalFile, count: int) -> None:
        self._progress.advance(self._overall, count)
        row = self._row_of.get(file.filename)
        if row is not None:
            self._progress.advance(row, count)

    def file_finished(self, result: FileResult) -> None:
        with self._lock:
            self._done += 1
            self._active.discard(result.filename)
            row = self._row_of.pop(result.filename, None)
            if row is not None:
                self._progress.update(row, visible=False)
                self._free_rows.append(row)
            self._describe()
        if result.status is Status.DEFERRED:
            self._progress.console.print(
                Text.assemble(
                    ("deferred ", "yellow"), printable(result.path), ": ", result.error or ""
                )
            )
        if result.status is Status.FAILED:
            self._progress.console.print(
                Text.assemble(
                    ("failed ", "bold red"),
                    printable(result.path),
                    ": ",
                    printable(result.error or "failed"),
                )
            )

    def notice(self, message: str) -> None:
        self._progress.console.print(Text(message, style="yellow"))

    def finish(self, report: RunReport) -> None:
        self._progress.stop()
        if self._show_table:
            print_table(self._console, report)
        self._console.print(summary_line(report), markup=False, highlight=False)

    def _describe(self) -> None:
        self._progress.update(
            self._overall,
            description=f"{self._done}/{self._files} files · {len(self._active)} in flight",
        )


def print_table(console: Console, report: RunReport) -> None:
    rows = sorted(report.files, key=lambda r: (r.status is not Status.FAILED, r.path))
    if len(rows) > TABLE_ALL_ROWS_UP_TO:
        rows = [r for r in rows if r.status is Status.FAILED]
    if not rows:
        return
    hidden = len(rows) - TABLE_MAX_FAILURES if len(rows) > TABLE_MAX_FAILURES else 0
    rows = rows[: len(rows) - hidden]
    table = Table(show_edge=False, header_style="bold")
    table.add_column("File", overflow="fold")
    table.add_column("Size", justify="right")
    table.add_column("Status")
    table.add_column("Attempts", justify="right")
    table.add_column("Reason", overflow="fold")
    for result in rows:
        table.add_row(
            Text(printable(result.path)),
            human_size(result.size),
            Text(result.status.value, style=_STATUS_STYLE[result.status]),
            str(result.attempts),
            Text(printable(result.error or "")),
        )
    console.print(table)
    if hidden:
        console.print(f"… and {plural(hidden, 'more failed file')} (--json lists every file)")


class SilentPresenter(NullRunEvents):
    """Shows nothing: `--json` off a terminal keeps stdout for the report and stderr quiet."""


# Whatever shows a run is told what the core tells: its start, each file, its end.
Presenter = RunEvents


class TeePresenter:
    """Shows the same run to several presenters (the screen and a --log-file)."""

    def __init__(self, presenters: Sequence[Presenter]) -> None:
        self._presenters = presenters

    def start(self, files: int, total_bytes: int) -> None:
        for presenter in self._presenters:
            presenter.start(files, total_bytes)

    def file_started(self, file: LocalFile) -> None:
        for presenter in self._presenters:
            presenter.file_started(file)

    def bytes_sent(self, file: LocalFile, count: int) -> None:
        for presenter in self._presenters:
            presenter.bytes_sent(file, count)

    def file_finished(self, result: FileResult) -> None:
        for presenter in self._presenters:
            presenter.file_finished(result)

    def notice(self, message: str) -> None:
        for presenter in self._presenters:
            presenter.notice(message)

    def finish(self, report: RunReport) -> None:
        for presenter in self._presenters:
            presenter.finish(report)


def choose_presenter(
    stdout: TextIO, stderr: TextIO, *, json_report: bool, quiet: bool, concurrency: int
) -> Presenter:
    rows = min(concurrency, 4)
    if json_report:
        # stdout belongs to the report; a person watching stderr still gets the live view.
        if stderr.isatty():
            return LivePresenter(Console(file=stderr), rows=rows, show_table=False)
        return SilentPresenter()
    if quiet:
        return PlainPresenter(stdout, quiet=True)
    if stdout.isatty():
        return LivePresenter(Console(file=stdout), rows=rows)
    return PlainPresenter(stdout)


def dry_run_listing(
    out: TextIO, api_url: str, report: RunReport, batch_size: int, *, quiet: bool
) -> None:
    """What --dry-run prints: the batches that would be asked for, and what would be skipped."""
    if not quiet:
        planned = [r for r in report.files if r.status is Status.PLANNED]
        files = [LocalFile(r.path, r.filename, r.size, 0) for r in planned]
        batches = make_batches(files, batch_size)
        out.write(
            f"would ask {printable(api_url)} for upload URLs for app {printable(report.app_id)}, "
            f"in {plural(len(batches), 'batch', 'batches')}:\n"
        )
        for number, batch in enumerate(batches, 1):
            out.write(f"batch {number}/{len(batches)}: {plural(len(batch), 'file')}\n")
            for file in batch:
                out.write(f"  {printable(file.path)} ({human_size(file.size)})\n")
        for result in report.files:
            if result.status is Status.SKIPPED:
                out.write(f"already uploaded, would skip: {printable(result.path)}\n")
            elif result.status is Status.FAILED:
                out.write(f"not sent: {printable(result.path)}: {result.error}\n")
            elif result.status is Status.DEFERRED:
                out.write(f"deferred: {printable(result.path)}: {result.error}\n")
    out.write(summary_line(report) + "\n")
