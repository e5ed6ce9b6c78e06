"""Serve the project's sandbox in its own process, so it does not share a GIL with the runner.

Usage: sandbox_server.py STORAGE_DIR [--latency SECONDS] [--tls-cert CHAIN --tls-key KEY]

Prints the API URL on one line of stdout once it is listening, then serves on 127.0.0.1 until
it is killed (SIGTERM or SIGINT). With --tls-cert and --tls-key (PEM files, bench/network.py
makes them with trustme) it serves HTTPS: the sandbox is given a server-side SSLContext as
`Sandbox(tls=...)`; a sandbox without that parameter makes it print why and exit 3.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import signal
import ssl
import sys
from pathlib import Path
from typing import Any

from productiv_upload.sandbox import Sandbox


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("storage_dir", type=Path)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added per request")
    parser.add_argument("--tls-cert", type=Path, help="PEM: the server certificate and chain")
    parser.add_argument("--tls-key", type=Path, help="PEM: its private key")
    args = parser.parse_args()

    if args.tls_cert is None:
        sandbox = Sandbox(args.storage_dir, host="127.0.0.1", port=0)
    elif "tls" not in inspect.signature(Sandbox).parameters:
        print("this sandbox cannot serve HTTPS: Sandbox() takes no tls= yet", flush=True)
        sys.exit(3)
    else:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.tls_cert, args.tls_key)
        # Through a mapping: the parameter comes with the tls branch, not every checkout has it.
        tls: dict[str, Any] = {"tls": context}
        sandbox = Sandbox(args.storage_dir, host="127.0.0.1", port=0, **tls)
    sandbox.faults.latency_s = args.latency
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(sandbox.api_url, flush=True)
    with contextlib.suppress(KeyboardInterrupt, SystemExit):
        sandbox.serve_forever()


if __name__ == "__main__":
    main()
