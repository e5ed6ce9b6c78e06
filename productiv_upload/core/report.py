"""Per-file results and the JSON report of INTERFACE.md (version 1)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


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
