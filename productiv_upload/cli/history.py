"""`productiv-upload history`: what the journal recorded, and when."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

from productiv_upload.common.errors import UsageError
from productiv_upload.common.text import human_size, printable
from productiv_upload.core.journal import JOURNAL_NAME, Journal
from productiv_upload.core.state import resolve_state_dir

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
    as_json: bool,
    state_dir: Path | None,
    environ: Mapping[str, str],
    stdout: TextIO,
) -> int:
    since_iso = parse_since(since) if since else None
    path = resolve_state_dir(state_dir, environ) / JOURNAL_NAME
    journal = Journal.open_existing(path)
    uploads = []
    if journal is not None:
        with journal:
            uploads = journal.history(app_id=app_id, since=since_iso)
    if as_json:
        document = {"version": 1, "journal": str(path), "uploads": [u.to_json() for u in uploads]}
        stdout.write(json.dumps(document) + "\n")
        return 0
    if not uploads:
        where = f"in {path}" if journal is not None else f"yet ({path} does not exist)"
        stdout.write(f"no uploads recorded {where}\n")
        return 0
    for upload in uploads:
        stdout.write(
            f"{upload.uploaded_at}  {printable(upload.app_id)}  {printable(upload.filename)}  "
            f"{human_size(upload.size)}  sha256:{upload.sha256[:12]}\n"
        )
    stdout.write(f"{len(uploads)} upload(s) recorded in {path}\n")
    return 0
