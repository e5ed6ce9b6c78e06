"""What each run did, what failed and what a watch waits to retry: the operator's record.

`status` reads it and the metrics file carries its last success over from one push to the
next. It lives in the journal's database, bounded: the newest `KEEP_RUNS` runs and
`KEEP_FAILURES` failures of each service are kept, and a watch's retry list holds only the
files waiting now.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from productiv_upload.common.text import printable
from productiv_upload.core.journal.store import Journal
from productiv_upload.core.model import NOT_STARTED_REASON, FileResult

KEEP_RUNS = 200
KEEP_FAILURES = 500
MAX_REASON = 500  # characters of a failure's reason kept
# Ids are shared by every service in the state dir: each service's newest rows are found among
# its own, not by subtracting from the newest id.
_KEEP_NEWEST_RUNS = """
DELETE FROM runs WHERE target = :target AND id < (SELECT min(id) FROM
    (SELECT id FROM runs WHERE target = :target ORDER BY id DESC LIMIT :keep))
"""
_KEEP_NEWEST_FAILURES = """
DELETE FROM failures WHERE target = :target AND id < (SELECT min(id) FROM
    (SELECT id FROM failures WHERE target = :target ORDER BY id DESC LIMIT :keep))
"""


@dataclass
class Figures:
    """Files by outcome and bytes sent: one push's, or a watch's since it started."""

    uploaded: int = 0
    skipped: int = 0
    failed: int = 0
    bytes_uploaded: int = 0

    def add(self, results: Iterable[FileResult]) -> None:
        for result in results:
            if result.status.value == "uploaded":
                self.uploaded += 1
                self.bytes_uploaded += result.size
            elif result.status.value == "skipped":
                self.skipped += 1
            elif result.status.value == "failed":
                self.failed += 1


@dataclass(frozen=True)
class Run:
    kind: str  # "push" or "watch"
    pid: int
    started: int
    ended: int | None
    exit_code: int | None
    figures: Figures
    message: str | None


@dataclass(frozen=True)
class Failure:
    path: str
    reason: str
    at: int


@dataclass(frozen=True)
class Waiting:
    path: str
    reason: str
    next_at: int  # Unix time of the next try


@dataclass
class Record:
    """Everything the journal knows of one service, for `status` and the metrics."""

    api_url: str
    app_id: str
    last_upload: tuple[str, int] | None = None  # (path, Unix time)
    last_success: int | None = None  # the end of the last run with nothing failed
    last_run: Run | None = None
    last_failure: Failure | None = None
    retrying: list[Waiting] = field(default_factory=list)
    uploads_recorded: int = 0


class RunLog:
    """One run's record: started, updated as it goes (watch), ended with its exit code."""

    def __init__(self, journal: Journal, api_url: str, app_id: str, kind: str) -> None:
        self._journal = journal
        self._api_url = api_url
        self._app_id = app_id
        self._kind = kind
        self._row: int | None = None
        self._target: int | None = None

    @property
    def journal(self) -> Journal:
        return self._journal

    def start(self) -> None:
        with self._journal.db.writing() as db:
            self._target = self._journal.target(self._api_url, self._app_id, create=True)
            self._row = db.execute(
                "INSERT INTO runs (target, kind, pid, started) VALUES (?, ?, ?, ?)",
                (self._target, self._kind, os.getpid(), int(time.time())),
            ).lastrowid
            db.execute(_KEEP_NEWEST_RUNS, {"target": self._target, "keep": KEEP_RUNS})

    def update(self, figures: Figures, *, healthy: bool) -> None:
        """The figures so far; `healthy` (nothing failing now) counts as a success."""
        with self._journal.db.writing() as db:
            self._write_figures(db, figures)
            if healthy:
                self._succeeded()

    def failed(self, results: Sequence[FileResult]) -> None:
        """Record files that failed, with their reasons."""
        # Files an interrupt kept from starting did not fail: they were not tried.
        failed = [
            r for r in results if r.status.value == "failed" and r.error != NOT_STARTED_REASON
        ][-KEEP_FAILURES:]
        if not failed or self._target is None:
            return
        now = int(time.time())
        with self._journal.db.writing() as db:
            db.executemany(
                "INSERT INTO failures (target, at, path, reason) VALUES (?, ?, ?, ?)",
                [
                    (
                        self._target,
                        now,
                        printable(os.path.abspath(r.path), limit=4096),
                        printable(r.error or "failed", limit=MAX_REASON),
                    )
                    for r in failed
                ],
            )
            db.execute(_KEEP_NEWEST_FAILURES, {"target": self._target, "keep": KEEP_FAILURES})

    def retrying(self, waiting: Iterable[Waiting]) -> None:
        """What a watch waits to retry now: the whole list, replacing the last one."""
        if self._target is None:
            return
        rows = [
            (self._target, w.path, printable(w.reason, limit=MAX_REASON), w.next_at)
            for w in waiting
        ]
        with self._journal.db.writing() as db:
            db.execute("DELETE FROM retrying WHERE target = ?", (self._target,))
            db.executemany(
                "INSERT OR REPLACE INTO retrying (target, path, reason, next_at)"
                " VALUES (?, ?, ?, ?)",
                rows,
            )

    def finish(self, exit_code: int, figures: Figures, message: str | None = None) -> None:
        with self._journal.db.writing() as db:
            self._write_figures(db, figures)
            db.execute(
                "UPDATE runs SET ended = ?, exit_code = ?, message = ? WHERE id = ?",
                (int(time.time()), exit_code, message, self._row),
            )
            if self._kind == "watch":
                db.execute("DELETE FROM retrying WHERE target = ?", (self._target,))
            if exit_code == 0:
                self._succeeded()

    def _write_figures(self, db: sqlite3.Connection, figures: Figures) -> None:
        db.execute(
            "UPDATE runs SET uploaded = ?, skipped = ?, failed = ?, bytes = ? WHERE id = ?",
            (figures.uploaded, figures.skipped, figures.failed, figures.bytes_uploaded, self._row),
        )

    def _succeeded(self) -> None:
        self._journal.db.set_meta(f"last_success:{self._target}", int(time.time()))


