"""Scenarios 11 and 12: the tool over TLS, and over a slow or lossy link (see README.md).

    python bench/network.py [--quick] [--rows tls,slow,loss] [--json-out PATH]
    python bench/network.py --rows slow --slow-mib 2       # one row, smaller
    python bench/run.py --network                          # these rows after all the others

11 TLS: scenario 1 (small files with 20 ms latency), scenario 2 (small files) and one big file,
   each over HTTPS next to the same over plain HTTP and next to curl over HTTPS. The sandbox
   serves HTTPS with a certificate from a trustme CA made for the run (`Sandbox(tls=context)`);
   the tool trusts it through REQUESTS_CA_BUNDLE, curl through CURL_CA_BUNDLE.
12 links: the sandbox and the runners in a network namespace of their own (tests/netns.py),
   whose loopback is limited by tc's tbf or drops packets at random: one file through a
   160 kbit/s link, and one under 2% and 10% loss, each next to `curl -T` over the same link.
   Needs root, iproute2 and nftables.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from run import (
    FULL,
    KIB,
    LATENCY_S,
    MIB,
    PEERS,
    QUICK,
    TOOL,
    Bench,
    Outcome,
    Row,
    Scale,
    busy_cpu_s,
    log,
    own_cpu_s,
    render,
)

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the checkout, for tests/
from tests.netns import Link, Namespace, namespace, unavailable

ROWS = ("tls", "slow", "loss")
TLS_COST_TARGET = 1.10  # HTTPS over HTTP, scenarios 1 and 2
BIG_RATE_TARGET = 0.8  # the tool's rate over curl's, both over HTTPS
LINK_TARGET = 1.2  # the tool's time over curl's on a slow or lossy link, in one attempt


@dataclass(frozen=True)
class Sizes:
    s1_files: int  # 4 KiB files with 20 ms latency, -j 16
    s2_files: int  # 1 KiB files, no latency, -j 8
    big_mib: int
    slow_mib: int
    slow_rate: str  # tc's syntax
    lossy_mib: int
    losses: tuple[int, ...]  # percent
    # The loss rows again on a link of this rate: on bare loopback (a round trip of about
    # 20 us) loss costs little and the rows mostly time start-up; at a real link's rate the
    # transfer, and what loss does to it, dominates.
    loss_rate: str | None = "40000kbit"


FULL_SIZES = Sizes(2000, 10_000, 256, 10, "160kbit", 100, (2, 10))
QUICK_SIZES = Sizes(500, 1000, 64, 1, "160kbit", 20, (2, 10))


@dataclass(frozen=True)
class Certificates:
    ca: Path  # what the runners trust
    chain: Path  # the server's certificate and chain, for 127.0.0.1
    key: Path


def make_certificates(folder: Path) -> Certificates:
    import trustme  # the tls branch's test extra; imported only when the TLS rows run

    authority = trustme.CA()
    server = authority.issue_cert("127.0.0.1", "localhost")
    found = Certificates(folder / "ca.pem", folder / "server-chain.pem", folder / "server.key")
    authority.cert_pem.write_to_path(str(found.ca))
    server.private_key_pem.write_to_path(str(found.key))
    for number, blob in enumerate(server.cert_chain_pems):
        blob.write_to_path(str(found.chain), append=number > 0)
    return found


class NetBench(Bench):
    """run.py's Bench, its sandbox serving HTTPS (`tls`) or everything in a namespace (`ns`)."""

    def __init__(
        self, scale: Scale, tmp: Path, *, tls: Certificates | None = None,
        ns: Namespace | None = None, sandbox_path: str | None = None,
    ) -> None:  # fmt: skip
        super().__init__(scale, tmp)
        self.tls, self.ns, self.sandbox_path = tls, ns, sandbox_path

    def wrap(self, command: Sequence[str | Path]) -> list[str | Path]:
        return list(command) if self.ns is None else [*self.ns.command(command)]

    def sandbox_options(self) -> list[str | Path]:
        return [] if self.tls is None else ["--tls-cert", self.tls.chain, "--tls-key", self.tls.key]

    def sandbox_env(self) -> dict[str, str] | None:
        if self.sandbox_path is None:
            return None
        # A checkout whose sandbox already has tls=, before that branch is merged.
        return os.environ | {"PYTHONPATH": self.sandbox_path}

    def tool_env(self) -> dict[str, str]:
        if self.tls is None:
            return {}
        return {"REQUESTS_CA_BUNDLE": str(self.tls.ca), "CURL_CA_BUNDLE": str(self.tls.ca)}

    def files(self, name: str, count: int, size: int) -> Path:
        """Fresh files in a folder of their own (every Bench of a run shares `tmp`)."""
        return self.make_files(f"{name}-{time.monotonic_ns()}", count, size)


