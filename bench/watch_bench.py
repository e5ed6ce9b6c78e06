"""Benchmark `productiv-upload watch`: latency from a file's close to its upload, and memory.

    .venv/bin/python bench/watch_bench.py                 # 1,000 files timed, 20,000 in all
    .venv/bin/python bench/watch_bench.py --files 2000 --timed 200    # a quick look

A sandbox runs in its own process (`sandbox_server.py`) and `watch --json --move-to` watches a
spool folder in another. Latency: files are written one at a time, about 50 a second, and each
is timed from its close to the moment the watch's JSON line for it arrives; the bound is
`--min-age` + 2 s. Memory: the watch's resident size (VmRSS) once started and idle, and again
once all files have gone up and it is idle, plus its peak (VmHWM). With `--move-to` the folder
stays small, so what remains is the state the service keeps per file over its life.
Everything stays on loopback; the data lives in a temporary folder deleted at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
COMMAND = Path(sys.executable).parent / "productiv-upload"


def rss_kb(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for process {pid}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20_000, help="files in all")
    parser.add_argument("--timed", type=int, default=1_000, help="files timed one by one")
    parser.add_argument("--min-age", type=float, default=1.0)
    parser.add_argument("--rate", type=float, default=50.0, help="timed files per second")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="watch-bench-") as scratch:
        tmp = Path(scratch)
        spool, sent = tmp / "spool", tmp / "sent"
        spool.mkdir()
        env = {k: v for k, v in os.environ.items()
               if not k.lower().endswith("_proxy") and not k.startswith("PRODUCTIV_")}  # fmt: skip
        sandbox = subprocess.Popen(  # noqa: S603
            [sys.executable, str(BENCH / "sandbox_server.py"), str(tmp / "bucket")],
            stdout=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        assert sandbox.stdout is not None
        api_url = sandbox.stdout.readline().strip()
        env.update(PRODUCTIV_API_URL=api_url, PRODUCTIV_APP_ID="sandbox-app",
                   PRODUCTIV_ACCESS_TOKEN="sandbox-token",  # noqa: S106 (the sandbox's own)
                   PRODUCTIV_UPLOAD_STATE_DIR=str(tmp / "state"))  # fmt: skip
        watch = subprocess.Popen(  # noqa: S603
            [str(COMMAND), "watch", "--json", "--min-age", f"{args.min_age:g}",
             "--batch-wait", "0.2", "--move-to", str(sent), str(spool)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        try:
            return measure(watch, spool, args)
        finally:
            watch.terminate()
            watch.communicate(timeout=30)
            sandbox.terminate()
            sandbox.communicate(timeout=30)


def measure(watch: subprocess.Popen[str], spool: Path, args: argparse.Namespace) -> int:
    assert watch.stdout is not None
    assert watch.stderr is not None
    print(watch.stderr.readline().strip(), file=sys.stderr)  # the start line
    arrived: dict[str, float] = {}
    statuses: dict[str, int] = {}
    done = threading.Condition()

    def read_lines() -> None:
        assert watch.stdout is not None
        for line in watch.stdout:
            entry = json.loads(line)
            with done:
                arrived.setdefault(entry["filename"], time.time())
                statuses[entry["status"]] = statuses.get(entry["status"], 0) + 1
                done.notify_all()

    threading.Thread(target=read_lines, daemon=True).start()
    time.sleep(1.0)
    start_rss = rss_kb(watch.pid)

    closed: dict[str, float] = {}
    gap = 1.0 / args.rate
    for number in range(args.timed):
        name = f"timed{number:05d}.json"
        with open(spool / name, "wb") as out:
            out.write(b'{"n": %d}\n' % number)
        closed[name] = time.time()
        time.sleep(gap)
    for number in range(args.files - args.timed):  # the rest in bursts of 500
        (spool / f"bulk{number:06d}.json").write_bytes(b'{"b": %d}\n' % number)
        if number % 500 == 499:
            time.sleep(0.5)

    deadline = time.monotonic() + 600
    with done:
        while len(arrived) < args.files and time.monotonic() < deadline:
            done.wait(timeout=1.0)
    time.sleep(2.0)  # idle again
    end_rss, peak_rss = rss_kb(watch.pid), rss_kb(watch.pid, "VmHWM")

    latencies = sorted(arrived[name] - closed[name] for name in closed if name in arrived)
    bound = args.min_age + 2.0
    print(f"files sent: {len(arrived)} of {args.files} ({statuses})")
    print(f"latency over {len(latencies)} files, --min-age {args.min_age:g}: "
          f"median {statistics.median(latencies):.2f} s, "
          f"p95 {latencies[int(len(latencies) * 0.95) - 1]:.2f} s, "
          f"max {latencies[-1]:.2f} s (bound {bound:.1f} s: "
          f"{'met' if latencies[-1] <= bound else 'NOT met'})")  # fmt: skip
    print(f"watch RSS: {start_rss / 1024:.1f} MiB at start, {end_rss / 1024:.1f} MiB after "
          f"{len(arrived)} files, peak {peak_rss / 1024:.1f} MiB")  # fmt: skip
    return 0 if len(arrived) == args.files and latencies[-1] <= bound else 1


if __name__ == "__main__":
    sys.exit(main())
