"""`productiv-upload push`: from the parsed options to a shown report and an exit code."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import time
import traceback
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TextIO

from rich.console import Console

from productiv_upload.discover import LocalFile, discover
from productiv_upload.errors import ExitStatus
from productiv_upload.journal import JOURNAL_NAME, Journal, split_already_uploaded
from productiv_upload.present import (
    LivePresenter,
    PlainPresenter,
    SilentPresenter,
    plural,
    summary_line,
)
from productiv_upload.push import Pusher, PushEvents, PushOptions, connect, make_batches
from productiv_upload.report import FileResult, RunReport, Status
from productiv_upload.settings import Credentials, ServiceSettings, resolve_service
from productiv_upload.state import AppLock, resolve_state_dir
from productiv_upload.text import human_size, printable
from productiv_upload.urls import is_loopback_host


@dataclass(frozen=True)
class PushRequest:
    paths: list[str]
    recursive: bool = False
    allow_empty: bool = False
    app_id: str | None = None
    api_url: str | None = None
    token_file: Path | None = None
    token_url: str | None = None
    upload_type: str | None = None
    sandbox: bool = False
    concurrency: int = 8
    batch_size: int = 100
    retries: int = 5
    timeout: float = 60.0
    dry_run: bool = False
    json_report: bool = False
    quiet: bool = False
    force: bool = False
    debug: bool = False
    state_dir: Path | None = None
    wait_lock: float = 0.0


class Presenter(PushEvents, Protocol):
    def start(self, files: int, total_bytes: int) -> None: ...

    def finish(self, report: RunReport) -> None: ...


def run_push(
    request: PushRequest,
    *,
    environ: Mapping[str, str] | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Everything `push` does after option parsing; returns the exit code."""
    environ = os.environ if environ is None else environ
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    started = time.monotonic()

    found = discover(request.paths, recursive=request.recursive, allow_empty=request.allow_empty)
    for warning in found.warnings:
        stderr.write(f"productiv-upload: warning: {warning}\n")

    with contextlib.ExitStack() as stack:
        if request.sandbox:
            service, landing = _start_sandbox(stack, request.app_id)
            # Rehearsals keep their journal beside the sandbox's files, not in the real one.
            state_dir = request.state_dir or landing / "state"
        else:
            landing = None
            service = resolve_service(
                app_id=request.app_id,
                api_url=request.api_url,
                token_url=request.token_url,
                token_file=request.token_file,
                environ=environ,
                need_credentials=not request.dry_run and bool(found.files),
            )
            state_dir = resolve_state_dir(request.state_dir, environ)
        api_key = service.api_url.rstrip("/")
        journal_path = state_dir / JOURNAL_NAME

        if request.dry_run:
            journal = None if request.force else Journal.open_existing(journal_path)
            if journal is not None:
                stack.enter_context(journal)
            to_send, skipped = _split(found.files, journal, api_key, service.app_id)
            return _dry_run(request, service, found.files, skipped, found.refused, stdout)

        outcome = None
        to_send, skipped = [], []
        if found.files:
            # The lock comes first: two runs must not both decide that a file is still to send.
            stack.enter_context(
                AppLock(state_dir, api_key, service.app_id, wait_s=request.wait_lock)
            )
            journal = stack.enter_context(Journal(journal_path))
            to_send, skipped = _split(
                found.files, None if request.force else journal, api_key, service.app_id
            )
        presenter = _presenter(request, stdout, stderr)
        presenter.start(len(found.files) + len(found.refused), sum(f.size for f in to_send))
        results = {f.filename: _skipped(f) for f in skipped}
        for result in [*results.values(), *found.refused]:
            presenter.file_finished(result)
        if found.files and to_send:
            api_host = urllib.parse.urlsplit(service.api_url).hostname
            options = PushOptions(
                concurrency=request.concurrency,
                batch_size=request.batch_size,
                retries=request.retries,
                allow_http_storage=is_loopback_host(api_host),
            )
            api, storage = connect(
                service,
                options,
                upload_type=request.upload_type,
                timeout=(min(request.timeout, 10.0), request.timeout),
            )
            outcome = Pusher(api, storage, options, presenter, journal).run(to_send)
            results.update((r.filename, r) for r in outcome.results)
        report = RunReport(
            app_id=service.app_id,
            dry_run=False,
            files=[results[f.filename] for f in found.files] + found.refused,
            elapsed_s=time.monotonic() - started,
        )
        presenter.finish(report)
        if request.json_report:
            stdout.write(json.dumps(report.to_json()) + "\n")
        if landing is not None and not request.json_report and not request.quiet:
            stdout.write(f"sandbox: uploaded files are in {landing / service.app_id}\n")

    if outcome is not None and outcome.fatal is not None:
        if request.debug:
            traceback.print_exception(outcome.fatal, file=stderr)
        stderr.write(f"productiv-upload: error: {outcome.fatal}\n")
        return int(outcome.fatal.exit_status)
    if outcome is not None and outcome.interrupted:
        return int(ExitStatus.INTERRUPTED)
    return int(ExitStatus.FILES_FAILED if report.failed else ExitStatus.OK)


