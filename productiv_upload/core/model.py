"""The data every room shares: files found and their identities, per-file results, and the JSON
report (README, "The JSON report", version 1)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

RACY_NS = 2_000_000_000  # see Identity.trusted


@dataclass(frozen=True, slots=True)
class Identity:
    """What `stat()` tells of a file. The same identity means the same file, unchanged: any
    write moves the change time, which no user can set back."""

    dev: int
    ino: int
    size: int
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def of(cls, info: os.stat_result) -> Identity:
        return cls(info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)

    @classmethod
    def trusted(cls, info: os.stat_result, read_at_ns: int) -> Identity | None:
        """The identity of a file read at `read_at_ns` (wall clock), if a later change must
        show in it: timestamps come from a coarse clock (milliseconds on Linux, up to 2 s on
        some filesystems), so a file changed again within the same tick as the read keeps its
        change time. Such a file gets no identity, and the next run compares its content."""
        if info.st_ctime_ns > read_at_ns - RACY_NS:
            return None
        return cls.of(info)


@dataclass(frozen=True)
class LocalFile:
    path: str  # for display and the report
    filename: str  # base name sent to the service
    size: int
    mtime_ns: int
    identity: Identity | None = None  # as found; None where nobody looked


class Status(StrEnum):
    UPLOADED = "uploaded"
    SKIPPED = "skipped"
    FAILED = "failed"
    PLANNED = "planned"
    DEFERRED = "deferred"  # modified too recently under --min-age; the next run takes it


# The reasons an interrupted run gives the files it did not finish. The JSON report lists them
# as failed; what people read counts the files never started as "not sent", in one line.
NOT_STARTED_REASON = "interrupted before it was sent"
CUT_SHORT_REASON = "interrupted while it was being sent"


@dataclass(frozen=True)
class FileResult:
    path: str  # as the user gave it or as it was found below a directory
    filename: str  # the base name the service keys on
    size: int
    status: Status
    attempts: int = 0  # PUT tries
    error: str | None = None  # one line, secrets redacted


RERUN_ADVICE = "run the same command again to send the rest"


@dataclass
class RunReport:
    app_id: str
    dry_run: bool
    files: list[FileResult] = field(default_factory=list)
    elapsed_s: float = 0.0
    deferring: bool = False  # --min-age was given: `counts` has a `deferred` key
    interrupted: bool = False  # Ctrl-C or SIGTERM stopped the run (not in the JSON report)
    # What to do about the files a stopped run did not send (not in the JSON report).
    rerun_advice: str = RERUN_ADVICE

    def counts(self) -> dict[str, int]:
        counts = {Status.UPLOADED.value: 0, Status.SKIPPED.value: 0, Status.FAILED.value: 0}
        if self.dry_run:
            counts[Status.PLANNED.value] = 0
        if self.deferring:
            counts[Status.DEFERRED.value] = 0
        for result in self.files:
            counts[result.status.value] = counts.get(result.status.value, 0) + 1
        return counts

    @property
    def bytes_uploaded(self) -> int:
        return sum(r.size for r in self.files if r.status is Status.UPLOADED)

    @property
    def failed(self) -> list[FileResult]:
        return [r for r in self.files if r.status is Status.FAILED]

    @property
    def not_started(self) -> list[FileResult]:
        """Files an interrupt kept from starting: a rerun sends them."""
        return [r for r in self.files if never_started(r)]

    def to_json(self) -> dict[str, Any]:
        return {
            "version": 1,
            "app_id": self.app_id,
            "dry_run": self.dry_run,
            "files": [
                {
                    "path": r.path,
                    "filename": r.filename,
                    "size": r.size,
                    "status": r.status.value,
                    "attempts": r.attempts,
                    "error": r.error,
                }
                for r in self.files
            ],
            "counts": self.counts(),
            "bytes_uploaded": self.bytes_uploaded,
            "elapsed_s": round(self.elapsed_s, 3),
        }


def never_started(result: FileResult) -> bool:
    return (
        result.status is Status.FAILED
        and result.attempts == 0
        and result.error == NOT_STARTED_REASON
    )
