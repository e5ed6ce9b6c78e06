"""Kept-alive connections to the API and to storage are probed by the kernel while idle.

Read from the kernel's own socket table (`ss -o` shows a keepalive timer on each socket that
asked for probes), after a real push left its connections in the pools.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from productiv_upload.core.session.clients import connect
from productiv_upload.core.settings.service import resolve_service
from productiv_upload.core.settings.transfer import TransferSettings
from productiv_upload.sandbox import SANDBOX_APP_ID, SANDBOX_TOKEN, Sandbox


def _timers(port: int) -> list[str]:
    """The timer column of each established socket whose peer is this loopback port."""
    listed = subprocess.run(
        ["ss", "-Htno", "state", "established", "dst", f"127.0.0.1:{port}"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return [line.split("timer:")[-1] for line in listed.stdout.splitlines() if line.strip()]


@pytest.mark.skipif(shutil.which("ss") is None, reason="ss (iproute2) is not installed")
def test_idle_api_and_storage_connections_get_keepalive_probes(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    service = resolve_service(
        app_id=SANDBOX_APP_ID, api_url=sandbox.api_url, token_url=None, token_file=None,
        environ={"PRODUCTIV_ACCESS_TOKEN": SANDBOX_TOKEN},
    )  # fmt: skip
    clients = connect(service, TransferSettings(concurrency=1))
    api, storage = clients.api, clients.storage
    signed_url = api.probe()
    assert signed_url is not None
    body = tmp_path / "a.json"
    body.write_bytes(b"{}")
    with body.open("rb") as stream:
        answer = storage.put(signed_url, stream, 2, max_body=1024)
    assert answer.status == 200
    port = int(sandbox.api_url.rsplit(":", 1)[1])

    timers = _timers(port)

    # One pooled connection for the API's GET, one for storage's PUT, both idle now.
    assert len(timers) == 2, timers
    assert all(timer.startswith("(keepalive,") for timer in timers), timers
    storage.close()
