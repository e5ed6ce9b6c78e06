"""`productiv-upload sandbox`: the local sandbox in the foreground, for rehearsing scripts."""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import ssl
import tempfile
from pathlib import Path
from typing import TextIO

from productiv_upload.common.errors import UsageError
from productiv_upload.common.text import plural, printable
from productiv_upload.core.model import RunReport
from productiv_upload.core.session.run_session import RunSession
from productiv_upload.core.settings.config_file import config_path
from productiv_upload.core.settings.push import PushRequest
from productiv_upload.core.settings.service import Credentials, ServiceSettings
from productiv_upload.sandbox import (
    SANDBOX_APP_ID,
    SANDBOX_CLIENT_ID,
    SANDBOX_CLIENT_SECRET,
    SANDBOX_TOKEN,
    Sandbox,
)
from productiv_upload.service.urls import is_loopback_host


def run_sandbox(
    host: str,
    port: int,
    directory: Path | None,
    stdout: TextIO,
    stderr: TextIO,
    *,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
) -> int:
    # Its credentials are well-known fakes: it must not be reachable from another machine.
    if not is_loopback_host(host):
        raise UsageError(
            f"--host {printable(host, 100)} is not a loopback address; "
            "the sandbox listens only on 127.0.0.1 (or another 127.x.y.z), ::1 or localhost"
        )
    tls = _server_context(tls_cert, tls_key)
    address = host.removeprefix("[").removesuffix("]")
    shown = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
    storage = directory or Path(tempfile.mkdtemp(prefix="productiv-sandbox-"))

    def log(line: str) -> None:
        stderr.write(line + "\n")
        stderr.flush()

    try:
        # Any app id is accepted, so commands written for a real app run here as they are.
        server = Sandbox(storage, host=address, port=port, any_app=True, log=log, tls=tls)
    except OSError as error:
        if directory is None:
            shutil.rmtree(storage, ignore_errors=True)  # made for this run, and still empty
        raise UsageError(f"cannot listen on {shown}: {error.strerror}") from None
    try:
        stdout.write(banner(server, storage, config_path(os.environ), tls_cert))
        stdout.flush()
        server.serve_forever()
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM turned into one: a normal way to stop
        stderr.write(f"sandbox stopped; the files uploaded to it stay in {storage}")
        stderr.write(": delete it when done\n" if directory is None else "\n")
    finally:
        server.close()
    return 0


def _server_context(cert: Path | None, key: Path | None) -> ssl.SSLContext | None:
    """The sandbox's TLS, from a certificate and its key given together."""
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise UsageError("--tls-cert and --tls-key go together: give both, or neither")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert, key)
    except OSError as error:
        reason = error.strerror or str(error)
        raise UsageError(
            f"cannot use --tls-cert {printable(str(cert))} with --tls-key "
            f"{printable(str(key))}: {reason}"
        ) from None
    return context


def banner(server: Sandbox, storage: Path, config: Path, tls_cert: Path | None = None) -> str:
    """How to point the tool at the sandbox; every line works as pasted, in the order given.

    The sandbox's credentials are well-known fakes, printed so they can be pasted.
    """
    config_file = shlex.quote(str(config))
    trust = ca_line = ca_key = ""
    if tls_cert is not None:
        bundle = shlex.quote(str(tls_cert.resolve()))
        trust = (
            "It serves https://: the tool must trust the CA that signed --tls-cert. The\n"
            "PRODUCTIV_CA_BUNDLE line below names --tls-cert itself, which is right for a\n"
            "self-signed one (as the README makes); otherwise name the CA that signed it.\n"
        )
        ca_line = f"  export PRODUCTIV_CA_BUNDLE={bundle}\n"
        ca_key = f'  ca_bundle = "{tls_cert.resolve()}"\n'
    return (
        f"Sandbox listening; uploads are stored in {storage}\n"
        f"{trust}"
        "It accepts any app id. Use it from another shell with:\n"
        f"  export PRODUCTIV_API_URL={server.api_url}\n"
        f"  export PRODUCTIV_APP_ID={SANDBOX_APP_ID}\n"
        f"  export PRODUCTIV_ACCESS_TOKEN={SANDBOX_TOKEN}\n"
        f"{ca_line}"
        "or, to have the tool fetch tokens itself:\n"
        f"  export PRODUCTIV_TOKEN_URL={server.token_url}\n"
        f"  export PRODUCTIV_CLIENT_ID={SANDBOX_CLIENT_ID} "
        f"PRODUCTIV_CLIENT_SECRET={SANDBOX_CLIENT_SECRET}\n"
        "or as a profile, used with --profile sandbox. The config file then holds a\n"
        "client secret, which the tool accepts only in a file readable by you alone,\n"
        "so first run:\n"
        f"  mkdir -p {shlex.quote(str(config.parent))} && touch {config_file} && "
        f"chmod 600 {config_file}\n"
        "and add to it:\n"
        f'  [sandbox]\n  api_url = "{server.api_url}"\n  token_url = "{server.token_url}"\n'
        f'  app_id = "{SANDBOX_APP_ID}"\n  client_id = "{SANDBOX_CLIENT_ID}"\n'
        f'  client_secret = "{SANDBOX_CLIENT_SECRET}"\n'
        f"{ca_key}"
        "Stop it with Ctrl-C (or SIGTERM).\n"
    )