def median_outcome(outcomes: list[Outcome]) -> Outcome:
    """The median run by wall time, or the first failed one."""
    failed = [outcome for outcome in outcomes if not outcome.ok]
    if failed:
        return failed[0]
    return sorted(outcomes, key=lambda o: o.run.wall_s)[len(outcomes) // 2]


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def tls_rows(
    scale: Scale, sizes: Sizes, tmp: Path, repeat: int, sandbox_path: str | None
) -> list[Row]:
    certificates = make_certificates(tmp)
    plain = NetBench(scale, tmp)
    tls = NetBench(scale, tmp, tls=certificates, sandbox_path=sandbox_path)
    try:
        with tls.sandbox(0.0) as (api_url, _):
            log(f"TLS sandbox at {api_url}")
    except RuntimeError as error:
        note = f"not available: {error} (Sandbox(tls=) comes with the tls branch)"
        return [Row("11 TLS", "productiv-upload over HTTPS", "-", note=note)]
    rows = []
    for scenario, count, size, jobs, latency in (
        ("11 TLS, scenario 1 (20 ms latency)", sizes.s1_files, 4 * KIB, 16, LATENCY_S),
        ("11 TLS, scenario 2 (no latency)", sizes.s2_files, KIB, 8, 0.0),
    ):
        folder = plain.files("tls-small", count, size)
        work = f"{count} x {size // KIB} KiB"
        log(f"{scenario}: {work}, {repeat} run(s) each")
        tool: list[str | Path] = [TOOL, "push", "-j", str(jobs), "-r", folder]
        curl: list[str | Path] = [PEERS / "curl_xargs.sh", folder, str(jobs)]
        runners: list[tuple[str, NetBench, list[str | Path]]] = [
            (f"productiv-upload -j {jobs}, HTTP", plain, tool),
            (f"productiv-upload -j {jobs}, HTTPS", tls, tool),
            (f"xargs -P {jobs} curl, HTTPS", tls, curl),
        ]
        found: dict[str, list[Outcome]] = {runner: [] for runner, _, _ in runners}
        for _ in range(repeat):  # interleaved, so a slow spell of the machine hits all alike
            for runner, bench, command in runners:
                outcome = bench.upload(command, files=count, total_bytes=count * size,
                                       latency_s=latency)  # fmt: skip
                found[runner].append(outcome)
        reference = median_outcome(found[runners[0][0]])
        reference_s = reference.run.wall_s if reference.ok else None
        for runner, _, _ in runners:
            row = plain.files_row(scenario, runner, work, median_outcome(found[runner]),
                                  sent=count, total=count, reference_s=reference_s,
                                  ratio_to="the tool over HTTP")  # fmt: skip
            if "HTTPS" in runner and runner.startswith("productiv") and row.ratio is not None:
                row.note = f"TLS cost {row.ratio - 1:+.0%} (target <= +10%): " + verdict(
                    row.ratio <= TLS_COST_TARGET
                )
            if repeat > 1 and not row.failed:
                walls = [o.run.wall_s for o in found[runner]]
                spread = f"median of {repeat}, {min(walls):.2f}-{max(walls):.2f} s"
            row.note = f"{row.note}; {spread}" if row.note else spread
            rows.append(row)
        shutil.rmtree(folder)
    rows += big_file_rows(plain, tls, sizes.big_mib, repeat)
    return rows


def big_file_rows(plain: NetBench, tls: NetBench, mib: int, repeat: int) -> list[Row]:
    size = mib * MIB
    scenario, work = f"11 TLS, one big file ({mib} MiB)", f"1 x {mib} MiB"
    folder = plain.tmp / f"tls-big-{time.monotonic_ns()}"
    folder.mkdir()
    path = folder / "big.bin"
    with path.open("wb") as file:
        file.truncate(size)  # sparse: the disk is not what is measured
    log(f"{scenario}")
    runs: list[tuple[str, NetBench, list[str | Path]]] = [
        ("curl -T (1 GET, 1 PUT), HTTPS", tls, [PEERS / "curl_seq.sh", folder]),
        ("productiv-upload, HTTP", plain, [TOOL, "push", path]),
        ("productiv-upload, HTTPS", tls, [TOOL, "push", path]),
    ]
    rows = []
    curl_s: float | None = None
    found: dict[str, list[Outcome]] = {runner: [] for runner, _, _ in runs}
    for _ in range(repeat):
        for runner, bench, command in runs:
            found[runner].append(bench.upload(command, files=1, total_bytes=size))
    for runner, _, _ in runs:
        outcome = median_outcome(found[runner])
        row = Row(scenario, runner, work, outcome.run.wall_s, size / MIB / outcome.run.wall_s,
                  "MiB/s", outcome.run.peak_rss_mb, ratio_to="curl's time over HTTPS")  # fmt: skip
        if not outcome.ok:
            row.failed, row.rate, row.note = True, None, f"FAILED {outcome.problem}"
        elif curl_s is None:
            curl_s = outcome.run.wall_s
        if curl_s and not row.failed:
            row.ratio = outcome.run.wall_s / curl_s
            if runner.endswith("HTTPS") and runner.startswith("productiv"):
                share = curl_s / outcome.run.wall_s
                row.note = f"{share:.2f}x curl's rate (target >= {BIG_RATE_TARGET}): " + verdict(
                    share >= BIG_RATE_TARGET
                )
        if repeat > 1 and not row.failed:
            walls = [o.run.wall_s for o in found[runner]]
            spread = f"median of {repeat}, {min(walls):.2f}-{max(walls):.2f} s"
            row.note = f"{row.note}; {spread}" if row.note else spread
        log(f"  {runner}: {outcome.run.wall_s:.2f} s")
        rows.append(row)
    shutil.rmtree(folder)
    return rows


def link_rows(
    scale: Scale, tmp: Path, link: Link, mib: int, scenario: str, repeat: int = 1
) -> list[Row]:
    """A random file of `mib` MiB over `link`: `curl -T`, then the tool at its defaults, each
    `repeat` times (interleaved; the median is reported)."""
    size = mib * MIB
    work = f"1 x {mib} MiB"
    reason = unavailable(need_nft=link.loss_percent > 0)
    if reason is not None:
        return [Row(scenario, "productiv-upload", work, note=f"not available: {reason}")]
    log(f"{scenario}: {work}, {repeat} run(s) each")
    runners: list[tuple[str, list[Outcome]]] = [("curl -T (1 GET, 1 PUT)", []),
                                                ("productiv-upload", [])]  # fmt: skip
    with namespace(link) as ns:
        bench = NetBench(scale, tmp, ns=ns)
        if link.rate is not None:  # a few times the link's own time, then the run is killed
            bits_per_s = float(link.rate.removesuffix("kbit")) * 1000
            bench.run_timeout_s = max(540.0, 3 * size * 8 / bits_per_s + 60)
        folder = bench.files("link", 1, size)
        path = next(folder.iterdir())
        commands: list[list[str | Path]] = [[PEERS / "curl_seq.sh", folder],
                                            [TOOL, "push", "--json", path]]  # fmt: skip
        for _ in range(repeat):
            for (_, outcomes), command in zip(runners, commands, strict=True):
                outcomes.append(bench.upload(command, files=1, total_bytes=size))
        shutil.rmtree(folder)
    curl = median_outcome(runners[0][1])
    curl_s = curl.run.wall_s if curl.ok else None
    rows = []
    for runner, outcomes in runners:
        outcome = median_outcome(outcomes)
        rate, unit = size / outcome.run.wall_s, "KiB/s" if link.rate else "MiB/s"
        rate /= KIB if link.rate else MIB
        row = Row(scenario, runner, work, outcome.run.wall_s, rate, unit,
                  outcome.run.peak_rss_mb, ratio_to="curl's time")  # fmt: skip
        if curl_s and outcome.ok:
            row.ratio = outcome.run.wall_s / curl_s
        notes = []
        if runner == "productiv-upload":
            attempts = [tool_attempts(o) for o in outcomes]
            notes.append("attempts " + ", ".join(str(a) for a, _ in attempts))
            if row.ratio is not None:
                met = all(a == 1 for a, _ in attempts) and row.ratio <= LINK_TARGET
                notes[-1] += f" (target 1, within {LINK_TARGET}x curl): {verdict(met)}"
            notes += sorted({error[:80] for _, error in attempts if error})
        if not outcome.ok:
            row.failed, row.rate = True, None  # what did not land has no rate
            # The tool's own report says more than its last line of JSON.
            problem = outcome.problem if runner.startswith("curl") else "the file failed"
            notes.insert(0, f"FAILED {problem}")
        if repeat > 1:
            walls = [o.run.wall_s for o in outcomes]
            notes.append(f"median of {repeat}, {min(walls):.2f}-{max(walls):.2f} s")
        row.note = "; ".join(notes)
        log(f"  {runner}: {outcome.run.wall_s:.2f} s {row.note}")
        rows.append(row)
    return rows


def tool_attempts(outcome: Outcome) -> tuple[int | str, str]:
    """PUT attempts and the last error, from the tool's --json report."""
    try:
        [entry] = json.loads(outcome.run.output)["files"]
    except (ValueError, KeyError, TypeError):
        return "?", ""
    return entry["attempts"], entry["error"] or ""


def all_rows(
    scale: Scale, tmp: Path, *, rows: Sequence[str] = ROWS, sizes: Sizes | None = None,
    repeat: int = 1, sandbox_path: str | None = None,
) -> list[Row]:  # fmt: skip
    sizes = sizes or (QUICK_SIZES if scale.quick else FULL_SIZES)
    found = []
    if "tls" in rows:
        found += tls_rows(scale, sizes, tmp, repeat, sandbox_path)
    if "slow" in rows:
        link = Link(rate=sizes.slow_rate)
        scenario = f"12 link, {sizes.slow_rate}/s (tbf)"
        found += link_rows(scale, tmp, link, sizes.slow_mib, scenario)  # minutes: run once
    if "loss" in rows:
        for percent in sizes.losses:
            link = Link(loss_percent=percent)
            scenario = f"12 link, {percent}% loss"
            found += link_rows(scale, tmp, link, sizes.lossy_mib, scenario, repeat)
            if sizes.loss_rate is not None:
                link = Link(rate=sizes.loss_rate, loss_percent=percent)
                scenario = f"12 link, {percent}% loss at {sizes.loss_rate}/s"
                found += link_rows(scale, tmp, link, sizes.lossy_mib, scenario, repeat)
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="TLS and link rows of the benchmark.")
    parser.add_argument("--quick", action="store_true", help="smaller work (see README.md)")
    parser.add_argument("--rows", default=",".join(ROWS), help="comma-separated: tls,slow,loss")
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs of each row but the slow link's (median)"
    )
    parser.add_argument("--s1-files", type=int)
    parser.add_argument("--s2-files", type=int)
    parser.add_argument("--big-mib", type=int)
    parser.add_argument("--slow-mib", type=int)
    parser.add_argument("--slow-rate", help="tc's syntax, in kbit (default 160kbit)")
    parser.add_argument("--lossy-mib", type=int)
    parser.add_argument("--losses", help="comma-separated percentages (default 2,10)")
    parser.add_argument("--sandbox-path", help="PYTHONPATH for the sandbox process alone")
    parser.add_argument("--json-out", type=Path, help="also write the table as JSON here")
    args = parser.parse_args(argv)
    rows = [row.strip() for row in args.rows.split(",") if row.strip()]
    if not set(rows) <= set(ROWS) or not 1 <= args.repeat <= 20:
        parser.error(f"--rows takes {','.join(ROWS)}; --repeat 1 to 20")
    if args.slow_rate is not None and not args.slow_rate.endswith("kbit"):
        parser.error("--slow-rate is given in kbit, e.g. 160kbit")
    if not Path(TOOL).exists():
        parser.error(f"{TOOL} not found: run this with the project's venv python")
    scale = QUICK if args.quick else FULL
    base = QUICK_SIZES if args.quick else FULL_SIZES
    sizes = Sizes(
        args.s1_files or base.s1_files,
        args.s2_files or base.s2_files,
        args.big_mib or base.big_mib,
        args.slow_mib or base.slow_mib,
        args.slow_rate or base.slow_rate,
        args.lossy_mib or base.lossy_mib,
        tuple(int(p) for p in args.losses.split(",")) if args.losses else base.losses,
    )
    started, busy_before, own_before = time.monotonic(), busy_cpu_s(), own_cpu_s()
    tmp = Path(tempfile.mkdtemp(prefix="productiv-netbench-"))
    try:
        found = all_rows(scale, tmp, rows=rows, sizes=sizes, repeat=args.repeat,
                         sandbox_path=args.sandbox_path)  # fmt: skip
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    elapsed = time.monotonic() - started
    # CPU the machine spent on anything but this benchmark: a check on the timings.
    others = (busy_cpu_s() - busy_before) - (own_cpu_s() - own_before)
    others_share = max(0.0, others) / (elapsed * (os.cpu_count() or 1))
    title = (
        f"productiv-upload network rows ({'quick' if scale.quick else 'full'}: {sizes}); "
        f"{os.cpu_count()} CPUs; took {elapsed:.0f} s; other processes used {others_share:.0%} "
        f"of the CPUs meanwhile; targets: TLS costs <= 10% on scenarios "
        f"1 and 2, a big file over TLS >= {BIG_RATE_TARGET}x curl's rate, slow and lossy links "
        f"in 1 attempt within {LINK_TARGET}x curl's time"
    )
    print(render(found, title))
    if args.json_out:
        document = {"title": title, "elapsed_s": elapsed, "sizes": asdict(sizes),
                    "other_processes_cpu_share": others_share,
                    "rows": [asdict(row) for row in found]}  # fmt: skip
        args.json_out.write_text(json.dumps(document, indent=2) + "\n")
    return 1 if any(row.failed for row in found) else 0


if __name__ == "__main__":
    sys.exit(main())
