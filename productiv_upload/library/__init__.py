"""The Python face of the tool: `push(...)` for orchestrators (Airflow, Dagster, Prefect, scripts).

It runs the same core as the command line (`execute_push` in core/push/run.py), prints nothing,
and hands back a `PushResult` whose `exit_code` is the one the command would give for the same
outcome.
`arguments` checks what a caller passes and keeps push() in step with the command line.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from productiv_upload.common.errors import UploadError
from productiv_upload.common.redact import Redactor
from productiv_upload.core.model import FileResult, RunReport
from productiv_upload.core.push.run import NullRunEvents, execute_push
from productiv_upload.core.settings import options
from productiv_upload.core.settings.push import PushRequest
from productiv_upload.core.settings.spec import settings_of, values_of
from productiv_upload.library.arguments import check_arguments, python_words

logger = logging.getLogger("productiv_upload")
# A library never prints: warnings go to logging, which shows nothing until the caller sets it up.
logger.addHandler(logging.NullHandler())

PathArgument = str | os.PathLike[str]


@dataclass(frozen=True)
class PushResult:
    """What a push did: one entry per file given, and the command line's exit code for it."""

    files: list[FileResult]
    counts: dict[str, int]
    exit_code: int
    warnings: list[str] = field(default_factory=list)
    _report: RunReport | None = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def report(self) -> dict[str, Any]:
        """The JSON report (README, "The JSON report", version 1), as `push --json` prints it."""
        assert self._report is not None
        return self._report.to_json()


def push(
    paths: Sequence[PathArgument],
    *,
    app_id: str | None = None,
    api_url: str | None = None,
    access_token: str | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
    token_url: str | None = None,
    token_file: PathArgument | None = None,
    ca_bundle: PathArgument | None = None,
    profile: str | None = None,
    state_dir: PathArgument | None = None,
    storage_hosts: Iterable[str] = (),
    recursive: bool = False,
    exclude: Iterable[str] = (),
    allow_empty: bool = False,
    concurrency: int = options.CONCURRENCY.default,
    batch_size: int = options.BATCH_SIZE.default,
    retries: int = options.RETRIES.default,
    timeout: float = options.TIMEOUT.default,
    force: bool = False,
    checksum: bool = False,
    journal_retention_days: float = options.JOURNAL_RETENTION.default,
    dry_run: bool = False,
    min_age: float | None = None,
    max_age: float = options.MAX_AGE.default,
    wait_lock: float = options.WAIT_LOCK.default,
    limit_rate: float | str | None = None,
    move_to: PathArgument | None = None,
    delete_after: bool = False,
    metrics_file: PathArgument | None = None,
    upload_type: str | None = None,
    on_file: Callable[[FileResult], None] | None = None,
) -> PushResult:
    """Upload files as `productiv-upload push` does, with the same guarantees; print nothing.

    Each parameter is the command-line option of the same name (`min_age` is `--min-age`,
    `storage_hosts` the `--storage-host` patterns, `upload_type` is `--type`, `max_age` is in
    hours, `journal_retention_days` is `--journal-retention`, `limit_rate` is bytes per second
    or a string such as "10M"); `access_token`, `client_id` and `client_secret` are
    credentials the command line takes only from the environment or files. Settings not given
    resolve from the environment and the config file, as on the command line. Arguments of the
    wrong type or out of range raise UsageError naming the parameter, before anything else
    happens.

    `on_file` is called with each file's result as it finishes (from the thread that records
    results, one call at a time). If it raises, the push stops as on Ctrl-C: no new file
    starts, the files in flight get up to 5 seconds to finish and are recorded in the journal,
    `on_file` is not called again, and push() raises that same exception (with a note saying
    how many files were uploaded and how many were not sent). Every file storage has verified
    is journaled, so calling push() again sends only the rest.

    Raises UsageError (bad usage or input, before any request), AccessRefused (the service
    refused the credentials or the app) or LockHeld (another push holds the app's lock).
    """
    # The parameters, by name, before anything else is bound (twine's `vars(args)`).
    arguments = dict(locals())
    check_arguments(arguments)
    redactor = Redactor()
    redactor.add(
        access_token,
        client_secret,
        os.environ.get("PRODUCTIV_ACCESS_TOKEN"),
        os.environ.get("PRODUCTIV_CLIENT_SECRET"),
    )
    warnings: list[str] = []

    def warn(message: str) -> None:
        message = python_words(redactor(message))
        warnings.append(message)
        logger.warning("%s", message)

    callback = _Callback(on_file, redactor)
    try:
        request = settings_of(PushRequest, values_of(options.PUSH_FUNCTION, arguments))
        run = execute_push(request, callback, warn=warn, on_secret=redactor.add)
    except UploadError as error:
        raise _masked(error, redactor) from None
    except _CallbackRaised:
        # Raised before any file was sent (while skipped files were being told of).
        raise callback.stopped_by(None) from None
    report = run.report
    report.files = [_masked_result(r, redactor) for r in report.files]
    if callback.error is not None:
        raise callback.stopped_by(report)
    for problem in run.problems:  # the metrics file could not be written: the uploads stand
        warn(problem)
    exit_code = run.exit_code or (1 if run.problems else 0)
    result = PushResult(report.files, report.counts(), exit_code, warnings, report)
    if run.fatal is not None:
        raise _masked(run.fatal, redactor, result) from None
    return result


class _CallbackRaised(KeyboardInterrupt):
    """Stops the run the way Ctrl-C does, so that what is in flight is finished and recorded."""


class _Callback(NullRunEvents):
    """The core's events, reduced to the one a Python caller asked for."""

    def __init__(self, on_file: Callable[[FileResult], None] | None, redactor: Redactor) -> None:
        self._on_file = on_file
        self._redactor = redactor
        self.error: BaseException | None = None  # what on_file raised; it is not called again

    def file_finished(self, result: FileResult) -> None:
        if self._on_file is None or self.error is not None:
            return
        try:
            self._on_file(_masked_result(result, self._redactor))
        # Whatever the caller's function raises is theirs to get back, once the run has
        # stopped cleanly; the core only hears that it must stop.
        except Exception as error:
            self.error = error
            raise _CallbackRaised from error

    def stopped_by(self, report: RunReport | None) -> BaseException:
        """The callback's exception, with a note on what the stopped push did."""
        assert self.error is not None
        if report is None:
            self.error.add_note("productiv_upload.push() stopped before sending any file")
        else:
            counts = report.counts()
            self.error.add_note(
                f"productiv_upload.push() stopped because on_file raised: {counts['uploaded']} "
                f"of {len(report.files)} files uploaded and recorded, "
                f"{len(report.not_started)} not sent; push() again sends the rest"
            )
        return self.error


def _masked_result(result: FileResult, redactor: Redactor) -> FileResult:
    if result.error is None:
        return result
    return FileResult(
        result.path,
        result.filename,
        result.size,
        result.status,
        result.attempts,
        python_words(redactor(result.error)),
    )


def _masked(
    error: UploadError, redactor: Redactor, result: PushResult | None = None
) -> UploadError:
    """The same kind of error, its message cleared of every secret in play and speaking in
    push()'s parameters."""
    masked = type(error)(python_words(redactor(str(error))))
    masked.result = result
    return masked