class SandboxRun:
    """A sandbox started for one `push --sandbox`, and what to say about it afterwards."""

    def __init__(
        self, folder: Path, keep: bool, session: RunSession, server: Sandbox | None
    ) -> None:
        self.folder = folder
        self.keep = keep
        self.session = session
        self._server = server

    def note(self, report: RunReport) -> str | None:
        """Where the uploaded files are, or that they went with the sandbox's folder."""
        if report.dry_run:
            return None  # nothing was started, so nothing was stored or kept
        uploaded = report.counts()["uploaded"]
        if self.keep:
            assert self._server is not None
            landed = self._server.stored_path(report.app_id, "-").parent
            stored = f"{plural(uploaded, 'uploaded file')} in {landed}; " if uploaded else ""
            return f"sandbox: {stored}its folder {self.folder} is kept: delete it when done"
        if not uploaded:
            return None
        if uploaded == 1:
            return "sandbox: the file it stored was removed with it (--keep-sandbox keeps it)"
        return (
            f"sandbox: the {uploaded} files it stored were removed with it "
            "(--keep-sandbox keeps them)"
        )


def start_sandbox(request: PushRequest, keep: bool, stack: contextlib.ExitStack) -> SandboxRun:
    """Start a sandbox for this run (not for a dry run, which contacts nothing).

    Its files and its journal live in one temporary folder, removed when the run ends unless
    `keep` asks otherwise. It takes any app id, so commands written for a real app run as they
    are. Settings that would point the run elsewhere are refused, not silently overridden.
    """
    given = [
        flag
        for flag, value in (
            ("--api-url", request.service.api_url),
            ("--token-url", request.service.token_url),
            ("--token-file", request.service.token_file),
            ("--profile", request.service.profile),
            ("--storage-host", request.service.storage_hosts),
        )
        if value
    ]
    if given:
        raise UsageError(
            f"--sandbox uploads to a sandbox started for this run; leave out {', '.join(given)}"
        )
    folder = Path(tempfile.mkdtemp(prefix="productiv-sandbox-"))
    if not keep or request.dry_run:
        stack.callback(shutil.rmtree, folder, ignore_errors=True)
    server = None if request.dry_run else stack.enter_context(Sandbox(folder, any_app=True))
    api_url = server.api_url if server is not None else "http://127.0.0.1"
    given_app = request.service.app_id
    app_id = given_app or SANDBOX_APP_ID
    service = ServiceSettings(
        api_url=api_url,
        app_id=app_id,
        token_url=f"{api_url}/oauth2/token",
        credentials=Credentials(access_token=SANDBOX_TOKEN, source="--sandbox"),
        sources={
            "api_url": "--sandbox",
            "app_id": "--app-id" if given_app else "--sandbox",
        },
    )
    state_dir = request.state.state_dir or folder / "state"
    session = RunSession(
        service, state_dir, metrics_file=request.state.metrics_file, resumable=False
    )
    return SandboxRun(folder, keep and not request.dry_run, session, server)
