"""Showing a push: a rich live view on a terminal, plain lines elsewhere, or nothing at all.

Presenters receive the core's events (see `push.PushEvents`), from worker threads.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from productiv_upload.cli.output.live import MAX_ROWS, LiveDisplay, LiveView
from productiv_upload.common.text import human_duration, human_size, plural, printable
from productiv_upload.core.model import FileResult, LocalFile, RunReport, Status, never_started
from productiv_upload.core.push.batches import make_batches
from productiv_upload.core.push.run import NullRunEvents, RunEvents

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
    not_started = len(report.not_started)
    deferred = f", {counts['deferred']} deferred" if counts.get("deferred") else ""
    unsent = f", {not_started} not sent" if not_started else ""
    line = (
        f"{plural(total, 'file')}: {counts['uploaded']} uploaded, {counts['skipped']} skipped, "
        f"{counts['failed'] - not_started} failed{deferred}{unsent}; "
        f"{human_size(report.bytes_uploaded)} in {human_duration(report.elapsed_s)} "
        f"({human_size(rate)}/s)"
    )
    if report.interrupted:
        line += f"; interrupted: {report.rerun_advice}"
    return line


def interrupted_line(report: RunReport) -> str:
    """What an interrupted run says when its summary line is not shown (--json)."""
    counts = report.counts()
    return (
        f"interrupted: {counts['uploaded']} of {plural(len(report.files), 'file')} uploaded, "
        f"{len(report.not_started)} not sent; {report.rerun_advice}"
    )


def not_started_line(count: int) -> str:
    """The one line that stands for every file an interrupt kept from starting."""
    return f"{plural(count, 'file')} not sent: the run was interrupted before they started"


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


def waiting_line(file: LocalFile, seconds: float) -> str:
    return f"waiting: {printable(file.path)}: nothing has moved for {seconds:.0f} s"


def attempt_failed_line(file: LocalFile, attempt: int, reason: str) -> str:
    return retried_line(file.path, attempt, reason)


def retried_line(what: str, attempt: int, reason: str) -> str:
    return f"{printable(what)}: attempt {attempt} failed ({printable(reason)}); trying again"


class PlainPresenter:
    """One line per finished file, no colours: for cron mail, pipes and log files."""

    def __init__(
        self, out: TextIO, *, quiet: bool = False, log: bool = False, debug: bool = False
    ) -> None:
        self._out = out
        self._quiet = quiet
        self._log = log  # a --log-file: every line timestamped, and the run's start marked
        self._debug = debug  # also why each failed try failed, as a log file has it
        self._lock = threading.Lock()
        self._waiting: set[str] = set()  # files whose current silence was told of

    def start(self, files: int, total_bytes: int) -> None:
        if self._log:
            self._write(
                f"{_timestamp()} push started: {plural(files, 'file')}, "
                f"{human_size(total_bytes)} to send"
            )

    def file_started(self, file: LocalFile) -> None:
        pass

    def bytes_sent(self, file: LocalFile, count: int) -> None:
        pass

    def file_finished(self, result: FileResult) -> None:
        if never_started(result):
            return  # counted in one line at the end, however many there are
        if self._quiet and result.status is not Status.FAILED:
            return
        self._write(plain_result_line(result))

    def notice(self, message: str) -> None:
        self._write(f"{_timestamp()} {message}")

    def waiting(self, file: LocalFile, seconds: float) -> None:
        # One line for each silence, however long it lasts: the failed try, if it comes to
        # that, says how it ended.
        with self._lock:
            if not seconds:
                self._waiting.discard(file.filename)
                return
            if self._quiet or file.filename in self._waiting:
                return
            self._waiting.add(file.filename)
        self._write(f"{_timestamp()} {waiting_line(file, seconds)}")

    def attempt_failed(self, file: LocalFile, attempt: int, reason: str) -> None:
        with self._lock:
            self._waiting.discard(file.filename)
        if self._log or self._debug:
            self._write(f"{_timestamp()} {attempt_failed_line(file, attempt, reason)}")

    def request_retried(self, what: str, attempt: int, reason: str) -> None:
        if self._log or self._debug:
            self._write(f"{_timestamp()} {retried_line(what, attempt, reason)}")

    def finish(self, report: RunReport) -> None:
        failed = [r for r in report.failed if not never_started(r)]
        not_started = len(report.not_started)
        stamp = f"{_timestamp()} " if self._log else ""
        if failed and not self._quiet:
            self._write(f"{stamp}{plural(len(failed), 'file')} failed:")
            for result in failed:
                self._write(f"  {printable(result.path)}: {printable(result.error or 'failed')}")
        if not_started and not self._quiet:
            self._write(stamp + not_started_line(not_started))
        self._write(stamp + summary_line(report))

    def _write(self, line: str) -> None:
        with self._lock:
            self._out.write(line + "\n")
            self._out.flush()


class LivePresenter:
    """A live view (see `live.py`) while the run goes, then the table and the summary."""

    def __init__(
        self,
        console: Console,
        *,
        rows: int = MAX_ROWS,
        show_table: bool = True,
        debug: bool = False,
    ) -> None:
        self._console = console
        self._show_table = show_table
        self._debug = debug
        self._view = LiveView(max_rows=rows)
        self._display = LiveDisplay(console, self._view)

    def start(self, files: int, total_bytes: int) -> None:
        self._view.start(files, total_bytes)
        self._display.start()

    def file_started(self, file: LocalFile) -> None:
        self._view.file_started(file)

    def bytes_sent(self, file: LocalFile, count: int) -> None:
        self._view.bytes_sent(file, count)

    def file_finished(self, result: FileResult) -> None:
        self._view.file_finished(result)
        if result.status is Status.DEFERRED:
            self._display.print(
                Text.assemble(
                    ("deferred ", "yellow"), printable(result.path), ": ", result.error or ""
                )
            )
        if result.status is Status.FAILED and not never_started(result):
            self._display.print(
                Text.assemble(
                    ("failed ", "bold red"),
                    printable(result.path),
                    ": ",
                    printable(result.error or "failed"),
                )
            )

    def notice(self, message: str) -> None:
        self._display.print(Text(message, style="yellow"))

    def waiting(self, file: LocalFile, seconds: float) -> None:
        self._view.waiting(file, seconds)  # its row says so

    def attempt_failed(self, file: LocalFile, attempt: int, reason: str) -> None:
        self._view.waiting(file, 0.0)  # the next try starts afresh
        if self._debug:
            self._display.print(Text(attempt_failed_line(file, attempt, reason), style="dim"))

    def request_retried(self, what: str, attempt: int, reason: str) -> None:
        if self._debug:
            self._display.print(Text(retried_line(what, attempt, reason), style="dim"))

    def finish(self, report: RunReport) -> None:
        self._display.stop()
        if self._show_table:
            print_table(self._console, report)
        # One line however narrow the terminal: it wraps it, and a copy of it stays one line.
        self._console.print(summary_line(report), markup=False, highlight=False, soft_wrap=True)


def print_table(console: Console, report: RunReport) -> None:
    listed = [r for r in report.files if not never_started(r)]
    rows = sorted(listed, key=lambda r: (r.status is not Status.FAILED, r.path))
    if len(rows) > TABLE_ALL_ROWS_UP_TO:
        rows = [r for r in rows if r.status is Status.FAILED]
    hidden = len(rows) - TABLE_MAX_FAILURES if len(rows) > TABLE_MAX_FAILURES else 0
    rows = rows[: len(rows) - hidden]
    if rows:
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
    if len(listed) < len(report.files):
        console.print(
            not_started_line(len(report.files) - len(listed)), style="yellow", soft_wrap=True
        )


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

    def waiting(self, file: LocalFile, seconds: float) -> None:
        for presenter in self._presenters:
            presenter.waiting(file, seconds)

    def attempt_failed(self, file: LocalFile, attempt: int, reason: str) -> None:
        for presenter in self._presenters:
            presenter.attempt_failed(file, attempt, reason)

    def request_retried(self, what: str, attempt: int, reason: str) -> None:
        for presenter in self._presenters:
            presenter.request_retried(what, attempt, reason)

    def finish(self, report: RunReport) -> None:
        for presenter in self._presenters:
            presenter.finish(report)


def choose_presenter(
    stdout: TextIO,
    stderr: TextIO,
    *,
    json_report: bool,
    quiet: bool,
    concurrency: int,
    debug: bool = False,
) -> Presenter:
    rows = min(concurrency, MAX_ROWS)  # one per transfer in flight, as far as they fit
    if json_report:
        # stdout belongs to the report; a person watching stderr still gets the live view.
        if stderr.isatty():
            return LivePresenter(Console(file=stderr), rows=rows, show_table=False, debug=debug)
        return SilentPresenter()
    if quiet:
        return PlainPresenter(stdout, quiet=True, debug=debug)
    if stdout.isatty():
        return LivePresenter(Console(file=stdout), rows=rows, debug=debug)
    return PlainPresenter(stdout, debug=debug)


def dry_run_listing(
    out: TextIO, destination: str, report: RunReport, batch_size: int, *, quiet: bool
) -> None:
    """What --dry-run prints: the batches that would be asked for, and what would be skipped."""
    if not quiet:
        planned = [r for r in report.files if r.status is Status.PLANNED]
        files = [LocalFile(r.path, r.filename, r.size, 0) for r in planned]
        batches = make_batches(files, batch_size)
        out.write(
            f"would ask {printable(destination)} for upload URLs for app "
            f"{printable(report.app_id)}, in {plural(len(batches), 'batch', 'batches')}:\n"
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
