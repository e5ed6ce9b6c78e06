"""One whole push, with no user interface: the function both skins (command line, Python) call.

Discovery, the run session (settings, lock, journal, clients), the push loop,
`--move-to`/`--delete-after` and the report, in that order. What happens is told through a
`RunEvents` object and two callbacks for warnings and for verbose information; the caller
decides what, if anything, is shown.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import BinaryIO, Protocol

from productiv_upload.common.errors import ExitStatus, UploadError, UsageError
from productiv_upload.common.text import plural, printable
from productiv_upload.core.journal import Journal, JournalError, maintain
from productiv_upload.core.journal.known import split_already_uploaded
from productiv_upload.core.model import RERUN_ADVICE, FileResult, LocalFile, RunReport, Status
from productiv_upload.core.push.discover import Discovery, discover, read_path_list
from productiv_upload.core.push.events import NullEvents, PushEvents, Stop
from productiv_upload.core.push.pusher import Pusher, PushOptions, PushOutcome
from productiv_upload.core.push.spool import prepare_move_target, settle
from productiv_upload.core.session.clients import Clients
from productiv_upload.core.session.record import PushRecord
from productiv_upload.core.session.run_session import RunSession
from productiv_upload.core.settings.push import PushRequest
from productiv_upload.core.settings.service import ServiceSettings
from productiv_upload.core.settings.transfer import TransferSettings

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


def execute_push(
    request: PushRequest,
    events: RunEvents,
    *,
    warn: Callable[[str], None],
    inform: Callable[[str], None] = lambda message: None,
    on_secret: Callable[[str], None] | None = None,
    environ: Mapping[str, str] | None = None,
    stdin: BinaryIO | None = None,
    session: RunSession | None = None,
    stop: Stop | None = None,
) -> PushRun:
    """Push what `request` names; returns the report and the exit code the command would give.

    Raises UsageError before anything is sent, AccessRefused when the service refuses before
    the first batch, and LockHeld when another push holds the app's lock. `warn` hears about
    problems that do not stop the run, `inform` about what verbose output would mention, and
    `on_secret` about every secret in play (configured or fetched) so output can mask it.
    `session` is one the caller opened (the sandbox's); by default it is resolved from the
    settings. `stop`, once set, ends the run as an interrupt would, but with exit code 1.
    """
    started = time.monotonic()
    found = _find_files(request, stdin or sys.stdin.buffer)
    for warning in found.warnings:
        warn(warning)
    if request.spool.move_to is not None and not request.dry_run:
        prepare_move_target(request.spool.move_to)
    if session is None:
        session = RunSession.open(
            request.service,
            request.state,
            os.environ if environ is None else environ,
            need_credentials=not request.dry_run,
        )
    push = _Push(request, session, found, events, warn, inform, on_secret, stop, started)
    with session:
        if request.dry_run:
            return push.plan()
        record = session.record(warn)
        session.check_metrics_file()
        try:
            return push.run(record)
        except UploadError as error:
            record.ended(int(error.exit_status), None, str(error))
            raise
        except KeyboardInterrupt:
            record.ended(int(ExitStatus.INTERRUPTED), None, "interrupted")
            raise


def open_clients(
    session: RunSession,
    transfer: TransferSettings,
    on_secret: Callable[[str], None] | None,
    events: PushEvents | None = None,
) -> tuple[Clients, PushOptions]:
    """The clients and the push loop's options for `transfer`; retried API requests are told
    to `events`, for the log."""
    on_retry = None
    if events is not None:
        told = events

        def on_retry(attempt: int, reason: str) -> None:
            told.request_retried("the API", attempt, reason)

    clients = session.connect(transfer, on_secret=on_secret, on_retry=on_retry)
    return clients, PushOptions.of(transfer, session.service.storage_hosts)


class _Push:
    """One push, once its files are found and its session is resolved."""

    def __init__(
        self,
        request: PushRequest,
        session: RunSession,
        found: Discovery,
        events: RunEvents,
        warn: Callable[[str], None],
        inform: Callable[[str], None],
        on_secret: Callable[[str], None] | None,
        stop: Stop | None,
        started: float,
    ) -> None:
        self.request, self.session, self.found, self.events = request, session, found, events
        self.warn, self.inform, self.on_secret, self.stop = warn, inform, on_secret, stop
        self.started = started
        self.deferred = _defer_young(found.files, request.min_age)
        self.candidates = [f for f in found.files if f.filename not in self.deferred]

    def plan(self) -> PushRun:
        """A dry run: what would be sent, from the journal if there is one; nothing written."""
        request, session = self.request, self.session
        journal = None if request.force else session.existing_journal()
        to_send, skipped = self._split(journal)
        planned = {
            f.filename: FileResult(f.path, f.filename, f.size, Status.PLANNED) for f in to_send
        }
        results = {**self.deferred, **planned, **{f.filename: _skipped(f) for f in skipped}}
        files = [results[f.filename] for f in self.found.files] + self.found.refused
        report = RunReport(session.app_id, True, files, deferring=request.min_age is not None)
        _warn_old_files(request, to_send, self.warn)
        code = ExitStatus.FILES_FAILED if self.found.refused else ExitStatus.OK
        return PushRun(report, session.service, exit_code=int(code))

    def run(self, record: PushRecord) -> PushRun:
        """The push itself: lock, journal, upload, spool, record."""
        request, session, found = self.request, self.session, self.found
        journal: Journal | None
        to_send: list[LocalFile] = []
        skipped: list[LocalFile] = []
        if self.candidates:
            # The lock comes first: two runs must not both decide that a file is still to send.
            session.lock(wait_s=request.state.wait_lock)
            journal = session.open_journal()
            record.started(journal)
            to_send, skipped = self._split(None if request.force else journal)
        else:
            # Nothing to send (an empty spool, files still settling): still a run to record.
            journal = session.journal_for_the_record(record, self.warn)
        self.events.start(len(found.files) + len(found.refused), sum(f.size for f in to_send))
        results = {f.filename: _skipped(f) for f in skipped} | self.deferred
        for result in [*results.values(), *found.refused]:
            self.events.file_finished(result)
        outcome = self._upload(journal, to_send) if to_send else None
        if outcome is not None:
            results.update((r.filename, r) for r in outcome.results)
        report = RunReport(
            app_id=session.app_id,
            dry_run=False,
            files=[results[f.filename] for f in found.files] + found.refused,
            elapsed_s=time.monotonic() - self.started,
            deferring=request.min_age is not None,
            interrupted=outcome is not None and outcome.interrupted,
            rerun_advice=self._rerun_advice(),
        )
        self.events.finish(report)
        _warn_unrecorded(report, self.warn)
        spool_failed = _settle_spool(
            request, report, found, journal, session.api_key, self.warn, self.inform
        )
        if journal is not None and self.candidates:
            retention_days = request.state.journal_retention_days
            _upkeep(journal, session.api_key, session.app_id, retention_days, self.warn)
        uploaded = [f for f in to_send if results[f.filename].status is Status.UPLOADED]
        _warn_old_files(request, uploaded, self.warn)
        return self._ended(report, outcome, spool_failed, record)

    def _ended(
        self,
        report: RunReport,
        outcome: PushOutcome | None,
        spool_failed: bool,
        record: PushRecord,
    ) -> PushRun:
        run = PushRun(report, self.session.service)
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

    def _upload(self, journal: Journal | None, files: list[LocalFile]) -> PushOutcome:
        clients, options = open_clients(
            self.session, self.request.transfer, self.on_secret, self.events
        )
        pusher = Pusher(clients.api, clients.storage, options, self.events, journal, self.stop)
        return pusher.run(files)

    def _split(self, journal: Journal | None) -> tuple[list[LocalFile], list[LocalFile]]:
        if journal is None:
            return list(self.candidates), []
        session = self.session
        return split_already_uploaded(
            self.candidates,
            journal,
            session.api_key,
            session.app_id,
            checksum=self.request.checksum,
        )

    def _rerun_advice(self) -> str:
        """What to do about what a stopped run did not send: the same command, as a rule."""
        if not self.session.resumable:
            return "a sandbox run is not resumed: the next one starts with an empty sandbox"
        if self.request.force:
            return "run it again without --force to send only the rest"
        return RERUN_ADVICE


def _find_files(request: PushRequest, stdin: BinaryIO) -> Discovery:
    literal: list[str] = []
    if request.files_from == "-":
        literal = read_path_list(stdin, null=request.null)
    elif request.files_from is not None:
        try:
            with open(request.files_from, "rb") as listing:
                literal = read_path_list(listing, null=request.null)
        except OSError as error:
            raise UsageError(
                f"cannot read --files-from {printable(request.files_from)}: {error.strerror}"
            ) from None
    elif not request.paths:
        raise UsageError("no files given: name files, directories or patterns, or --files-from")
    return discover(
        request.paths,
        recursive=request.recursive,
        allow_empty=request.allow_empty,
        literal_paths=literal,
        exclude=request.exclude,
    )


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
    spool = request.spool
    if not spool.settles:
        return False
    files = {f.filename: f for f in found.files}
    settled = settle(report.files, files, move_to=spool.move_to, delete=spool.delete_after)
    for reason in settled.kept:
        warn(f"not moved or deleted: {reason}")
    for reason in settled.failed:
        warn(f"not moved or deleted (its upload stands and is not sent again): {reason}")
    verb = f"moved to {spool.move_to}" if spool.move_to else "deleted"
    if settled.done:
        inform(f"{plural(len(settled.done), 'uploaded file')} {verb}")
        if journal is not None:
            try:
                journal.forget_paths(api_url, report.app_id, settled.done)
            except JournalError as error:
                warn(f"{error} (the files were {verb}; their journal rows stay as they were)")
    return bool(settled.failed)


def _upkeep(
    journal: Journal,
    api_url: str,
    app_id: str,
    retention_days: float,
    warn: Callable[[str], None],
) -> None:
    """Expire rows gone long enough, and look for a few files gone from their folders."""
    try:
        maintain(journal, api_url, app_id, retention_days * 86400)
    except JournalError as error:
        warn(f"journal upkeep skipped: {error}")


def _warn_unrecorded(report: RunReport, warn: Callable[[str], None]) -> None:
    """Uploads that storage confirmed but the journal could not record."""
    unrecorded = [r.path for r in report.files if r.status is Status.UPLOADED and r.error]
    if unrecorded:
        warn(
            f"{plural(len(unrecorded), 'file')} uploaded but not recorded in the journal "
            f"({_some_of(unrecorded)}): a rerun may send them again"
        )


def _warn_old_files(
    request: PushRequest, files: list[LocalFile], warn: Callable[[str], None]
) -> None:
    """Productiv only guarantees aggregating events pushed within 12 hours of happening."""
    cutoff = time.time() - request.max_age * 3600
    old = sorted((f for f in files if f.mtime_ns / 1e9 < cutoff), key=lambda f: f.mtime_ns)
    if not old:
        return
    warn(
        f"{plural(len(old), 'file')} last modified more than {request.max_age:g} h ago "
        f"({_some_of([f.path for f in old])}): Productiv only guarantees aggregating events "
        "pushed within 12 hours of when they happened"
    )


def _some_of(paths: list[str]) -> str:
    """The first few paths, and how many more: "a, b, c and 4 more"."""
    named = ", ".join(printable(path) for path in paths[:OLD_FILES_NAMED])
    more = len(paths) - OLD_FILES_NAMED
    return f"{named} and {more} more" if more > 0 else named
