"""`productiv-upload status`: the state of each app's uploads, for an operator, right now.

Read-only: the journal is opened read-only (SQLite's WAL lets it read while a push or watch
writes, without waiting for it or making it wait), and who holds an app's lock is read from the
kernel's lock table, never by trying the lock.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from productiv_upload.common.errors import UsageError
from productiv_upload.common.text import human_size, plural, printable
from productiv_upload.core.journal import JOURNAL_NAME, Journal, iso
from productiv_upload.core.journal.runs import Record, read_record
from productiv_upload.core.session.lock import Holder, lock_holder
from productiv_upload.core.settings.shared import ServiceChoice
from productiv_upload.core.settings.state_dir import resolve_state_dir


def run_status(
    *,
    app_id: str | None,
    as_json: bool,
    state_dir: Path | None,
    environ: Mapping[str, str],
    stdout: TextIO,
) -> int:
    folder = resolve_state_dir(state_dir, environ)
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"the state directory {printable(str(folder))} is not a folder")
    path = folder / JOURNAL_NAME
    journal = Journal.open_existing(path)
    apps: list[tuple[Record, Holder | None]] = []
    journal_bytes = 0
    if journal is not None:
        with journal:
            journal_bytes = journal.bytes_on_disk()
            for api_url, app in _services(journal, app_id, environ):
                apps.append((read_record(journal, api_url, app), lock_holder(folder, api_url, app)))
    elif app_id is not None:
        for api_url, app in _configured(app_id, environ):
            apps.append((Record(api_url, app), lock_holder(folder, api_url, app)))
    # An app named with --app-id but never seen here, and not running now, has nothing to show.
    apps = [(record, holder) for record, holder in apps if holder or not _empty(record)]
    if as_json:
        stdout.write(json.dumps(_document(folder, path, journal_bytes, apps)) + "\n")
        return 0
    exists = "" if path.exists() else " (none yet)"
    stdout.write(
        f"state directory {printable(str(folder))}: journal {printable(str(path))}{exists}, "
        f"{human_size(journal_bytes)}\n"
    )
    if not apps:
        which = f"app {printable(app_id)}" if app_id else "any app"
        stdout.write(f"nothing recorded for {which} yet\n")
    for record, holder in apps:
        _write_app(stdout, record, holder)
    return 0


def _empty(record: Record) -> bool:
    return record.last_run is None and record.last_upload is None and not record.retrying


def _services(
    journal: Journal, app_id: str | None, environ: Mapping[str, str]
) -> list[tuple[str, str]]:
    found = [(api, app) for api, app in journal.apps(with_runs=True) if app_id in (None, app)]
    if app_id is not None and not found:
        found = _configured(app_id, environ)
    return found


def _configured(app_id: str, environ: Mapping[str, str]) -> list[tuple[str, str]]:
    """The app at its configured API URL: a watch may hold its lock before recording a run."""
    try:
        service = ServiceChoice(app_id=app_id).resolve(environ, need_credentials=False)
    except UsageError:
        return []
    return [(service.api_url.rstrip("/"), service.app_id)]


def _write_app(out: TextIO, record: Record, holder: Holder | None) -> None:
    out.write(f"\napp {printable(record.app_id)} at {printable(record.api_url)}\n")
    rows = [("running", _running(holder))]
    if record.last_upload is not None:
        path, at = record.last_upload
        rows.append(("last upload", f"{iso(at)}  {printable(path)}"))
    else:
        rows.append(("last upload", "none recorded"))
    rows.append(("last success", iso(record.last_success) if record.last_success else "none"))
    run = record.last_run
    if run is not None:
        state = f"ended {iso(run.ended)}, exit {run.exit_code}" if run.ended else "no end recorded"
        running = run.ended is None and holder is not None and holder.pid == run.pid
        figures = run.figures
        done = f": {figures.uploaded} uploaded, {figures.skipped} skipped, {figures.failed} failed"
        if running:
            # A push records its figures when it ends; a watch as it goes.
            state, done = "running", done if run.kind == "watch" else ""
        rows.append(
            (
                "last run",
                (
                    f"{run.kind}, PID {run.pid}, started {iso(run.started)}, {state}{done}"
                    + (f"; {printable(run.message)}" if run.message else "")
                ),
            )
        )
    failure = record.last_failure
    if failure is None:
        rows.append(("last failure", "none"))
    else:
        where = f"{iso(failure.at)}  {printable(failure.path)}"
        rows.append(("last failure", f"{where}: {printable(failure.reason)}"))
    if record.retrying:
        rows.append(("to retry", plural(len(record.retrying), "file")))
        rows += [
            ("", f"{printable(w.path)} at {iso(w.next_at)}: {printable(w.reason)}")
            for w in record.retrying[:20]
        ]
        if len(record.retrying) > 20:
            rows.append(("", f"... and {len(record.retrying) - 20} more (--json lists all)"))
    rows.append(("journal", f"{plural(record.uploads_recorded, 'upload')} recorded"))
    for label, text in rows:
        out.write(f"  {label + (':' if label else ''):<14}{text}\n")


def _running(holder: Holder | None) -> str:
    if holder is None:
        return "nothing (the lock is free)"
    since = f", since {iso(holder.since)}" if holder.since else ""
    return f"a {holder.kind or 'push or watch'}, PID {holder.pid}{since}"


def _document(
    folder: Path, journal: Path, journal_bytes: int, apps: list[tuple[Record, Holder | None]]
) -> dict[str, Any]:
    return {
        "version": 1,
        "state_dir": str(folder),
        "journal": str(journal),
        "journal_bytes": journal_bytes,
        "apps": [_app_json(record, holder) for record, holder in apps],
    }


def _app_json(record: Record, holder: Holder | None) -> dict[str, Any]:
    run = record.last_run
    failure = record.last_failure
    return {
        "app_id": record.app_id,
        "api_url": record.api_url,
        "running": None
        if holder is None
        else {
            "kind": holder.kind,
            "pid": holder.pid,
            "since": iso(holder.since) if holder.since else None,
        },
        "last_upload": None
        if record.last_upload is None
        else {
            "path": record.last_upload[0],
            "at": iso(record.last_upload[1]),
        },
        "last_success": iso(record.last_success) if record.last_success else None,
        "last_run": None
        if run is None
        else {
            "kind": run.kind,
            "pid": run.pid,
            "started": iso(run.started),
            "ended": iso(run.ended) if run.ended else None,
            "exit_code": run.exit_code,
            "uploaded": run.figures.uploaded,
            "skipped": run.figures.skipped,
            "failed": run.figures.failed,
            "bytes_uploaded": run.figures.bytes_uploaded,
            "message": run.message,
        },
        "last_failure": None
        if failure is None
        else {
            "path": failure.path,
            "reason": failure.reason,
            "at": iso(failure.at),
        },
        "retrying": [
            {"path": w.path, "reason": w.reason, "next_at": iso(w.next_at)} for w in record.retrying
        ],
        "uploads_recorded": record.uploads_recorded,
    }
