"""The live view, frame by frame, on a real pseudo-terminal at the widths people use.

The sandbox holds each PUT's answer back after reading its body, so frames are caught while
files are in flight: every byte handed over, no answer yet.
"""

from __future__ import annotations

import re
import signal
from dataclasses import dataclass
from pathlib import Path

import pytest

from productiv_upload.sandbox import Sandbox
from tests.terminal import Frame, TerminalRun

OVERALL = re.compile(r"^ *(\d+)/(\d+) files ")
IN_FLIGHT = re.compile(r"^(\d+) in flight")
MORE = re.compile(r"^  … and (\d+) more in flight$")
BYTES = re.compile(r"(\d+(?:\.\d)? [kMG]?B)/(\d+(?:\.\d)? [kMG]?B)")
BAR = re.compile(r"[━─]+")
RATE = re.compile(r"\d+(?:\.\d)? [kMG]?B/s")
SIZE_UNITS = {"B", "kB", "MB", "GB"}


@dataclass
class LiveFrame:
    """A frame of the live view, taken apart, with what storage had answered when it was read."""

    overall: str
    done: int
    rows: list[str]
    in_flight: int
    hidden: int
    answered: int


def stored_puts(sandbox: Sandbox) -> int:
    return sum(1 for r in sandbox.requests_of("put") if r.status == 200)


def parse(frame: Frame, answered: int) -> LiveFrame | None:
    """The live view in `frame`, or None when the frame shows something else."""
    starts = [i for i, line in enumerate(frame) if OVERALL.match(line)]
    if not starts or starts[-1] + 1 >= len(frame):
        return None
    top = starts[-1]
    flying = IN_FLIGHT.match(frame[top + 1])
    if flying is None:
        return None
    rows, hidden = [], 0
    for line in frame[top + 2 :]:
        more = MORE.match(line)
        if more:
            hidden = int(more[1])
            break
        rows.append(line)
    overall = OVERALL.match(frame[top])
    assert overall is not None
    return LiveFrame(frame[top], int(overall[1]), rows, int(flying[1]), hidden, answered)


def bar_of(line: str) -> tuple[int, str]:
    """Where a line's bar starts, and the bar."""
    match = BAR.search(line)
    assert match, line
    return match.start(), match.group()


def slash_of(line: str) -> int:
    """The column of the '/' between the bytes done and the bytes in all."""
    match = BYTES.search(line)
    assert match, line
    assert {match[1].split()[1], match[2].split()[1]} <= SIZE_UNITS, line
    return match.end(1)


def bytes_done(line: str) -> str:
    match = BYTES.search(line)
    assert match, line
    return match[1]


def run_and_watch(sandbox: Sandbox, files: list[Path], columns: int, lines: int) -> list[LiveFrame]:
    sandbox.faults.stall_puts_s = 0.8
    terminal = TerminalRun("push", "-j", "6", *map(str, files), columns=columns, lines=lines)
    seen: list[LiveFrame] = []

    def on_frame(frame: Frame) -> None:
        live = parse(frame, stored_puts(sandbox))
        if live is not None:
            seen.append(live)

    assert terminal.run(on_frame) == 0, "\n".join(terminal.display())
    final = " ".join(terminal.display())
    assert re.search(rf"{len(files)} files: {len(files)} uploaded, 0 skipped, 0 failed;", final)
    return seen


def make_exports(folder: Path, count: int) -> list[Path]:
    folder.mkdir()
    paths = []
    for number in range(count):
        path = folder / f"export-{number:02d}.json"
        path.write_bytes(b"x" * (40_000 + 23_456 * number))
        paths.append(path)
    return paths


@pytest.mark.parametrize(("columns", "lines"), [(80, 24), (120, 40), (80, 8)])
def test_frames_claim_nothing_before_storage_answers_and_keep_their_columns(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path, columns: int, lines: int
) -> None:
    files = make_exports(tmp_path / "exports", 12)

    frames = run_and_watch(sandbox, files, columns, lines)

    assert len(frames) >= 3
    # Caught mid-run: every byte of the first files handed over, and no answer yet.
    assert any(f.done == 0 and "awaiting answer" in " ".join(f.rows) for f in frames)
    bar_starts, slashes = set(), set()
    for frame in frames:
        # Files count as done only once storage has answered for them.
        assert frame.done <= frame.answered, frame
        # As many rows as it says are in flight (a line counts those that do not fit).
        assert len(frame.rows) + frame.hidden == frame.in_flight, frame
        if lines >= 24:
            assert frame.hidden == 0, frame
        for row in frame.rows:
            start, bar = bar_of(row)
            assert bar.endswith("─"), row  # a row's bar never fills: the answer is not in
            bar_starts.add(start)
            slashes.add(slash_of(row))
        overall_start, overall_bar = bar_of(frame.overall)
        bar_starts.add(overall_start)
        slashes.add(slash_of(frame.overall))
        if any(bytes_done(row) != "0 B" for row in frame.rows):
            assert RATE.search(frame.overall), frame.overall  # bytes moved: a rate, not "?"
        assert "?" not in frame.overall
        if frame.done < len(files):
            assert overall_bar.endswith("─"), frame.overall  # not all stored: not full
    # Every column stays where it was, in every frame and on every line.
    assert len(bar_starts) == 1, bar_starts
    assert len(slashes) == 1, slashes


def test_a_short_run_says_how_long_it_took_in_milliseconds(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    files = make_exports(tmp_path / "exports", 3)

    terminal = TerminalRun("push", *map(str, files), columns=80)

    assert terminal.run() == 0
    summary = terminal.display()[-1]
    assert re.fullmatch(r"3 files: 3 uploaded, 0 skipped, 0 failed; 190\.4 kB in \d+ ms "
                        r"\(\d+(\.\d)? [kMG]?B/s\)", summary), summary  # fmt: skip


def test_an_interrupt_on_a_terminal_shows_the_files_never_started_in_one_line(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    for number in range(300):
        (folder / f"e-{number:03d}.json").write_text(f'{{"n": {number}}}\n')
    sandbox.faults.latency_s = 0.05
    # Wide enough that the summary line does not wrap, so it can be read back whole.
    terminal = TerminalRun("push", "-j", "4", str(folder / "*.json"), columns=200, lines=60)
    interrupted: list[Frame] = []

    def on_frame(frame: Frame) -> None:
        if stored_puts(sandbox) >= 8 and not interrupted:  # once: a second stops at once
            terminal.process.send_signal(signal.SIGINT)
            interrupted.append(frame)

    assert terminal.run(on_frame) == 130
    screen = terminal.display()
    text = "\n".join(screen)
    uploaded = stored_puts(sandbox)
    assert not any("interrupted before it was sent" in line for line in screen)
    [line] = [line for line in screen if "not sent: the run was interrupted" in line]
    not_sent = int(line.split()[0])
    assert line == f"{not_sent} files not sent: the run was interrupted before they started"
    assert f"300 files: {uploaded} uploaded, 0 skipped, " in text
    assert f"{not_sent} not sent;" in text
    assert "interrupted: run the same command again to send the rest" in text
