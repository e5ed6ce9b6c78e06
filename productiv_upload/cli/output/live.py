"""The live view of a push on a terminal: one overall line, and one row per transfer in flight.

What the figures mean (the README's "What you see" says the same):
- The overall bar and its byte count hold the bytes of files storage has answered 200 for,
  verified and recorded in the journal: the bytes that are stored for certain.
- A row's bar and byte count hold the bytes of that file handed to its connection so far.
  Handing bytes over is not storing them, so a row's bar never fills: its last cell stands
  for storage's answer, and once every byte is handed over the row says "awaiting answer".
  A file leaves its row when the answer is in.
- The rate is the bytes handed to connections per second over the last few seconds; the time
  left comes from that rate and from how fast files have been finishing.
- "N in flight" is followed by exactly N rows, or by as many as fit and a line counting the
  others.

Every column has a width that depends only on the terminal's width and the number of files,
so nothing shifts from one frame to the next. Sizes and rates use one unit family
(`human_size`: B, kB, MB, GB, powers of 1000), as the summary and the table do.
"""

from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass

from rich.cells import cell_len, set_cell_size
from rich.console import Console, Group
from rich.live import Live
from rich.text import Text

from productiv_upload.common.text import human_size, printable
from productiv_upload.core.model import FileResult, LocalFile, Status

REFRESH_PER_SECOND = 8
RATE_WINDOW_S = 5.0  # the rate is measured over this much of the recent past
MAX_ROWS = 12  # rows for transfers in flight, at most; fewer on a short terminal
SHOW_FILE_RATE_AFTER_S = 0.5  # a row shows its own rate once it has been sending this long
BYTES_WIDTH = len("999.9 MB/999.9 MB")
STATE_WIDTH = len("awaiting answer")
ETA_WIDTH = len("0:00:00")
DONE, LEFT = "━", "─"  # distinct shapes, so the bars read the same without colours


@dataclass
class _Transfer:
    """One file in flight, as its row shows it."""

    label: str
    size: int
    attempt_started: float
    sent: int = 0  # bytes handed to the connection in this attempt
    retrying: bool = False  # a try failed; the next has not sent a byte yet
    quiet_since: float | None = None  # since when nothing has moved, if that is worth telling


@dataclass(frozen=True)
class _Sample:
    at: float
    sent: int  # bytes handed to connections since the start, all files
    finished: int  # files that were sent and have their answer


@dataclass(frozen=True)
class _Columns:
    label: int
    bar: int


