"""One whole push, with no user interface: the function both skins (command line, Python) call.

Discovery, settings, the lock, the journal, the push loop, `--move-to`/`--delete-after` and the
report, in that order. What happens is told through a `RunEvents` object and two callbacks for
warnings and for verbose information; the caller decides what, if anything, is shown.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, Protocol

from productiv_upload.common.errors import ExitStatus, UploadError, UsageError
from productiv_upload.common.files import check_writable
from productiv_upload.common.text import plural, printable
from productiv_upload.core.journal import (
    DEFAULT_RETENTION_DAYS,
    JOURNAL_NAME,
    Journal,
    JournalError,
    maintain,
)
from productiv_upload.core.journal.known import split_already_uploaded
from productiv_upload.core.model import RERUN_ADVICE, FileResult, LocalFile, RunReport, Status
from productiv_upload.core.push.discover import Discovery, discover, read_path_list
from productiv_upload.core.push.pusher import (
    NullEvents,
    Pusher,
    PushEvents,
    PushOptions,
    PushOutcome,
    Stop,
    connect,
)
from productiv_upload.core.push.spool import prepare_move_target, settle
from productiv_upload.core.session.lock import AppLock
from productiv_upload.core.session.record import PushRecord
from productiv_upload.core.settings.service import ServiceSettings, resolve_service
from productiv_upload.core.settings.state_dir import resolve_state_dir
from productiv_upload.service.api import ProductivApi
from productiv_upload.service.storage import StorageClient

OLD_FILES_NAMED = 3  # how many files a warning names before 'and N more'


class RunEvents(PushEvents, Protocol):
    """`PushEvents`, plus the start and the end of the run."""

    def start(self, files: int, total_bytes: int) -> None: ...

    def finish(self, report: RunReport) -> None: ...


class NullRunEvents(NullEvents):
    """Shows nothing of a run, its start and end included."""

    def start(self, files: int, total_bytes: int) -> None:
        pass

    def finish(self, report: RunReport) -> None:
        pass


@dataclass(frozen=True)
class PushRequest:
    """What to push and how: the command line's options, or the Python API's arguments."""

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
    ca_bundle: Path | None = None  # certificates trusted instead of the system's store
    # Given by a Python caller; the command line takes secrets from the environment or files.
    access_token: str | None = field(default=None, repr=False)
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    profile: str | None = None
    storage_hosts: list[str] = field(default_factory=list)
    upload_type: str | None = None
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
    max_age_hours: float = 12.0
    min_age: float | None = None  # seconds; younger files are deferred to a later run
    checksum: bool = False  # compare every known file by content, not by stat() alone
    metrics_file: Path | None = None  # Prometheus text for node_exporter, replaced each run
    # Rows for files no longer in place (moved, deleted, replaced) are kept this long.
    journal_retention_days: float = DEFAULT_RETENTION_DAYS


@dataclass
class PushRun:
    """How a push ended: the report, and what stopped it early, if anything."""

    report: RunReport
    service: ServiceSettings
    fatal: UploadError | None = None  # the service refused access part way through
    interrupted: bool = False
    stopped: str | None = None  # why the caller's `stop` ended it early
    # What could not be written after the run (the metrics file): the command says so on
    # stderr and exits 1; the uploads stand.
    problems: list[str] = field(default_factory=list)
    exit_code: int = int(ExitStatus.OK)


@dataclass(frozen=True)
class Target:
    """A service chosen by the caller rather than resolved from settings (the sandbox)."""

    service: ServiceSettings
    state_dir: Path


def execute_push(
    request: PushRequest,
    events: RunEvents,
    *,
    warn: Callable[[str], None],
    inform: Callable[[str], None] = lambda message: None,
    on_secret: Callable[[str], None] | None = None,
    environ: Mapping[str, str] | None = None,
    stdin: BinaryIO | None = None,
    target: Target | None = None,
    stop: Stop | None = None,
) -> PushRun:
    """Push what `request` names; returns the report and the exit code the command would give.

    Raises UsageError before anything is sent, AccessRefused when the service refuses before
    the first batch, and LockHeld when another push holds the app's lock. `warn` hears about
    problems that do not stop the run, `inform` about what verbose output would mention, and
    `on_secret` about every secret in play (configured or fetched) so output can mask it.
    `stop`, once set, ends the run as an interrupt would, but with exit code 1.
    """
    environ = os.environ if environ is None else environ
    started = time.monotonic()
    found = _find_files(request, stdin or sys.stdin.buffer)
    for warning in found.warnings:
        warn(warning)
    if request.move_to is not None and not request.dry_run:
        prepare_move_target(request.move_to)

    deferred = _defer_young(found.files, request.min_age)
    candidates = [f for f in found.files if f.filename not in deferred]
    deferring = request.min_age is not None

    with contextlib.ExitStack() as stack:
        if target is None:
            # Credentials are resolved even with nothing to send: a cron job whose spool is
            # empty today must not pass as healthy with no credentials set up.
            service = resolve_request_service(request, environ, sends=True)
            state_dir = resolve_state_dir(request.state_dir, environ)
        else:
            service, state_dir = target.service, target.state_dir
        api_key = service.api_url.rstrip("/")
        journal_path = state_dir / JOURNAL_NAME
        if request.dry_run:
            journal = None if request.force else Journal.open_existing(journal_path)
            if journal is not None:
                stack.enter_context(journal)
            to_send, skipped = _split(candidates, journal, api_key, service.app_id,
                                      checksum=request.checksum)  # fmt: skip
            planned = {f.filename: FileResult(f.path, f.filename, f.size, Status.PLANNED)
                       for f in to_send}  # fmt: skip
            results = {**deferred, **planned, **{f.filename: _skipped(f) for f in skipped}}
            report = RunReport(service.app_id, True, [results[f.filename] for f in found.files]
                               + found.refused, deferring=deferring)  # fmt: skip
            _warn_old_files(request, to_send, warn)
            code = ExitStatus.FILES_FAILED if found.refused else ExitStatus.OK
            return PushRun(report, service, exit_code=int(code))

        record = PushRecord(journal_path, api_key, service.app_id, _metrics_file(request, service),
                            warn)  # fmt: skip
        if record.metrics_file is not None:
            check_writable(record.metrics_file, "--metrics-file")
        try:
            run = _push(request, service, state_dir, record, found, candidates, deferred,
                        events, stack, warn, inform, on_secret, stop, started,
                        sandbox=target is not None)  # fmt: skip
        except UploadError as error:
            record.ended(int(error.exit_status), None, str(error))
            raise
        except KeyboardInterrupt:
            record.ended(int(ExitStatus.INTERRUPTED), None, "interrupted")
            raise
    return run


def _push(
    request: PushRequest,
    service: ServiceSettings,
    state_dir: Path,
    record: PushRecord,
    found: Discovery,
    candidates: list[LocalFile],
    deferred: dict[str, FileResult],
    events: RunEvents,
    stack: contextlib.ExitStack,
    warn: Callable[[str], None],
    inform: Callable[[str], None],
    on_secret: Callable[[str], None] | None,
    stop: Stop | None,
    started: float,
    *,
    sandbox: bool,
) -> PushRun:
    """The push itself, once the service is known: lock, journal, upload, spool, record."""
    api_key = service.api_url.rstrip("/")
    journal = None
    to_send: list[LocalFile] = []
    skipped: list[LocalFile] = []
    if candidates:
        # The lock comes first: two runs must not both decide that a file is still to send.
        stack.enter_context(AppLock(state_dir, api_key, service.app_id,
                                    wait_s=request.wait_lock))  # fmt: skip
        journal = stack.enter_context(Journal(state_dir / JOURNAL_NAME))
        record.started(journal)
        to_send, skipped = _split(candidates, None if request.force else journal, api_key,
                                  service.app_id, checksum=request.checksum)  # fmt: skip
    else:
        # Nothing to send (an empty spool, files still settling): still a run to record, so
        # that the last success moves on; but an unusable state dir is only a warning here.
        journal = _journal_for_the_record(state_dir / JOURNAL_NAME, record, warn)
        if journal is not None:
            stack.enter_context(journal)
    events.start(len(found.files) + len(found.refused), sum(f.size for f in to_send))
    results = {f.filename: _skipped(f) for f in skipped} | deferred
    for result in [*results.values(), *found.refused]:
        events.file_finished(result)
    outcome = None
    if to_send:
        outcome = _upload(request, service, journal, events, to_send, on_secret, stop)
        results.update((r.filename, r) for r in outcome.results)
    report = RunReport(
        app_id=service.app_id,
        dry_run=False,
        files=[results[f.filename] for f in found.files] + found.refused,
        elapsed_s=time.monotonic() - started,
        deferring=request.min_age is not None,
        interrupted=outcome is not None and outcome.interrupted,
        rerun_advice=_rerun_advice(request, sandbox),
    )
    events.finish(report)
    _warn_unrecorded(report, warn)
    spool_failed = _settle_spool(request, report, found, journal, api_key, warn, inform)
    if journal is not None and candidates:
        _upkeep(journal, api_key, service.app_id, request.journal_retention_days, warn)
    _warn_old_files(request, [f for f in to_send if results[f.filename].status
                              is Status.UPLOADED], warn)  # fmt: skip

    run = PushRun(report, service)
    if outcome is not None and outcome.fatal is not None:
        run.fatal = outcome.fatal
        run.exit_code = int(outcome.fatal.exit_status)
    elif outcome is not None and outcome.interrupted:
        run.interrupted = True
        run.exit_code = int(ExitStatus.INTERRUPTED)
    elif report.failed or spool_failed:
        run.exit_code = int(ExitStatus.FILES_FAILED)
    if outcome is not None:
        run.stopped = outcome.stopped
    message = str(run.fatal) if run.fatal else run.stopped
    run.problems = record.ended(run.exit_code, report, message)
    return run


def _rerun_advice(request: PushRequest, sandbox: bool) -> str:
    """What to do about what a stopped run did not send: the same command, as a rule."""
    if sandbox:
        return "a sandbox run is not resumed: the next one starts with an empty sandbox"
    if request.force:
        return "run it again without --force to send only the rest"
    return RERUN_ADVICE


def _journal_for_the_record(
    path: Path, record: PushRecord, warn: Callable[[str], None]
) -> Journal | None:
    try:
        journal = Journal(path)
    except JournalError as error:
        warn(f"the run was not recorded for `status`: {error}")
        return None
    try:
        record.started(journal)
    except JournalError as error:
        journal.close()
        warn(f"the run was not recorded for `status`: {error}")
        return None
    return journal


def _metrics_file(request: PushRequest, service: ServiceSettings) -> Path | None:
    return request.metrics_file or service.metrics_file


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


def resolve_request_service(
    request: PushRequest, environ: Mapping[str, str], *, sends: bool
) -> ServiceSettings:
    return resolve_service(
        app_id=request.app_id, api_url=request.api_url, token_url=request.token_url,
        token_file=request.token_file, environ=environ, profile=request.profile,
        need_credentials=sends and not request.dry_run, storage_hosts=request.storage_hosts,
        access_token=request.access_token, client_id=request.client_id,
        client_secret=request.client_secret, ca_bundle=request.ca_bundle,
    )  # fmt: skip


def _upload(
    request: PushRequest,
    service: ServiceSettings,
    journal: Journal | None,
    events: PushEvents,
    files: list[LocalFile],
    on_secret: Callable[[str], None] | None,
    stop: Stop | None,
) -> PushOutcome:
    api, storage, options = connect_request(request, service, on_secret, events)
    return Pusher(api, storage, options, events, journal, stop).run(files)


def connect_request(
    request: PushRequest,
    service: ServiceSettings,
    on_secret: Callable[[str], None] | None,
    events: PushEvents | None = None,
) -> tuple[ProductivApi, StorageClient, PushOptions]:
    """The API client, the storage client and the push loop's options that `request` asks for."""
    options = PushOptions(
        concurrency=request.concurrency,
        batch_size=request.batch_size,
        retries=request.retries,
        limit_rate=request.limit_rate,
        storage_hosts=service.storage_hosts,
    )
    timeout = (min(request.timeout, 10.0), request.timeout)
    on_retry = None
    if events is not None:
        told = events

        def on_retry(attempt: int, reason: str) -> None:
            told.request_retried("the API", attempt, reason)

    api, storage = connect(service, options, upload_type=request.upload_type, timeout=timeout,
                           on_secret=on_secret, on_retry=on_retry)  # fmt: skip
    return api, storage, options


