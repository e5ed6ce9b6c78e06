"""Benchmark productiv-upload against the loops people would otherwise write; see README.md.

    python bench/run.py [--quick] [--network] [--json-out PATH]

Everything runs on 127.0.0.1: each measured run gets a fresh sandbox in its own process
(bench/sandbox_server.py), the data is generated in a temporary folder that is deleted at the
end, and what landed in the sandbox is checked after every run.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import math
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import measure

from productiv_upload import __version__
from productiv_upload.sandbox import SANDBOX_APP_ID, SANDBOX_TOKEN

BENCH = Path(__file__).resolve().parent
TAB = (
    f'source "{BENCH.parent / "completions" / "productiv-upload.bash"}"; '
    "COMP_WORDS=(productiv-upload push --conc); COMP_CWORD=2; _productiv_upload; "
    "[[ ${COMPREPLY[*]} == --concurrency ]]"
)
PEERS = BENCH / "peers"
PYTHON = sys.executable
TOOL = str(Path(PYTHON).parent / "productiv-upload")
KIB, MIB = 1024, 1024 * 1024
LATENCY_S = 0.020  # scenario 1
FLOOR_NOTE = "its PUT phase only; URLs fetched first, untimed"
RATE_LIMIT_MIB_S = 10  # scenario 5: `--limit-rate 10M`, read as MiB/s like curl's option


@dataclass(frozen=True)
class Scale:
    quick: bool
    s1_files: int  # 4 KiB files with 20 ms latency
    s1_sequential_files: int  # of those, sent by the sequential peers (the rest extrapolated)
    s2_files: int  # 1 KiB files without latency (and twice as many for the doubling check)
    s2_sequential_files: int
    big_sizes: tuple[int, ...]
    startup_runs: int
    rate_bytes: int


FULL = Scale(False, 2000, 2000, 10_000, 10_000, (200 * MIB, 2048 * MIB), 10, 40 * MIB)
QUICK = Scale(True, 500, 100, 1000, 300, (200 * MIB,), 5, 20 * MIB)


@dataclass
class Row:
    scenario: str
    runner: str
    work: str
    wall_s: float | None = None
    rate: float | None = None
    rate_unit: str = ""  # "files/s", "MiB/s", "rows/s"
    peak_rss_mb: float | None = None
    ratio: float | None = None
    ratio_to: str = ""  # what the ratio divides by
    extrapolated_from: int | None = None  # files actually sent, when wall_s is extrapolated
    failed: bool = False
    note: str = ""


@dataclass(frozen=True)
class Outcome:
    run: measure.Measured
    problem: str  # empty when the command succeeded and everything landed intact

    @property
    def ok(self) -> bool:
        return not self.problem


def busy_cpu_s() -> float:
    """CPU seconds the whole machine has spent busy since boot, from /proc/stat."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def own_cpu_s() -> float:
    """CPU seconds of this process and every descendant it (or they) waited for."""
    mine = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return mine.ru_utime + mine.ru_stime + children.ru_utime + children.ru_stime


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def run_once(command: list[str], columns: int | None) -> measure.Measured:
    """One run with stdout a file, or on a pseudo-terminal of `columns` when given."""
    if columns is None:
        return measure.run(command, env=base_env())
    # The terminal's own width, not one the caller's shell exported.
    env = {k: v for k, v in base_env().items() if k not in ("COLUMNS", "LINES")}
    return measure.run(command, env=env, terminal=True, columns=columns)


