"""Serve the project's sandbox in its own process, so it does not share a GIL with the runner.

Usage: sandbox_server.py STORAGE_DIR [--latency SECONDS]

Prints the API URL on one line of stdout once it is listening, then serves on 127.0.0.1 until
it is killed (SIGTERM or SIGINT).
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
from pathlib import Path

from productiv_upload.sandbox import Sandbox


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("storage_dir", type=Path)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added per request")
    args = parser.parse_args()

    sandbox = Sandbox(args.storage_dir, host="127.0.0.1", port=0)
    sandbox.faults.latency_s = args.latency
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(sandbox.api_url, flush=True)
    with contextlib.suppress(KeyboardInterrupt, SystemExit):
        sandbox.serve_forever()


if __name__ == "__main__":
    main()