def _split(
    files: list[LocalFile], journal: Journal | None, api_url: str, app_id: str, *, checksum: bool
) -> tuple[list[LocalFile], list[LocalFile]]:
    if journal is None:
        return list(files), []
    return split_already_uploaded(files, journal, api_url, app_id, checksum=checksum)


def _skipped(file: LocalFile) -> FileResult:
    return FileResult(file.path, file.filename, file.size, Status.SKIPPED)


def _defer_young(files: list[LocalFile], min_age: float | None) -> dict[str, FileResult]:
    """Files modified less than `min_age` seconds ago may still be being written."""
    if min_age is None:
        return {}
    now = time.time()
    deferred = {}
    for file in files:
        age = now - file.mtime_ns / 1e9
        if age < min_age:
            eligible = datetime.fromtimestamp(file.mtime_ns / 1e9 + min_age, UTC)
            reason = (
                f"modified {max(age, 0.0):.1f} s ago, less than --min-age {min_age:g} s; "
                f"eligible from {eligible.strftime('%Y-%m-%dT%H:%M:%SZ')}"
            )
            deferred[file.filename] = FileResult(
                file.path, file.filename, file.size, Status.DEFERRED, 0, reason
            )
    return deferred


def _settle_spool(
    request: PushRequest,
    report: RunReport,
    found: Discovery,
    journal: Journal | None,
    api_url: str,
    warn: Callable[[str], None],
    inform: Callable[[str], None],
) -> bool:
    """--move-to / --delete-after; True when moving or deleting failed for a file."""
    if request.move_to is None and not request.delete_after:
        return False
    files = {f.filename: f for f in found.files}
    settled = settle(report.files, files, move_to=request.move_to, delete=request.delete_after)
    for reason in settled.kept:
        warn(f"not moved or deleted: {reason}")
    for reason in settled.failed:
        warn(f"not moved or deleted (its upload stands and is not sent again): {reason}")
    verb = f"moved to {request.move_to}" if request.move_to else "deleted"
    if settled.done:
        inform(f"{plural(len(settled.done), 'uploaded file')} {verb}")
        if journal is not None:
            try:
                journal.forget_paths(api_url, report.app_id, settled.done)
            except JournalError as error:
                warn(f"{error} (the files were {verb}; their journal rows stay as they were)")
    return bool(settled.failed)