def _split(
    files: list[LocalFile], journal: Journal | None, api_url: str, app_id: str
) -> tuple[list[LocalFile], list[LocalFile]]:
    if journal is None:
        return list(files), []
    return split_already_uploaded(files, journal, api_url, app_id)


def _skipped(file: LocalFile) -> FileResult:
    return FileResult(file.path, file.filename, file.size, Status.SKIPPED)


def _start_sandbox(stack: contextlib.ExitStack, app_id: str | None) -> tuple[ServiceSettings, Path]:
    from productiv_upload.sandbox import SANDBOX_APP_ID, SANDBOX_TOKEN, Sandbox

    landing = Path(tempfile.mkdtemp(prefix="productiv-sandbox-"))
    sandbox = stack.enter_context(Sandbox(landing))
    service = ServiceSettings(
        api_url=sandbox.api_url,
        app_id=app_id or SANDBOX_APP_ID,
        token_url=sandbox.token_url,
        credentials=Credentials(access_token=SANDBOX_TOKEN, source="--sandbox"),
        sources={"api_url": "--sandbox", "app_id": "command line" if app_id else "--sandbox"},
    )
    return service, landing


def _presenter(request: PushRequest, stdout: TextIO, stderr: TextIO) -> Presenter:
    rows = min(request.concurrency, 4)
    if request.json_report:
        # stdout belongs to the report; a person watching stderr still gets the live view.
        if stderr.isatty():
            return LivePresenter(Console(file=stderr), rows=rows, show_table=False)
        return SilentPresenter()
    if request.quiet:
        return PlainPresenter(stdout, quiet=True)
    if stdout.isatty():
        return LivePresenter(Console(file=stdout), rows=rows)
    return PlainPresenter(stdout)


def _dry_run(
    request: PushRequest,
    service: ServiceSettings,
    files: list[LocalFile],
    skipped: list[LocalFile],
    refused: list[FileResult],
    stdout: TextIO,
) -> int:
    already = {f.filename for f in skipped}
    batches = make_batches([f for f in files if f.filename not in already], request.batch_size)
    report = RunReport(
        app_id=service.app_id,
        dry_run=True,
        files=[_skipped(f) if f.filename in already else _planned(f) for f in files] + refused,
    )
    if request.json_report:
        stdout.write(json.dumps(report.to_json()) + "\n")
    else:
        if not request.quiet:
            stdout.write(
                f"would ask {printable(service.api_url)} for upload URLs for app "
                f"{printable(service.app_id)}, in {plural(len(batches), 'batch', 'batches')}:\n"
            )
            for number, batch in enumerate(batches, 1):
                stdout.write(f"batch {number}/{len(batches)}: {plural(len(batch), 'file')}\n")
                for file in batch:
                    stdout.write(f"  {printable(file.path)} ({human_size(file.size)})\n")
            for file in skipped:
                stdout.write(f"already uploaded, would skip: {printable(file.path)}\n")
            for result in refused:
                stdout.write(f"not sent: {printable(result.path)}: {result.error}\n")
        stdout.write(summary_line(report) + "\n")
    return int(ExitStatus.FILES_FAILED if refused else ExitStatus.OK)


def _planned(file: LocalFile) -> FileResult:
    return FileResult(file.path, file.filename, file.size, Status.PLANNED)