def _columns(width: int, total_files: int) -> _Columns:
    overall = len(f"{total_files}/{total_files} files")
    label = max(overall, min(40, width // 4))
    bar = width - label - BYTES_WIDTH - STATE_WIDTH - ETA_WIDTH - 4  # four single spaces
    return _Columns(label, max(bar, 4))


def _fit(text: str, width: int) -> str:
    """`text` cut (with an ellipsis) or padded to exactly `width` terminal cells."""
    if cell_len(text) > width:
        return set_cell_size(text, width - 1) + "…"
    return set_cell_size(text, width)


def _bar(done: int, total: int, width: int, *, reserve_last: bool) -> tuple[str, str]:
    """The done and the left part of a bar; with `reserve_last`, the last cell never fills."""
    cells = width - 1 if reserve_last else width
    filled = 0 if total <= 0 else min(cells, done * cells // total)
    return DONE * filled, LEFT * (width - filled)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-:--:--"
    whole = int(seconds + 0.999)  # 0.2 s left shows as 0:00:01, not as done
    hours, rest = divmod(min(whole, 99 * 3600 + 3599), 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


def _byte_pair(done: int, total: int) -> str:
    return f"{human_size(done):>8}/{human_size(total):<8}"


class LiveView:
    """What the live view knows of the run, and how it draws one frame. Thread-safe."""

    def __init__(self, *, max_rows: int = MAX_ROWS) -> None:
        self._lock = threading.Lock()
        self._max_rows = max_rows
        self._files = 0
        self._bytes_total = 0
        self._done = 0
        self._failed = 0
        self._stored = 0  # bytes of files storage answered for, verified and recorded
        self._sent = 0  # bytes handed to connections, all files, retries rewound
        self._finished_sends = 0  # files that had a transfer and are done with it
        self._in_flight: dict[str, _Transfer] = {}
        self._samples: collections.deque[_Sample] = collections.deque()

    # --- told by the run, from worker threads ---

    def start(self, files: int, total_bytes: int) -> None:
        with self._lock:
            self._files, self._bytes_total = files, total_bytes
            self._samples.append(_Sample(time.monotonic(), 0, 0))

    def file_started(self, file: LocalFile) -> None:
        with self._lock:
            self._in_flight[file.filename] = _Transfer(
                printable(file.filename), file.size, time.monotonic()
            )

    def bytes_sent(self, file: LocalFile, count: int) -> None:
        with self._lock:
            self._sent += count
            transfer = self._in_flight.get(file.filename)
            if transfer is None:
                return
            if count < 0:  # a try failed and the next starts from the first byte
                transfer.sent, transfer.retrying, transfer.quiet_since = 0, True, None
                return
            if transfer.retrying:
                transfer.retrying, transfer.attempt_started = False, time.monotonic()
            transfer.sent += count

    def waiting(self, file: LocalFile, seconds: float) -> None:
        with self._lock:
            transfer = self._in_flight.get(file.filename)
            if transfer is not None:
                transfer.quiet_since = time.monotonic() - seconds if seconds else None

    def file_finished(self, result: FileResult) -> None:
        with self._lock:
            self._done += 1
            if self._in_flight.pop(result.filename, None) is not None:
                self._finished_sends += 1
            if result.status is Status.UPLOADED:
                self._stored += result.size
            elif result.status is Status.FAILED:
                self._failed += 1

    # --- drawn by the live display's thread ---

    def render(self, width: int, height: int) -> Group:
        now = time.monotonic()
        with self._lock:
            rate, files_rate = self._rates(now)
            columns = _columns(width, self._files)
            lines = [self._overall_line(columns, rate, files_rate)]
            flying = list(self._in_flight.values())
            rows = max(1, min(self._max_rows, height - 4))
            shown = flying if len(flying) <= rows else flying[: rows - 1]
            summary = f"{len(flying)} in flight"
            if self._failed:
                summary += f", {self._failed} failed so far"
            lines.append(Text(summary, no_wrap=True, overflow="crop"))
            lines.extend(self._row(t, columns, now) for t in shown)
            if len(shown) < len(flying):
                hidden = len(flying) - len(shown)
                lines.append(Text(f"  … and {hidden} more in flight", style="dim"))
        return Group(*lines)

    def _rates(self, now: float) -> tuple[float, float]:
        """Bytes handed over per second, and files finished per second, lately."""
        samples = self._samples
        samples.append(_Sample(now, self._sent, self._finished_sends))
        while len(samples) > 2 and samples[1].at <= now - RATE_WINDOW_S:
            samples.popleft()
        first = samples[0]
        span = now - first.at
        if span <= 0:
            return 0.0, 0.0
        return (self._sent - first.sent) / span, (self._finished_sends - first.finished) / span

    def _eta(self, rate: float, files_rate: float) -> float | None:
        estimates = []
        if rate > 0:
            estimates.append(max(self._bytes_total - self._sent, 0) / rate)
        if files_rate > 0:
            estimates.append((self._files - self._done) / files_rate)
        return max(estimates) if estimates else None

    def _overall_line(self, columns: _Columns, rate: float, files_rate: float) -> Text:
        digits = len(str(self._files))
        label = f"{self._done:>{digits}}/{self._files} files"
        if self._bytes_total > 0:
            done, left = _bar(self._stored, self._bytes_total, columns.bar, reserve_last=False)
        else:
            done, left = _bar(self._done, self._files, columns.bar, reserve_last=False)
        moved = self._sent > 0 or self._stored > 0
        shown_rate = f"{human_size(rate)}/s" if moved else ""
        eta = _duration(self._eta(rate, files_rate)) if self._done < self._files else ""
        return Text.assemble(
            (_fit(label, columns.label), "bold"),
            " ",
            (done, "green"),
            (left, "dim"),
            " ",
            _byte_pair(self._stored, self._bytes_total),
            " ",
            shown_rate.rjust(STATE_WIDTH),
            " ",
            eta.rjust(ETA_WIDTH),
            no_wrap=True,
            overflow="crop",
        )

    def _row(self, transfer: _Transfer, columns: _Columns, now: float) -> Text:
        done, left = _bar(transfer.sent, transfer.size, columns.bar, reserve_last=True)
        sending_for = now - transfer.attempt_started
        if transfer.retrying:
            state = "retrying"
        elif transfer.quiet_since is not None:
            state = f"waiting {now - transfer.quiet_since:.0f} s"
        elif transfer.sent >= transfer.size:
            state = "awaiting answer"
        elif transfer.sent > 0 and sending_for >= SHOW_FILE_RATE_AFTER_S:
            state = f"{human_size(transfer.sent / sending_for)}/s"
        else:
            state = "sending"
        return Text.assemble(
            _fit("  " + transfer.label, columns.label),
            " ",
            (done, "cyan"),
            (left, "dim"),
            " ",
            _byte_pair(transfer.sent, transfer.size),
            " ",
            state.rjust(STATE_WIDTH),
            no_wrap=True,
            overflow="crop",
        )


class LiveDisplay:
    """The view on a console, redrawn by rich's own thread; gone when the run ends."""

    def __init__(self, console: Console, view: LiveView) -> None:
        self._console = console
        self._view = view
        self._live = Live(
            console=console,
            refresh_per_second=REFRESH_PER_SECOND,
            transient=True,  # the table and summary replace the view when the run ends
            get_renderable=self._frame,
        )

    def _frame(self) -> Group:
        return self._view.render(self._console.width, self._console.height)

    def start(self) -> None:
        self._live.start()

    def stop(self) -> None:
        self._live.stop()

    def print(self, text: Text) -> None:
        """A line above the view (a failed file, a notice), which stays when the view goes."""
        self._live.console.print(text)
