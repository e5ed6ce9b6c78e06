"""The sandbox as a running server: its state (`state`) answered over HTTP (`handler`) on loopback.

Standard library only, loopback only. It is how a new user tries the tool, how a cron script is
rehearsed without touching production, and what the test suite talks to. It is deliberately as
strict as the real services: whatever the real API or S3 would refuse, it refuses the same way.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable
from pathlib import Path

from productiv_upload.sandbox.handler import SandboxHandler, SandboxServer
from productiv_upload.sandbox.state import SANDBOX_APP_ID, SandboxState


class Sandbox(SandboxState):
    """The API, the token endpoint and the bucket, served by one HTTP server on loopback.

    `host` may be an IPv6 address (`::1`); `tls`, a server-side context holding a certificate,
    makes every URL it serves and hands out an https:// one.
    """

    def __init__(
        self,
        storage_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        apps: tuple[str, ...] = (SANDBOX_APP_ID,),
        any_app: bool = False,
        log: Callable[[str], None] | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self._server = SandboxServer((host, port), SandboxHandler, tls=tls)
        bound_host, bound_port = self._server.socket.getsockname()[:2]
        scheme = "http" if tls is None else "https"
        shown_host = f"[{bound_host}]" if ":" in bound_host else bound_host
        base_url = f"{scheme}://{shown_host}:{bound_port}"
        super().__init__(storage_dir, base_url, apps=apps, any_app=any_app, log=log)
        self._server.state = self
        self._thread: threading.Thread | None = None

    @property
    def api_url(self) -> str:
        return self.base_url

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/oauth2/token"

    def start(self) -> Sandbox:
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="sandbox", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def close(self) -> None:
        """Release the port after `serve_forever` has returned in this thread."""
        self._server.server_close()

    def stop(self) -> None:
        self.released.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