def read_record(journal: Journal, api_url: str, app_id: str) -> Record:
    """What the journal knows of one service. Reads only: it never waits for a writer."""
    record = Record(api_url, app_id)
    target = journal.target(api_url, app_id)
    if target is None:
        return record
    with journal.db.reading() as db:
        upload = db.execute(
            "SELECT f.path, u.name, u.at FROM uploads u JOIN folders f ON f.id = u.folder"
            " WHERE u.target = ? ORDER BY u.id DESC LIMIT 1",
            (target,),
        ).fetchone()
        if upload is not None:
            folder, name, at = upload
            record.last_upload = (os.path.join(os.fsdecode(folder), name), at)
        record.uploads_recorded = db.execute(
            "SELECT count(*) FROM uploads WHERE target = ?", (target,)
        ).fetchone()[0]
        run = db.execute(
            "SELECT kind, pid, started, ended, exit_code, uploaded, skipped, failed, bytes,"
            " message FROM runs WHERE target = ? ORDER BY id DESC LIMIT 1",
            (target,),
        ).fetchone()
        if run is not None:
            kind, pid, started, ended, exit_code, *counts, message = run
            record.last_run = Run(kind, pid, started, ended, exit_code, Figures(*counts), message)
        failure = db.execute(
            "SELECT path, reason, at FROM failures WHERE target = ? ORDER BY id DESC LIMIT 1",
            (target,),
        ).fetchone()
        if failure is not None:
            record.last_failure = Failure(*failure)
        record.retrying = [
            Waiting(*row)
            for row in db.execute(
                "SELECT path, reason, next_at FROM retrying WHERE target = ? ORDER BY next_at",
                (target,),
            )
        ]
    record.last_success = last_success(journal, api_url, app_id)
    return record


def last_success(journal: Journal, api_url: str, app_id: str) -> int | None:
    """When this service last had a run end well (a push with exit 0, a healthy watch)."""
    target = journal.target(api_url, app_id)
    if target is None:
        return None
    with journal.db.reading():
        return journal.db.meta(f"last_success:{target}") or None
