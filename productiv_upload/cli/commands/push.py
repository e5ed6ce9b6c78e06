"""`productiv-upload push` on the command line: the core's run, shown, logged and reported.

Everything a push does lives in `execute_push` (core/push/run.py); this module only chooses the
presenter, writes `--report` and `--log-file`, prints `--json`, and starts a sandbox for
`--sandbox`.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, TextIO

from productiv_upload.cli.output.present import (
    PlainPresenter,
    Presenter,
    TeePresenter,
    choose_presenter,
    dry_run_listing,
    interrupted_line,
)
from productiv_upload.cli.output.streams import (
    FallibleOutput,
    describe,
    fallible,
    silence_stdout,
)
from productiv_upload.common.errors import ExitStatus, UploadError, UsageError
from productiv_upload.common.files import check_writable, write_whole
from productiv_upload.common.redact import Redactor, redacting
from productiv_upload.common.text import printable
from productiv_upload.core.model import RunReport
from productiv_upload.core.push.events import Stop
from productiv_upload.core.push.run import execute_push
from productiv_upload.core.settings.push import PushRequest


@dataclass(frozen=True)
class PushOutput:
    """The options that concern what the command shows and writes, not what it sends."""

    sandbox: bool = False
    keep_sandbox: bool = False  # keep the sandbox's folder (removed at the end otherwise)
    json_report: bool = False
    report: Path | None = None
    log_file: Path | None = None
    quiet: bool = False
    debug: bool = False


def run_push(
    request: PushRequest,
    output: PushOutput,
    *,
    environ: Mapping[str, str] | None = None,
    stdin: BinaryIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    redactor: Redactor | None = None,
) -> int:
    """Everything `push` does after option parsing; returns the exit code."""
    redactor = redactor or Redactor()
    try:
        return _run_push(
            request, output, environ, stdin, stdout or sys.stdout, stderr or sys.stderr, redactor
        )
    except UploadError as error:
        # A run that ends before or outside the upload still leaves its reason in the log.
        _log_line(output.log_file, f"error: {error}", redactor)
        raise
    except KeyboardInterrupt:
        _log_line(output.log_file, "error: interrupted", redactor)
        raise


def _run_push(
    request: PushRequest,
    output: PushOutput,
    environ: Mapping[str, str] | None,
    stdin: BinaryIO | None,
    stdout: TextIO,
    stderr: TextIO,
    redactor: Redactor,
) -> int:
    if output.report is not None:
        if output.report.is_file():
            # A report describes this run or does not exist: never a stale one after an early
            # exit.
            output.report.unlink()
        check_writable(output.report, "--report")
    if output.log_file is not None and not request.dry_run:
        check_writable(output.log_file, "--log-file")
    stop = Stop()

    def stdout_closed(error: OSError) -> None:
        if _is_fd(stdout, 1):
            silence_stdout()
        stop.set(f"stdout was closed early ({describe(error)})")

    stdout, stdout_guard = fallible(stdout, "stdout", stdout_closed)
    guards = [stdout_guard]

    def warn(message: str) -> None:
        stderr.write(f"productiv-upload: warning: {message}\n")
        _log_line(output.log_file, f"warning: {message}", redactor)

    # Notes beside the report and the summary: stderr when stdout holds only those.
    notes = stderr if output.json_report or output.quiet else stdout
    with contextlib.ExitStack() as stack:
        presenter = _presenter(request, output, stack, stdout, stderr, redactor, guards)
        sandbox = None
        if output.sandbox:
            from productiv_upload.cli.commands.sandbox import (
                start_sandbox,  # its server only when asked
            )

            sandbox = start_sandbox(request, output.keep_sandbox, stack)
        if request.files_from == "-" and _is_terminal(stdin or sys.stdin):
            # Without this, a terminal just waits and looks hung.
            stderr.write(
                "productiv-upload: reading file names from standard input, one per "
                "line; end with Ctrl-D\n"
            )
            stderr.flush()

        def inform(message: str) -> None:
            if not output.json_report and not output.quiet:
                presenter.notice(message)

        run = execute_push(
            request,
            presenter,
            warn=warn,
            inform=inform,
            on_secret=redactor.add,
            environ=environ,
            stdin=stdin,
            session=sandbox.session if sandbox else None,
            stop=stop,
        )
        report = run.report
        if report.dry_run and not output.json_report:
            destination = "a sandbox" if sandbox else run.service.api_url
            dry_run_listing(
                stdout, destination, report, request.transfer.batch_size, quiet=output.quiet
            )
        problems = [*run.problems, *_write_reports(output, report, stdout, redactor)]
        if sandbox is not None:
            note = sandbox.note(report)
            if note:
                notes.write(f"{note}\n")
        if run.interrupted and output.json_report:
            # The summary line that says so is not printed with --json.
            stderr.write(f"productiv-upload: {interrupted_line(report)}\n")
        stdout.flush()

    if run.fatal is not None:
        if output.debug:
            traceback.print_exception(run.fatal, file=stderr)
        stderr.write(f"productiv-upload: error: {run.fatal}\n")
        _log_line(output.log_file, f"error: {run.fatal}", redactor)
    if run.stopped is not None:
        guards.remove(stdout_guard)  # said here, with what it did to the run
        not_sent = sum(1 for r in report.failed if (r.error or "").startswith("not sent"))
        problems.append(
            f"{run.stopped}: {report.counts()['uploaded']} uploaded, {not_sent} not sent; "
            f"{report.rerun_advice}"
        )
    problems += [p for p in (guard.problem() for guard in guards) if p is not None]
    for problem in problems:
        stderr.write(f"productiv-upload: error: {problem}\n")
        _log_line(output.log_file, f"error: {problem}", redactor)
    if problems and run.exit_code == ExitStatus.OK:
        return int(ExitStatus.FILES_FAILED)
    return run.exit_code


def _presenter(
    request: PushRequest,
    output: PushOutput,
    stack: contextlib.ExitStack,
    stdout: TextIO,
    stderr: TextIO,
    redactor: Redactor,
    guards: list[FallibleOutput],
) -> Presenter:
    """The presenter for the terminal or pipe, and for --log-file, whose guard joins `guards`."""
    presenter = choose_presenter(
        stdout,
        stderr,
        json_report=output.json_report,
        quiet=output.quiet,
        concurrency=request.transfer.concurrency,
        debug=output.debug,
    )
    if output.log_file is None or request.dry_run:
        return presenter
    try:
        log = _open_log(output.log_file)
    except OSError as error:
        raise UsageError(
            f"cannot open --log-file {printable(str(output.log_file))}: {error.strerror}"
        ) from None
    name = f"--log-file {printable(str(output.log_file))}"
    guarded, guard = fallible(redacting(log, redactor), name)
    guards.append(guard)

    def close_log() -> None:
        try:
            log.close()
        except OSError as error:
            # The last flush failed: said like any failed write.
            guard.error = guard.error or error

    stack.callback(close_log)
    return TeePresenter([presenter, PlainPresenter(guarded, log=True)])


def _write_reports(
    output: PushOutput, report: RunReport, stdout: TextIO, redactor: Redactor
) -> list[str]:
    """stdout's report (--json) and --report's; what could not be written, if anything."""
    if not output.json_report and output.report is None:
        return []
    document = redactor(json.dumps(report.to_json()))
    if output.json_report:
        stdout.write(document + "\n")
    if output.report is None:
        return []
    try:
        write_whole(output.report, (document + "\n").encode("utf-8"))
    except OSError as error:
        # Checked before anything was sent; if it fails now, the uploads still stand.
        return [f"cannot write --report {printable(str(output.report))}: {describe(error)}"]
    return []


def _open_log(path: Path) -> TextIO:
    """--log-file, opened for appending and created readable by its owner alone."""
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    return open(descriptor, "a", encoding="utf-8", errors="backslashreplace")


def _log_line(log_file: Path | None, line: str, redactor: Redactor) -> None:
    """Append one timestamped line to --log-file, whether or not the run got to open it."""
    if log_file is None:
        return
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    try:
        with _open_log(log_file) as log:
            log.write(redactor(f"{stamp} {line}\n"))
    except OSError:
        pass  # the message itself still reaches stderr; a log we cannot write cannot say more


def _is_fd(stream: TextIO, number: int) -> bool:
    try:
        return stream.fileno() == number
    except (OSError, ValueError):
        return False  # an in-memory stream (tests, a caller's buffer)


def _is_terminal(stream: object) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())