def base_env() -> dict[str, str]:
    """The caller's environment without proxies (nothing may leave loopback) and without the
    caller's own PRODUCTIV_* settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.lower().endswith("_proxy") and not k.startswith("PRODUCTIV_")
    }
    env["NO_PROXY"] = env["no_proxy"] = "*"
    return env


class Bench:
    def __init__(self, scale: Scale, tmp: Path) -> None:
        self.scale = scale
        self.tmp = tmp
        self._runs = 0
        self.run_timeout_s = 540.0  # a run still going then is killed (and marked FAILED)

    # --- where the runs happen: overridden by bench/network.py (TLS, a namespace's link) ---

    def wrap(self, command: Sequence[str | Path]) -> list[str | Path]:
        """`command` as the sandbox and every runner are started."""
        return list(command)

    def sandbox_options(self) -> list[str | Path]:
        """More options for sandbox_server.py."""
        return []

    def sandbox_env(self) -> dict[str, str] | None:
        """The sandbox process's environment (None: this process's)."""
        return None

    def tool_env(self) -> dict[str, str]:
        """More environment for the runners."""
        return {}

    # --- data and sandboxes ---

    def make_files(self, name: str, count: int, size: int) -> Path:
        folder = self.tmp / name
        folder.mkdir()
        for number in range(count):
            (folder / f"{name}-{number:06d}.bin").write_bytes(os.urandom(size))
        return folder

    @contextmanager
    def sandbox(self, latency_s: float) -> Iterator[tuple[str, Path]]:
        """A fresh sandbox process: (API URL, the folder where the app's uploads land)."""
        self._runs += 1
        storage = self.tmp / f"sandbox-{self._runs}"
        server: list[str | Path] = [PYTHON, BENCH / "sandbox_server.py", storage]
        process = subprocess.Popen(  # noqa: S603
            self.wrap([*server, "--latency", str(latency_s), *self.sandbox_options()]),
            stdout=subprocess.PIPE,
            text=True,
            env=self.sandbox_env(),
        )
        try:
            assert process.stdout is not None
            api_url = process.stdout.readline().strip()
            if not api_url.startswith(("http://127.0.0.1:", "https://127.0.0.1:")):
                raise RuntimeError(f"the sandbox did not start (it printed {api_url!r})")
            yield api_url, storage / SANDBOX_APP_ID
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            shutil.rmtree(storage, ignore_errors=True)

    def upload(
        self,
        command: Sequence[str | Path],
        *,
        files: int,
        total_bytes: int,
        latency_s: float = 0.0,
        terminal: bool = False,
    ) -> Outcome:
        """Run one upload command against a fresh sandbox and check what landed."""
        with self.sandbox(latency_s) as (api_url, landing):
            env = base_env() | {
                "PRODUCTIV_API_URL": api_url,
                "PRODUCTIV_APP_ID": SANDBOX_APP_ID,
                "PRODUCTIV_ACCESS_TOKEN": SANDBOX_TOKEN,
                # A fresh journal each run, so the tool never skips a file as already sent.
                "PRODUCTIV_UPLOAD_STATE_DIR": tempfile.mkdtemp(dir=self.tmp, prefix="state-"),
                "XDG_CONFIG_HOME": str(self.tmp / "no-config"),  # no config file's profiles
                "TERM": "xterm-256color",
            }
            run = measure.run(
                self.wrap(command),
                env=env | self.tool_env(),
                terminal=terminal,
                timeout_s=self.run_timeout_s,
            )
            found = landing.iterdir() if landing.is_dir() else iter(())
            landed = [p for p in found if not p.name.startswith(".")]
            landed_bytes = sum(p.stat().st_size for p in landed)
        problem = ""
        if run.returncode != 0:
            problem = f"exit {run.returncode}: {last_line(run.errors or run.output)}"
        elif (len(landed), landed_bytes) != (files, total_bytes):
            problem = f"{len(landed)} of {files} files, {landed_bytes} B of {total_bytes} landed"
        if problem:
            log(f"  FAILED: {problem}")
        return Outcome(run, problem)

    def files_row(
        self,
        scenario: str,
        runner: str,
        work: str,
        outcome: Outcome,
        *,
        sent: int,
        total: int,
        reference_s: float | None,
        ratio_to: str,
        note: str = "",
    ) -> Row:
        """A row for a many-files run; a run over `sent` < `total` files is extrapolated."""
        wall = outcome.run.wall_s * total / sent
        row = Row(scenario, runner, work, wall, total / wall, "files/s", outcome.run.peak_rss_mb)
        row.ratio_to, row.note = ratio_to, note
        if sent < total:
            row.extrapolated_from = sent
            row.note = f"EXTRAPOLATED from {sent} of {total} files ({outcome.run.wall_s:.2f} s)"
        if not outcome.ok:
            row.failed, row.note = True, f"FAILED {outcome.problem}"
        elif reference_s:
            row.ratio = wall / reference_s
        log(f"  {runner}: {wall:.2f} s")
        return row

    def floor(self, folder: Path, files: int, size: int, jobs: int, latency_s: float) -> Outcome:
        """Run the http.client floor; its time is its own PUT phase, not its process's."""
        command = [PYTHON, PEERS / "httpclient_floor.py", folder, str(jobs)]
        outcome = self.upload(command, files=files, total_bytes=files * size, latency_s=latency_s)
        if not outcome.ok:
            return outcome
        put_s = json.loads(outcome.run.output)["put_s"]
        return Outcome(dataclasses.replace(outcome.run, wall_s=put_s), "")

    # --- the scenarios ---

    def small_files_with_latency(self) -> list[Row]:
        n, size, jobs = self.scale.s1_files, 4 * KIB, 16
        k = self.scale.s1_sequential_files
        scenario, work = "1 small files, 20 ms latency", f"{n} x 4 KiB"
        folder = self.make_files("s1", n, size)
        bound = n / jobs * LATENCY_S + math.ceil(n / 100) * LATENCY_S
        log(f"scenario 1: {work}, bound {bound:.2f} s")
        runs: list[tuple[str, list[str | Path], int]] = [
            (f"productiv-upload -j {jobs}", [TOOL, "push", "-j", str(jobs), "-r", folder], n),
            (f"xargs -P {jobs} curl", [PEERS / "curl_xargs.sh", folder, str(jobs)], n),
            ("sequential curl loop", [PEERS / "curl_seq.sh", folder, str(k)], k),
            ("sequential requests", [PYTHON, PEERS / "requests_seq.py", folder, str(k)], k),
        ]
        to_bound = f"bound {bound:.2f} s"
        rows = []
        for runner, command, sent in runs:
            outcome = self.upload(command, files=sent, total_bytes=sent * size, latency_s=LATENCY_S)
            rows.append(
                self.files_row(
                    scenario,
                    runner,
                    work,
                    outcome,
                    sent=sent,
                    total=n,
                    reference_s=bound,
                    ratio_to=to_bound,
                )
            )
        floor = self.floor(folder, n, size, jobs, LATENCY_S)
        rows.append(
            self.files_row(
                scenario,
                f"http.client floor, {jobs} threads",
                work,
                floor,
                sent=n,
                total=n,
                reference_s=bound,
                ratio_to=to_bound,
                note=FLOOR_NOTE,
            )
        )
        shutil.rmtree(folder)
        return rows

    def small_files_no_latency(self) -> list[Row]:
        n, size, jobs = self.scale.s2_files, KIB, 8
        k = self.scale.s2_sequential_files
        scenario, work = "2 small files, no latency", f"{n} x 1 KiB"
        folder, double = self.make_files("s2", n, size), self.make_files("s2x2", 2 * n, size)
        log(f"scenario 2: {work}")
        floor = self.floor(folder, n, size, jobs, 0.0)
        floor_s = floor.run.wall_s if floor.ok else None
        to_floor = f"floor {floor_s:.2f} s" if floor_s else "floor (failed)"
        tool = [TOOL, "push", "-j", str(jobs), "-r"]
        plain = self.upload([*tool, folder], files=n, total_bytes=n * size)
        live = self.upload([*tool, folder], files=n, total_bytes=n * size, terminal=True)
        twice = self.upload([*tool, double], files=2 * n, total_bytes=2 * n * size)
        sequential = self.upload(
            [PYTHON, PEERS / "requests_seq.py", folder, str(k)], files=k, total_bytes=k * size
        )
        rows = [
            self.files_row(
                scenario,
                f"http.client floor, {jobs} threads",
                work,
                floor,
                sent=n,
                total=n,
                reference_s=floor_s,
                ratio_to="itself",
                note=FLOOR_NOTE,
            ),
            self.files_row(
                scenario,
                f"productiv-upload -j {jobs}, plain",
                work,
                plain,
                sent=n,
                total=n,
                reference_s=floor_s,
                ratio_to=to_floor,
            ),
            self.files_row(
                scenario,
                f"productiv-upload -j {jobs}, live (pty)",
                work,
                live,
                sent=n,
                total=n,
                reference_s=floor_s,
                ratio_to=to_floor,
                note=f"{len(live.run.output) // KIB} KiB written to the terminal",
            ),
            self.files_row(
                scenario,
                f"productiv-upload -j {jobs}, plain",
                f"{2 * n} x 1 KiB",
                twice,
                sent=2 * n,
                total=2 * n,
                reference_s=plain.run.wall_s if plain.ok else None,
                ratio_to=f"tool on {n} files (bar <= 2.0)",
            ),
            self.files_row(
                scenario,
                "sequential requests",
                work,
                sequential,
                sent=k,
                total=n,
                reference_s=floor_s,
                ratio_to=to_floor,
            ),
        ]
        shutil.rmtree(folder)
        shutil.rmtree(double)
        return rows

    def big_file(self) -> list[Row]:
        rows = []
        for size in self.scale.big_sizes:
            label = f"{size // MIB} MiB" if size < 1024 * MIB else f"{size // (1024 * MIB)} GiB"
            scenario = f"3 one big file ({label})"
            folder = self.tmp / f"big-{size}"
            folder.mkdir()
            path = folder / f"big-{size}.bin"
            with path.open("wb") as file:
                file.truncate(size)  # sparse: nothing is written to disk
            log(f"scenario 3: one {label} file")
            curl = self.upload([PEERS / "curl_seq.sh", folder], files=1, total_bytes=size)
            tool = self.upload([TOOL, "push", path], files=1, total_bytes=size)
            curl_s = curl.run.wall_s if curl.ok else None
            for runner, outcome in (("curl -T (1 GET, 1 PUT)", curl), ("productiv-upload", tool)):
                row = Row(scenario, runner, f"1 x {label}", outcome.run.wall_s)
                row.rate, row.rate_unit = size / MIB / outcome.run.wall_s, "MiB/s"
                row.peak_rss_mb = outcome.run.peak_rss_mb
                row.ratio_to = "curl's time"
                if not outcome.ok:
                    row.failed, row.note = True, f"FAILED {outcome.problem}"
                elif curl_s:
                    row.ratio = outcome.run.wall_s / curl_s
                log(f"  {runner}: {outcome.run.wall_s:.2f} s")
                rows.append(row)
            shutil.rmtree(folder)
        return rows

    def startup(self) -> list[Row]:
        runs = self.scale.startup_runs
        log(f"scenario 4: start-up, {runs} runs each")
        help_command = [TOOL, "push", "--help"]
        # (runner, command, columns of the pseudo-terminal it runs on; None: stdout a file)
        commands: list[tuple[str, list[str], int | None]] = [
            ("python -c pass", [PYTHON, "-c", "pass"], None),
            ("productiv-upload --version", [TOOL, "--version"], None),
            ("productiv-upload push --help (to a file)", help_command, None),
            ("push --help, terminal of 80 columns", help_command, 80),
            ("push --help, terminal of 120 columns", help_command, 120),
            ("push --help, terminal of 200 columns", help_command, 200),
            # A Tab in bash, bash's own start included, through the committed script.
            ("Tab: `push --conc<Tab>` in bash", ["bash", "--norc", "--noprofile", "-c", TAB], None),
        ]
        rows = []
        floor_s: float | None = None
        for runner, command, columns in commands:
            once = functools.partial(run_once, command, columns)
            once()  # warm the page cache; not counted
            measured = [once() for _ in range(runs)]
            walls = [m.wall_s for m in measured]
            median = statistics.median(walls)
            floor_s = floor_s or median
            row = Row("4 start-up", runner, f"median of {runs}", median)
            row.peak_rss_mb = max(m.peak_rss_mb for m in measured)
            row.ratio, row.ratio_to = median / floor_s, "python -c pass"
            row.note = f"min {min(walls):.3f} s, max {max(walls):.3f} s"
            if any(m.returncode for m in measured):
                row.failed, row.note = True, f"FAILED exit {measured[0].returncode}"
            log(f"  {runner}: {median:.3f} s")
            rows.append(row)
        return rows

    def one_small_file(self) -> list[Row]:
        """One 1 KiB file end to end: the tool against what a script would do by hand."""
        runs = self.scale.startup_runs
        log(f"scenario 6: one 1 KiB file, {runs} runs each")
        folder = self.make_files("s6", 1, KIB)
        path = next(folder.iterdir())
        commands = [
            ("curl: GET the URL, PUT the file", [PEERS / "curl_seq.sh", folder]),
            ("productiv-upload push", [TOOL, "push", path]),
        ]
        rows: list[Row] = []
        curl_s: float | None = None
        for runner, command in commands:
            outcomes = [self.upload(command, files=1, total_bytes=KIB) for _ in range(runs)]
            walls = [outcome.run.wall_s for outcome in outcomes]
            median = statistics.median(walls)
            curl_s = curl_s or median
            row = Row("6 one 1 KiB file", runner, f"median of {runs}", median)
            row.peak_rss_mb = max(outcome.run.peak_rss_mb for outcome in outcomes)
            row.ratio, row.ratio_to = median / curl_s, "curl's time"
            row.note = f"min {min(walls):.3f} s, max {max(walls):.3f} s"
            failed = [outcome for outcome in outcomes if not outcome.ok]
            if failed:
                row.failed, row.note = True, f"FAILED {failed[0].problem}"
            log(f"  {runner}: {median:.3f} s")
            rows.append(row)
        shutil.rmtree(folder)
        return rows

    def limit_rate(self) -> list[Row]:
        size = self.scale.rate_bytes
        scenario = "5 --limit-rate 10M"
        work = f"1 x {size // MIB} MiB"
        log("scenario 5: --limit-rate")
        help_text = subprocess.run(  # noqa: S603
            [TOOL, "push", "--help"],
            env=base_env() | {"COLUMNS": "200"},
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        if "--limit-rate" not in help_text:
            return [Row(scenario, "productiv-upload", work, note="not implemented")]
        folder = self.make_files("s5", 1, size)
        command = [TOOL, "push", "--json", "--limit-rate", f"{RATE_LIMIT_MIB_S}M", "-r", folder]
        outcome = self.upload(command, files=1, total_bytes=size)
        shutil.rmtree(folder)
        row = Row(scenario, "productiv-upload", work, outcome.run.wall_s)
        row.peak_rss_mb = outcome.run.peak_rss_mb
        row.ratio_to = f"{RATE_LIMIT_MIB_S} MiB/s (target 0.90-1.10)"
        if not outcome.ok:
            row.failed, row.note = True, f"FAILED {outcome.problem}"
            return [row]
        # The tool's own elapsed time: start-up is not part of the rate being limited.
        report = json.loads(outcome.run.output)
        row.rate, row.rate_unit = report["bytes_uploaded"] / MIB / report["elapsed_s"], "MiB/s"
        row.ratio = row.rate / RATE_LIMIT_MIB_S
        row.note = (
            f"rate from the report's elapsed_s; {'met' if abs(row.ratio - 1) <= 0.1 else 'MISSED'}"
        )
        return [row]


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:120] if lines else "(no output)"


def render(rows: list[Row], title: str) -> str:
    header = ["scenario", "runner", "work", "wall s", "rate", "peak RSS MB", "ratio", "ratio to"]
    table = [header]
    for row in rows:
        wall = "-" if row.wall_s is None else f"{row.wall_s:.3f}"
        if row.extrapolated_from is not None:
            wall = "~" + wall
        if row.rate is None:
            rate = "-"
        elif row.rate_unit == "MiB/s":
            rate = f"{row.rate:,.1f} MiB/s"
        else:
            rate = f"{row.rate:,.0f} {row.rate_unit}"
        rss = "-" if row.peak_rss_mb is None else f"{row.peak_rss_mb:.0f}"
        ratio = "-" if row.ratio is None else f"{row.ratio:.2f}x"
        table.append([row.scenario, row.runner, row.work, wall, rate, rss, ratio, row.ratio_to])
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    numeric = {3, 4, 5, 6}
    lines = [title]
    for number, line in enumerate(table):
        cells = [
            cell.rjust(width) if i in numeric else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(line, widths, strict=True))
        ]
        text = "  ".join(cells)
        note = rows[number - 1].note if number else "note"
        lines.append(f"{text}  {note}".rstrip())
        if number == 0:
            lines.append("-" * len(text))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark productiv-upload on the sandbox.")
    parser.add_argument("--quick", action="store_true", help="smaller work, under a minute")
    parser.add_argument("--json-out", type=Path, help="also write the table as JSON here")
    parser.add_argument(
        "--network",
        action="store_true",
        help="also scenarios 11-12 (bench/network.py: TLS, slow and lossy links; root, ~25 min)",
    )
    args = parser.parse_args(argv)
    scale = QUICK if args.quick else FULL
    if not Path(TOOL).exists():
        parser.error(f"{TOOL} not found: run this with the project's venv python")

    load_before = os.getloadavg()[0]
    if load_before > 0.5:
        log(f"warning: the load average is {load_before:.1f}; other work will skew the timings")
    started, busy_before, own_before = time.monotonic(), busy_cpu_s(), own_cpu_s()
    import network  # scenarios 11-12, with --network
    import unattended  # its scenarios build on this module's Bench

    tmp = Path(tempfile.mkdtemp(prefix="productiv-bench-"))
    try:
        bench = Bench(scale, tmp)
        rows = [
            *bench.small_files_with_latency(),
            *bench.small_files_no_latency(),
            *bench.big_file(),
            *bench.startup(),
            *bench.limit_rate(),
            *bench.one_small_file(),
            *unattended.all_rows(bench),  # scenarios 7-10: years of reruns
            *(network.all_rows(scale, tmp) if args.network else []),  # 11-12: TLS, links
        ]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    elapsed = time.monotonic() - started
    # CPU time the machine was busy with anything but this benchmark: a check on the timings.
    others = (busy_cpu_s() - busy_before) - (own_cpu_s() - own_before)
    others_share = max(0.0, others) / (elapsed * (os.cpu_count() or 1))

    mode = (
        "QUICK run: smaller counts and sizes, sequential peers on a subset (see work and note)"
        if scale.quick
        else "full run"
    )
    title = (
        f"productiv-upload {__version__} benchmark, {mode}; {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, sandbox in its own process on 127.0.0.1; "
        f"MB = MiB; ratio = time / reference unless noted; took {elapsed:.0f} s; other "
        f"processes used {others_share:.0%} of the CPUs meanwhile"
    )
    print(render(rows, title))
    if args.json_out:
        document = {
            "title": title,
            "quick": scale.quick,
            "cpus": os.cpu_count(),
            "tool_version": __version__,
            "elapsed_s": elapsed,
            "other_processes_cpu_share": others_share,
            "rows": [asdict(row) for row in rows],
        }
        args.json_out.write_text(json.dumps(document, indent=2) + "\n")
    return 1 if any(row.failed for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
