"""`productiv-upload push`: from the parsed options to a shown report and an exit code."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, TextIO

from productiv_upload.cli.present import (
    PlainPresenter,
    Presenter,
    TeePresenter,
    choose_presenter,
    dry_run_listing,
    plural,
)
from productiv_upload.common.errors import ExitStatus, UploadError, UsageError
from productiv_upload.common.redact import Redactor, redacting
from productiv_upload.common.text import printable
from productiv_upload.core.discover import Discovery, LocalFile, discover, read_path_list
from productiv_upload.core.journal import JOURNAL_NAME, Journal, split_already_uploaded
from productiv_upload.core.pusher import Pusher, PushOptions, PushOutcome, connect
from productiv_upload.core.report import FileResult, RunReport, Status
from productiv_upload.core.settings import Credentials, ServiceSettings, resolve_service
from productiv_upload.core.spool import prepare_move_target, settle
from productiv_upload.core.state import AppLock, resolve_state_dir

OLD_FILES_NAMED = 3  # how many too-old files the warning names


@dataclass(frozen=True)
class PushRequest:
    paths: list[str]
    recursive: bool = False
    files_from: str | None = None
    null: bool = False
    excludes: list[str] = field(default_factory=list)
    allow_empty: bool = False
    app_id: str | None = None
    api_url: str | None = None
    token_file: Path | None = None
    token_url: str | None = None
    profile: str | None = None
    storage_hosts: list[str] = field(default_factory=list)
    upload_type: str | None = None
    sandbox: bool = False
    concurrency: int = 8
    batch_size: int = 100
    retries: int = 5
    timeout: float = 60.0
    force: bool = False
    state_dir: Path | None = None
    wait_lock: float = 0.0
    limit_rate: float | None = None  # bytes per second
    move_to: Path | None = None
    delete_after: bool = False
    dry_run: bool = False
    json_report: bool = False
    report_path: Path | None = None
    log_file: Path | None = None
    quiet: bool = False
    max_age_hours: float = 12.0
    debug: bool = False


def run_push(
    request: PushRequest,
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
        return _run_push(request, environ, stdin, stdout, stderr, redactor)
    except UploadError as error:
        # A run that ends before or outside the upload still leaves its reason in the log.
        _log_error(request.log_file, str(error), redactor)
        raise
    except KeyboardInterrupt:
        _log_error(request.log_file, "interrupted", redactor)
        raise


def _run_push(
    request: PushRequest,
    environ: Mapping[str, str] | None,
    stdin: BinaryIO | None,
    stdout: TextIO | None,
    stderr: TextIO | None,
    redactor: Redactor,
) -> int:
    environ = os.environ if environ is None else environ
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    started = time.monotonic()

    if request.report_path is not None and request.report_path.is_file():
        # A report describes this run or does not exist: never a stale one after an early exit.
        request.report_path.unlink()
    found = _find_files(request, stdin or sys.stdin.buffer)
    for warning in found.warnings:
        _warn(request, stderr, redactor, warning)
    if request.move_to is not None and not request.dry_run:
        prepare_move_target(request.move_to)
    _check_writable(request.report_path, "--report")

    with contextlib.ExitStack() as stack:
        service, state_dir, landing = _service(request, stack, environ, bool(found.files))
        api_key = service.api_url.rstrip("/")
        journal_path = state_dir / JOURNAL_NAME
        if request.dry_run:
            journal = None if request.force else Journal.open_existing(journal_path)
            if journal is not None:
                stack.enter_context(journal)
            to_send, skipped = _split(found.files, journal, api_key, service.app_id)
            report = RunReport(service.app_id, True, _planned(found, skipped))
            if not request.json_report:
                dry_run_listing(stdout, service.api_url, report, request.batch_size,
                                quiet=request.quiet)  # fmt: skip
            _write_reports(request, report, stdout, redactor)
            _warn_old_files(request, to_send, stderr, redactor)
            return int(ExitStatus.FILES_FAILED if found.refused else ExitStatus.OK)

        journal = None
        to_send, skipped = [], []
        if found.files:
            # The lock comes first: two runs must not both decide that a file is still to send.
            stack.enter_context(AppLock(state_dir, api_key, service.app_id,
                                        wait_s=request.wait_lock))  # fmt: skip
            journal = stack.enter_context(Journal(journal_path))
            to_send, skipped = _split(found.files, None if request.force else journal, api_key,
                                      service.app_id)  # fmt: skip
        presenter = _presenter(request, stack, stdout, stderr, redactor)
        presenter.start(len(found.files) + len(found.refused), sum(f.size for f in to_send))
        results = {f.filename: _skipped(f) for f in skipped}
        for result in [*results.values(), *found.refused]:
            presenter.file_finished(result)
        outcome = None
        if to_send:
            outcome = _upload(request, service, journal, presenter, to_send, redactor)
            results.update((r.filename, r) for r in outcome.results)
        report = RunReport(
            app_id=service.app_id,
            dry_run=False,
            files=[results[f.filename] for f in found.files] + found.refused,
            elapsed_s=time.monotonic() - started,
        )
        presenter.finish(report)
        _settle_spool(request, report, found, presenter, stderr, redactor)
        _warn_old_files(request, [f for f in to_send if results[f.filename].status
                                  is Status.UPLOADED], stderr, redactor)  # fmt: skip
        _write_reports(request, report, stdout, redactor)
        if landing is not None and not request.json_report and not request.quiet:
            stdout.write(f"sandbox: uploaded files are in {landing / service.app_id}\n")

    if outcome is not None and outcome.fatal is not None:
        if request.debug:
            traceback.print_exception(outcome.fatal, file=stderr)
        stderr.write(f"productiv-upload: error: {outcome.fatal}\n")
        _log_error(request.log_file, str(outcome.fatal), redactor)
        return int(outcome.fatal.exit_status)
    if outcome is not None and outcome.interrupted:
        return int(ExitStatus.INTERRUPTED)
    return int(ExitStatus.FILES_FAILED if report.failed else ExitStatus.OK)


def _find_files(request: PushRequest, stdin: BinaryIO) -> Discovery:
    literal: list[str] = []
    if request.files_from == "-":
        literal = read_path_list(stdin, null=request.null)
    elif request.files_from is not None:
        try:
            with open(request.files_from, "rb") as listing:
                literal = read_path_list(listing, null=request.null)
        except OSError as error:
            raise UsageError(f"cannot read --files-from {printable(request.files_from)}: "
                             f"{error.strerror}") from None  # fmt: skip
    elif not request.paths:
        raise UsageError("no files given: name files, directories or patterns, or --files-from")
    return discover(request.paths, recursive=request.recursive, allow_empty=request.allow_empty,
                    literal_paths=literal, excludes=request.excludes)  # fmt: skip


def _service(
    request: PushRequest, stack: contextlib.ExitStack, environ: Mapping[str, str], sends: bool
) -> tuple[ServiceSettings, Path, Path | None]:
    """The service to talk to, the state directory, and where a sandbox stores files."""
    if request.sandbox:
        from productiv_upload.sandbox import SANDBOX_APP_ID, SANDBOX_TOKEN, Sandbox

        landing = Path(tempfile.mkdtemp(prefix="productiv-sandbox-"))
        sandbox = stack.enter_context(Sandbox(landing))
        service = ServiceSettings(
            api_url=sandbox.api_url,
            app_id=request.app_id or SANDBOX_APP_ID,
            token_url=sandbox.token_url,
            credentials=Credentials(access_token=SANDBOX_TOKEN, source="--sandbox"),
            sources={
                "api_url": "--sandbox",
                "app_id": "--app-id" if request.app_id else "--sandbox",
            },
        )
        # Rehearsals keep their journal beside the sandbox's files, not in the real one.
        return service, request.state_dir or landing / "state", landing
    service = resolve_service(
        app_id=request.app_id, api_url=request.api_url, token_url=request.token_url,
        token_file=request.token_file, environ=environ, profile=request.profile,
        need_credentials=sends and not request.dry_run, storage_hosts=request.storage_hosts,
    )  # fmt: skip
    return service, resolve_state_dir(request.state_dir, environ), None


def _upload(
    request: PushRequest,
    service: ServiceSettings,
    journal: Journal | None,
    presenter: Presenter,
    files: list[LocalFile],
    redactor: Redactor,
) -> PushOutcome:
    options = PushOptions(
        concurrency=request.concurrency,
        batch_size=request.batch_size,
        retries=request.retries,
        limit_rate=request.limit_rate,
        storage_hosts=service.storage_hosts,
    )
    timeout = (min(request.timeout, 10.0), request.timeout)
    api, storage = connect(service, options, upload_type=request.upload_type, timeout=timeout,
                           on_secret=redactor.add)  # fmt: skip
    return Pusher(api, storage, options, presenter, journal).run(files)


def _presenter(
    request: PushRequest, stack: contextlib.ExitStack, stdout: TextIO, stderr: TextIO,
    redactor: Redactor,
) -> Presenter:  # fmt: skip
    presenter = choose_presenter(stdout, stderr, json_report=request.json_report,
                                 quiet=request.quiet, concurrency=request.concurrency)  # fmt: skip
    if request.log_file is None:
        return presenter
    try:
        log = _open_log(request.log_file)
    except OSError as error:
        raise UsageError(f"cannot open --log-file {printable(str(request.log_file))}: "
                         f"{error.strerror}") from None  # fmt: skip
    stack.enter_context(log)  # closed with the run
    return TeePresenter([presenter, PlainPresenter(redacting(log, redactor), log=True)])


def _split(
    files: list[LocalFile], journal: Journal | None, api_url: str, app_id: str
) -> tuple[list[LocalFile], list[LocalFile]]:
    if journal is None:
        return list(files), []
    return split_already_uploaded(files, journal, api_url, app_id)


def _skipped(file: LocalFile) -> FileResult:
    return FileResult(file.path, file.filename, file.size, Status.SKIPPED)


def _planned(found: Discovery, skipped: list[LocalFile]) -> list[FileResult]:
    already = {f.filename for f in skipped}
    return [
        _skipped(f) if f.filename in already
        else FileResult(f.path, f.filename, f.size, Status.PLANNED)
        for f in found.files
    ] + found.refused  # fmt: skip


def _settle_spool(
    request: PushRequest, report: RunReport, found: Discovery, presenter: Presenter,
    stderr: TextIO, redactor: Redactor,
) -> None:  # fmt: skip
    if request.move_to is None and not request.delete_after:
        return
    files = {f.filename: f for f in found.files}
    settled = settle(report.files, files, move_to=request.move_to, delete=request.delete_after)
    for reason in settled.kept:
        _warn(request, stderr, redactor, f"not moved or deleted: {reason}")
    verb = f"moved to {request.move_to}" if request.move_to else "deleted"
    if settled.done and not request.json_report and not request.quiet:
        presenter.notice(f"{plural(settled.done, 'uploaded file')} {verb}")


def _warn_old_files(
    request: PushRequest, files: list[LocalFile], stderr: TextIO, redactor: Redactor
) -> None:
    """Productiv only guarantees aggregating events pushed within 12 hours of happening."""
    cutoff = time.time() - request.max_age_hours * 3600
    old = sorted((f for f in files if f.mtime_ns / 1e9 < cutoff), key=lambda f: f.mtime_ns)
    if not old:
        return
    named = ", ".join(printable(f.path) for f in old[:OLD_FILES_NAMED])
    more = f" and {len(old) - OLD_FILES_NAMED} more" if len(old) > OLD_FILES_NAMED else ""
    _warn(
        request,
        stderr,
        redactor,
        f"{plural(len(old), 'file')} last modified more than {request.max_age_hours:g} h ago "
        f"({named}{more}): Productiv only guarantees aggregating events pushed within 12 "
        "hours of when they happened",
    )


def _write_reports(
    request: PushRequest, report: RunReport, stdout: TextIO, redactor: Redactor
) -> None:
    document = redactor(json.dumps(report.to_json()))
    if request.json_report:
        stdout.write(document + "\n")
    if request.report_path is not None:
        target = request.report_path
        partial = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            partial.write_text(document + "\n", encoding="utf-8")
            partial.replace(target)  # readers never see half a report
        except OSError as error:
            # Checked before anything was sent; if it fails now, the uploads still stand.
            sys.stderr.write(f"productiv-upload: warning: cannot write --report "
                             f"{printable(str(target))}: {error.strerror}\n")  # fmt: skip


def _warn(request: PushRequest, stderr: TextIO, redactor: Redactor, message: str) -> None:
    stderr.write(f"productiv-upload: warning: {message}\n")
    _log_line(request.log_file, f"warning: {message}", redactor)


def _log_error(log_file: Path | None, message: str, redactor: Redactor) -> None:
    _log_line(log_file, f"error: {message}", redactor)


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


def _check_writable(path: Path | None, option: str) -> None:
    if path is None:
        return
    folder = path.parent
    if path.is_dir() or not folder.is_dir() or not os.access(folder, os.W_OK):
        raise UsageError(f"{option} {printable(str(path))}: cannot write a file there")
