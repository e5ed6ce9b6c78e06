"""Keeping the journal small for years: rows whose path no longer holds their file expire.

A row is "in place" until the tool moves or deletes its file (`Journal.forget_paths`), a later
upload from the same path replaces it (`Journal.record_many`), or a sweep finds the file gone
from its folder (here). From then on it is kept `retention` seconds, in case the same file
comes back, and then deleted. A row in place is never deleted, so a file still there is never
sent again.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from productiv_upload.core.journal.database import Database
from productiv_upload.core.journal.store import Journal

# How many rows one call checks for files gone from their folder: bounded work per run, so a
# journal of millions of rows is swept over many runs, never in one.
SWEEP_ROWS = 1000
# Expiry reads every row (an index on `gone` would cost every row about 12 bytes): once a day.
EXPIRE_EVERY_S = 86400


@dataclass(frozen=True)
class Upkeep:
    """What one `maintain` call did."""

    expired: int  # rows deleted
    gone: int  # rows newly found gone from their folder


def maintain(
    journal: Journal,
    api_url: str,
    app_id: str,
    retention_s: float,
    *,
    force: bool = False,
    now: float | None = None,
) -> Upkeep:
    """Sweep the next `SWEEP_ROWS` of this service's rows, and once every `EXPIRE_EVERY_S` (or
    when `force`d) delete its rows gone for longer than `retention_s`."""
    target = journal.target(api_url, app_id)
    if target is None or not journal.writable:
        return Upkeep(0, 0)
    when = int(time.time() if now is None else now)
    expired = 0
    with journal.db.writing() as db:
        gone = _sweep(journal.db, target, when)
        if force or when - journal.db.meta(f"expired_at:{target}") >= EXPIRE_EVERY_S:
            expired = db.execute(
                "DELETE FROM uploads WHERE at + gone < ? AND target = ?",
                (when - retention_s, target),
            ).rowcount
            journal.db.set_meta(f"expired_at:{target}", when)
    return Upkeep(expired, gone)


def _sweep(database: Database, target: int, now: int) -> int:
    """Mark rows gone whose file is missing from its folder; inside the caller's transaction.

    Only where the answer is certain: the folder is there, on the device the file was on (an
    unmounted network share must not look like deleted files), and the name is not. Rows with
    no identity (upgraded from version 1, whose paths may be relative to a lost working
    directory) are never swept.
    """
    db = database.connection
    start = database.meta(f"sweep_from:{target}")
    rows = db.execute(
        "SELECT u.id, f.path, u.name, u.dev FROM uploads u JOIN folders f ON f.id = u.folder"
        " WHERE u.id >= ? AND u.id < ? AND u.target = ? AND u.gone IS NULL"
        " AND u.dev IS NOT NULL",
        (start, start + SWEEP_ROWS, target),
    ).fetchall()
    last = db.execute("SELECT max(id) FROM uploads").fetchone()[0] or 0
    database.set_meta(
        f"sweep_from:{target}", start + SWEEP_ROWS if start + SWEEP_ROWS <= last else 0
    )
    devices: dict[str, int | None] = {}
    missing = []
    for row, folder_bytes, name, dev in rows:
        folder = os.fsdecode(folder_bytes)
        if folder not in devices:
            try:
                devices[folder] = os.stat(folder).st_dev
            except OSError:
                devices[folder] = None
        if devices[folder] != dev:
            continue
        try:
            os.lstat(os.path.join(folder, name))
        except FileNotFoundError:
            missing.append((now, row))
        except OSError:
            continue
    db.executemany("UPDATE uploads SET gone = max(? - at, 0) WHERE id = ?", missing)
    return len(missing)