def _upkeep(
    journal: Journal, api_url: str, app_id: str, retention_days: float,
    warn: Callable[[str], None],
) -> None:  # fmt: skip
    """Expire rows gone long enough, and look for a few files gone from their folders."""
    try:
        maintain(journal, api_url, app_id, retention_days * 86400)
    except JournalError as error:
        warn(f"journal upkeep skipped: {error}")


def _warn_unrecorded(report: RunReport, warn: Callable[[str], None]) -> None:
    """Uploads that storage confirmed but the journal could not record."""
    unrecorded = [r.path for r in report.files if r.status is Status.UPLOADED and r.error]
    if unrecorded:
        warn(f"{plural(len(unrecorded), 'file')} uploaded but not recorded in the journal "
             f"({_some_of(unrecorded)}): a rerun may send them again")  # fmt: skip


def _warn_old_files(
    request: PushRequest, files: list[LocalFile], warn: Callable[[str], None]
) -> None:
    """Productiv only guarantees aggregating events pushed within 12 hours of happening."""
    cutoff = time.time() - request.max_age_hours * 3600
    old = sorted((f for f in files if f.mtime_ns / 1e9 < cutoff), key=lambda f: f.mtime_ns)
    if not old:
        return
    warn(
        f"{plural(len(old), 'file')} last modified more than {request.max_age_hours:g} h ago "
        f"({_some_of([f.path for f in old])}): Productiv only guarantees aggregating events "
        "pushed within 12 hours of when they happened"
    )


def _some_of(paths: list[str]) -> str:
    """The first few paths, and how many more: "a, b, c and 4 more"."""
    named = ", ".join(printable(path) for path in paths[:OLD_FILES_NAMED])
    more = len(paths) - OLD_FILES_NAMED
    return f"{named} and {more} more" if more > 0 else named
