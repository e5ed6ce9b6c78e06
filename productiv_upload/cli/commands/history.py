"""`productiv-upload history`: what the journal recorded, and when."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

from productiv_upload.common.errors import UsageError
from productiv_upload.common.text import human_size, plural, printable
from productiv_upload.core.journal import JOURNAL_NAME, Journal, Upload
from productiv_upload.core.settings.state_dir import resolve_state_dir

_RELATIVE = re.compile(r"^(\d+)\s*([mhd])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def parse_since(value: str, *, now: datetime | None = None) -> str:
    """'24h', '7d', '30m', or an ISO date or time (UTC unless it says otherwise)."""
    now = now or datetime.now(UTC)
    relative = _RELATIVE.match(value.strip())
    if relative:
        moment = now - timedelta(**{_UNITS[relative.group(2)]: int(relative.group(1))})
    else:
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise UsageError(
                f"--since {printable(value)!r} is not understood; use for example 24h, 7d, "
                "2026-11-01 or 2026-11-01T08:00"
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def run_history(
    *,
    app_id: str | None,
    since: str | None,
    limit: int | None = None,
    as_json: bool,
    state_dir: Path | None,
    environ: Mapping[str, str],
    stdout: TextIO,
) -> int:
    """Stream the journal's uploads, oldest first (the newest `limit` with --limit)."""
    since_iso = parse_since(since) if since else None
    path = resolve_state_dir(state_dir, environ) / JOURNAL_NAME
    journal = Journal.open_existing(path)
    if journal is None:
        if as_json:
            stdout.write(json.dumps({"version": 2, "journal": str(path), "uploads": []}) + "\n")
        else:
            stdout.write(f"no uploads recorded yet ({printable(str(path))} does not exist)\n")
        return 0
    with journal:
        uploads = journal.history(app_id=app_id, since=since_iso, limit=limit)
        if as_json:
            _write_json(stdout, path, uploads)
        else:
            counted = limit is not None and since_iso is None
            total = journal.count(app_id) if counted else None
            _write_lines(stdout, path, journal.apps(), uploads, app_id, total)
    return 0


def _write_json(stdout: TextIO, path: Path, uploads: Iterator[Upload]) -> None:
    """One JSON document, written as it is read: memory stays flat however long the journal."""
    stdout.write(f'{{"version": 2, "journal": {json.dumps(str(path))}, "uploads": [')
    for chunk in _chunks(json.dumps(upload.to_json()) for upload in uploads):
        stdout.write(chunk)
    stdout.write("\n]}\n")


def _write_lines(
    stdout: TextIO,
    path: Path,
    apps: list[tuple[str, str]],
    uploads: Iterator[Upload],
    app_id: str | None,
    total: int | None,
) -> None:
    shown = [(api, app) for api, app in apps if app_id is None or app == app_id]
    services = "; ".join(f"app {printable(app)} at {printable(api)}" for api, app in shown)
    stdout.write(f"journal {printable(str(path))}: {services or 'no uploads'}\n")
    count = 0

    def lines() -> Iterator[str]:
        nonlocal count
        for upload in uploads:
            gone = f"  (gone since {upload.gone_at})" if upload.gone_at else ""
            count += 1
            yield (
                f"{upload.uploaded_at}  {printable(upload.app_id)}  {printable(upload.path)}  "
                f"{human_size(upload.size)}  sha256:{upload.sha256[:12]}{gone}"
            )

    for chunk in _chunks(lines(), first="", separator="\n"):
        stdout.write(chunk)
    of = f" (the newest of {total})" if total is not None and total > count else ""
    stdout.write(f"{'' if count == 0 else chr(10)}{plural(count, 'upload')} shown{of}\n")


def _chunks(
    items: Iterator[str], *, first: str = "\n", separator: str = ",\n", size: int = 1000
) -> Iterator[str]:
    """Items joined a thousand at a time: every write passes the redactor, which costs per
    call, and memory stays bounded."""
    batch: list[str] = []
    lead = first
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield lead + separator.join(batch)
            batch, lead = [], separator
    if batch:
        yield lead + separator.join(batch)
