"""`productiv-upload sandbox`: the local sandbox in the foreground, for rehearsing scripts."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TextIO

from productiv_upload.common.errors import UsageError
from productiv_upload.sandbox import (
    SANDBOX_APP_ID,
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SANDBOX_TOKEN,
    Sandbox,
)


def run_sandbox(port: int, directory: Path | None, stdout: TextIO, stderr: TextIO) -> int:
    storage = directory or Path(tempfile.mkdtemp(prefix="productiv-sandbox-"))

    def log(line: str) -> None:
        stderr.write(line + "\n")
        stderr.flush()

    try:
        server = Sandbox(storage, port=port, log=log)
    except OSError as error:
        raise UsageError(f"cannot listen on 127.0.0.1:{port}: {error.strerror}") from None
    try:
        # The sandbox's credentials are well-known fakes, printed so they can be pasted.
        stdout.write(
            f"Sandbox listening; uploads are stored in {storage}\n"
            "Use it from another shell with:\n"
            f"  export PRODUCTIV_API_URL={server.api_url}\n"
            f"  export PRODUCTIV_APP_ID={SANDBOX_APP_ID}\n"
            f"  export PRODUCTIV_ACCESS_TOKEN={SANDBOX_TOKEN}\n"
            "or, to have the tool fetch tokens itself:\n"
            f"  export PRODUCTIV_TOKEN_URL={server.token_url}\n"
            f"  export PRODUCTIV_CLIENT_ID={SANDBOX_CLIENT_ID} "
            f"PRODUCTIV_CLIENT_SECRET={SANDBOX_CLIENT_SECRET}\n"
            "or a profile for ~/.config/productiv-upload/config.toml (use --profile sandbox):\n"
            f'  [sandbox]\n  api_url = "{server.api_url}"\n  token_url = "{server.token_url}"\n'
            f'  app_id = "{SANDBOX_APP_ID}"\n  client_id = "{SANDBOX_CLIENT_ID}"\n'
            f'  client_secret = "{SANDBOX_CLIENT_SECRET}"\n'
            "Stop it with Ctrl-C (or SIGTERM).\n"
        )
        stdout.flush()
        server.serve_forever()
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM turned into one: a normal way to stop
        stderr.write("sandbox stopped\n")
    finally:
        server.close()
    return 0
