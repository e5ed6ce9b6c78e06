"""The errors that end a run, and the exit codes they map to (README, "Exit codes").

A failure that concerns one file is not an exception: it is a `FileResult` with status "failed".
The exceptions here end the whole command; the CLI catches them in one place.
"""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    OK = 0
    FILES_FAILED = 1
    BAD_INPUT = 2
    ACCESS_REFUSED = 3
    LOCKED = 4
    INTERRUPTED = 130


class UploadError(Exception):
    """Base of every error that ends a run; the message says what to do next."""

    exit_status = ExitStatus.BAD_INPUT
    # For Python callers: the PushResult of a run that this error ended part way, if any.
    result: object | None = None


class UsageError(UploadError):
    """Bad options or bad input files: nothing was sent."""


class AccessRefused(UploadError):
    """The service refused the credentials or the app (401, 403, 404, or the token endpoint)."""

    exit_status = ExitStatus.ACCESS_REFUSED


class LockHeld(UploadError):
    """Another push for the same app and state directory is running."""

    exit_status = ExitStatus.LOCKED


class ApiError(UploadError):
    """A URL request failed for reasons that concern its batch, not the credentials.

    The run goes on; the files of that batch are reported failed with this message.
    """

    exit_status = ExitStatus.FILES_FAILED


class ApiUnreachable(ApiError):
    """The API could not be reached at all (refused, name not resolved, TLS, timeouts), after
    the retries of one request: the run asks no more, and fails the files not yet sent."""


class JournalFailed(UploadError):
    """The journal could not record uploads part way through a run (a full disk, say).

    The uploads that storage confirmed stand; files not yet sent were not sent.
    """

    exit_status = ExitStatus.FILES_FAILED
