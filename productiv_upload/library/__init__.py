"""The Python face of the tool: `push(...)` for orchestrators (Airflow, Dagster, Prefect, scripts).

It runs the same core as the command line (`core.run.execute_push`), prints nothing, and hands
back a `PushResult` whose `exit_code` is the one the command would give for the same outcome.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from productiv_upload.common.errors import UploadError, UsageError
from productiv_upload.common.redact import Redactor
from productiv_upload.core import limits
from productiv_upload.core.report import FileResult, RunReport
from productiv_upload.core.run import NullRunEvents, PushRequest, execute_push

logger = logging.getLogger("productiv_upload")
# A library never prints: warnings go to logging, which shows nothing until the caller sets it up.
logger.addHandler(logging.NullHandler())


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
        """The JSON report of INTERFACE.md (version 1), as `push --json` prints it."""
        assert self._report is not None
        return self._report.to_json()


def push(
    paths: Sequence[str | os.PathLike[str]],
    *,
    app_id: str | None = None,
    api_url: str | None = None,
    access_token: str | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
    token_url: str | None = None,
    profile: str | None = None,
    state_dir: str | os.PathLike[str] | None = None,
    recursive: bool = False,
    exclude: Iterable[str] = (),
    concurrency: int = 8,
    batch_size: int = 100,
    retries: int = 5,
    timeout: float = 60.0,
    force: bool = False,
    min_age: float | None = None,
    upload_type: str | None = None,
    on_file: Callable[[FileResult], None] | None = None,
) -> PushResult:
    """Upload files as `productiv-upload push` does, with the same guarantees; print nothing.

    Settings not given resolve from the environment and the config file, as on the command
    line. `on_file` is called with each file's result as it finishes (from worker threads).
    Raises UsageError (bad usage or input, before any request), AccessRefused (the service
    refused the credentials or the app) or LockHeld (another push holds the app's lock).
    """
    redactor = Redactor()
    redactor.add(access_token, client_secret, os.environ.get("PRODUCTIV_ACCESS_TOKEN"),
                 os.environ.get("PRODUCTIV_CLIENT_SECRET"))  # fmt: skip
    warnings: list[str] = []

    def warn(message: str) -> None:
        message = redactor(message)
        warnings.append(message)
        logger.warning("%s", message)

    try:
        _check_ranges(concurrency, batch_size, retries, timeout, min_age)
        if isinstance(paths, str | os.PathLike):
            raise UsageError("paths must be a list of paths or patterns, not a single string")
        request = PushRequest(
            paths=[os.fspath(p) for p in paths], recursive=recursive, excludes=list(exclude),
            app_id=app_id, api_url=api_url, access_token=access_token, client_id=client_id,
            client_secret=client_secret, token_url=token_url, profile=profile,
            upload_type=upload_type, concurrency=concurrency, batch_size=batch_size,
            retries=retries, timeout=timeout, force=force,
            state_dir=Path(state_dir) if state_dir is not None else None, min_age=min_age,
        )  # fmt: skip
        run = execute_push(request, _Callback(on_file, redactor), warn=warn,
                           on_secret=redactor.add)  # fmt: skip
    except UploadError as error:
        raise _masked(error, redactor) from None
    report = run.report
    report.files = [_masked_result(r, redactor) for r in report.files]
    result = PushResult(report.files, report.counts(), run.exit_code, warnings, report)
    if run.fatal is not None:
        raise _masked(run.fatal, redactor, result) from None
    return result


class _Callback(NullRunEvents):
    """The core's events, reduced to the one a Python caller asked for."""

    def __init__(self, on_file: Callable[[FileResult], None] | None, redactor: Redactor) -> None:
        self._on_file = on_file
        self._redactor = redactor

    def file_finished(self, result: FileResult) -> None:
        if self._on_file is not None:
            self._on_file(_masked_result(result, self._redactor))


def _check_ranges(
    concurrency: int, batch_size: int, retries: int, timeout: float, min_age: float | None
) -> None:
    """The bounds the command line's options enforce."""
    if not 1 <= concurrency <= limits.MAX_CONCURRENCY:
        raise UsageError(f"concurrency must be 1..{limits.MAX_CONCURRENCY}, not {concurrency}")
    if not 1 <= batch_size <= limits.MAX_BATCH_SIZE:
        raise UsageError(f"batch_size must be 1..{limits.MAX_BATCH_SIZE}, not {batch_size}")
    if not 0 <= retries <= limits.MAX_RETRIES:
        raise UsageError(f"retries must be 0..{limits.MAX_RETRIES}, not {retries}")
    if not limits.MIN_TIMEOUT_S <= timeout <= limits.MAX_TIMEOUT_S:
        raise UsageError(
            f"timeout must be {limits.MIN_TIMEOUT_S:g}..{limits.MAX_TIMEOUT_S:g} seconds, "
            f"not {timeout}"
        )
    if min_age is not None and min_age < 0:
        raise UsageError(f"min_age must not be negative, not {min_age}")


def _masked_result(result: FileResult, redactor: Redactor) -> FileResult:
    if result.error is None:
        return result
    return FileResult(result.path, result.filename, result.size, result.status,
                      result.attempts, redactor(result.error))  # fmt: skip


def _masked(
    error: UploadError, redactor: Redactor, result: PushResult | None = None
) -> UploadError:
    """The same kind of error, its message cleared of every secret in play."""
    masked = type(error)(redactor(str(error)))
    masked.result = result
    return masked
