"""`--metrics-file`: Prometheus text exposition for node_exporter's textfile collector.

The figures are put in a registry of the official client library (`prometheus_client`), which
writes the format, and the file is replaced atomically by `write_whole`: a scrape never reads a
partial file, no temporary file is left beside it (node_exporter reads only `*.prom`, but a
leftover would still be clutter), and the file is 0644 whatever the service's umask, since
node_exporter runs as its own user. The library's own `write_to_textfile` leaves the mode to
the umask, which a hardened unit sets to 0077.

prometheus_client is imported only when a metrics file is written: it costs about 60 ms, which
`--version`, `--help` and a Tab must not pay.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from productiv_upload import __version__
from productiv_upload.common.files import write_whole
from productiv_upload.common.text import printable
from productiv_upload.core.journal.runs import Figures

PREFIX = "productiv_upload"


@dataclass(frozen=True)
class Snapshot:
    """What one write of the metrics file says of one app."""

    app_id: str
    command: str  # "push" or "watch"
    figures: Figures  # the last run's (push) or since the service started (watch)
    last_run: float  # Unix time: the end of the last push, or the watch's last pass
    last_success: float | None  # the last push that exited 0; the watch's last healthy pass
    exit_code: int | None = None  # the last push's; None for a running watch
    settling: int | None = None  # watch: files waiting to settle
    retrying: int | None = None  # watch: files waiting to be tried again


def render(snapshot: Snapshot) -> bytes:
    """The exposition text for `snapshot`."""
    from prometheus_client import CollectorRegistry, Gauge, generate_latest

    registry = CollectorRegistry(auto_describe=True)
    app = snapshot.app_id

    def gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> Gauge:
        return Gauge(f"{PREFIX}_{name}", doc, ("app_id", *labels), registry=registry)

    files = gauge(
        "files",
        "Files by outcome, in the last push or since the watch service started.",
        ("status",),
    )
    for status in ("uploaded", "skipped", "failed"):
        files.labels(app, status).set(getattr(snapshot.figures, status))
    gauge("uploaded_bytes", "Bytes uploaded, in the last push or since the watch started.").labels(
        app
    ).set(snapshot.figures.bytes_uploaded)
    gauge(
        "last_run_timestamp_seconds",
        "When the last push ended, or when the watch service last went round its loop.",
    ).labels(app).set(snapshot.last_run)
    if snapshot.last_success is not None:
        gauge(
            "last_success_timestamp_seconds",
            "When the last push that exited 0 ended, or the watch last had nothing failing.",
        ).labels(app).set(snapshot.last_success)
    if snapshot.exit_code is not None:
        gauge("last_run_exit_code", "The exit code of the last push.").labels(app).set(
            snapshot.exit_code
        )
    if snapshot.settling is not None and snapshot.retrying is not None:
        waiting = gauge(
            "files_waiting", "Files the watch service holds: settling, or to retry.", ("reason",)
        )
        waiting.labels(app, "settling").set(snapshot.settling)
        waiting.labels(app, "retry").set(snapshot.retrying)
    info = gauge(
        "info", "The tool writing this file: its version and command.", ("version", "command")
    )
    info.labels(app, __version__, snapshot.command).set(1)
    return bytes(generate_latest(registry))


def write_metrics(path: Path, snapshot: Snapshot) -> str | None:
    """Replace the metrics file atomically, readable by every user (0644); None once written,
    else what went wrong, for the caller to say (the uploads stand either way)."""
    try:
        write_whole(path, render(snapshot), mode=0o644)
    except OSError as error:
        return f"cannot write --metrics-file {printable(str(path))}: {error.strerror or error}"
    return None
