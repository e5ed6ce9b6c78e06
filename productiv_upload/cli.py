"""The command line: parse options, call the core, show the outcome, exit with the right code.

Heavy modules (requests, rich's live view) are imported inside the commands that need them, so
`--version`, `--help` and shell completion start fast.
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from productiv_upload import __version__
from productiv_upload.errors import ExitStatus, UploadError

INPUT = "Input"
SERVICE = "Service"
TRANSFER = "Transfer"
OUTPUT = "Output"

PUSH_HELP = """Upload files to Productiv's Batch Files Upload API.

PATH is a file, a directory (with --recursive) or a glob pattern; quote a pattern
('exports/**/*.json') to have the tool expand it, ** matching any depth.

Examples:

  productiv-upload push --sandbox examples/exports/*.json

  PRODUCTIV_ACCESS_TOKEN=... productiv-upload push --app-id myAppId ./exports/*.json

  productiv-upload push --app-id myAppId -r ./exports --json > report.json
"""

app = typer.Typer(
    name="productiv-upload",
    help="Push batches of files to Productiv's Batch Files Upload API.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"productiv-upload {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """Push batches of files to Productiv's Batch Files Upload API."""


@app.command(help=PUSH_HELP, no_args_is_help=True)
def push(
    paths: Annotated[list[str], typer.Argument(metavar="PATH", show_default=False)],
    recursive: Annotated[
        bool,
        typer.Option(
            "-r",
            "--recursive",
            rich_help_panel=INPUT,
            help="Upload every regular file below the directories given.",
        ),
    ] = False,
    allow_empty: Annotated[
        bool,
        typer.Option(
            "--allow-empty", rich_help_panel=INPUT, help="No matching files is not an error."
        ),
    ] = False,
    app_id: Annotated[
        str | None,
        typer.Option(
            "--app-id",
            rich_help_panel=SERVICE,
            help="Productiv app id (env PRODUCTIV_APP_ID).",
            show_default=False,
        ),
    ] = None,
    api_url: Annotated[
        str | None,
        typer.Option(
            "--api-url",
            rich_help_panel=SERVICE,
            metavar="URL",
            show_default=False,
            help="API base URL (env PRODUCTIV_API_URL; default https://api.productiv.com).",
        ),
    ] = None,
    token_file: Annotated[
        Path | None,
        typer.Option(
            "--token-file",
            rich_help_panel=SERVICE,
            help="File holding an access token (env PRODUCTIV_TOKEN_FILE).",
            show_default=False,
        ),
    ] = None,
    token_url: Annotated[
        str | None,
        typer.Option(
            "--token-url",
            rich_help_panel=SERVICE,
            metavar="URL",
            show_default=False,
            help="OAuth2 token URL, used with PRODUCTIV_CLIENT_ID and "
            "PRODUCTIV_CLIENT_SECRET (env PRODUCTIV_TOKEN_URL).",
        ),
    ] = None,
    upload_type: Annotated[
        str | None,
        typer.Option(
            "--type",
            rich_help_panel=SERVICE,
            help="Passed to the API as the `type` parameter (users, contracts...).",
            show_default=False,
        ),
    ] = None,
    sandbox: Annotated[
        bool,
        typer.Option(
            "--sandbox",
            rich_help_panel=SERVICE,
            help="Upload to a local sandbox started for this run.",
        ),
    ] = False,
    concurrency: Annotated[
        int,
        typer.Option(
            "-j", "--concurrency", min=1, max=64, rich_help_panel=TRANSFER, help="Parallel PUTs."
        ),
    ] = 8,
    batch_size: Annotated[
        int,
        typer.Option(
            "--batch-size",
            min=1,
            max=100,
            rich_help_panel=TRANSFER,
            help="File names per URL request.",
        ),
    ] = 100,
    retries: Annotated[
        int,
        typer.Option(
            "--retries",
            min=0,
            max=20,
            rich_help_panel=TRANSFER,
            help="Retries per request after faults (429, 5xx, dropped connections).",
        ),
    ] = 5,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout",
            min=0.1,
            max=3600,
            metavar="SECONDS",
            rich_help_panel=TRANSFER,
            help="Read timeout for every request; the connect timeout is at most 10 s.",
        ),
    ] = 60.0,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            rich_help_panel=OUTPUT,
            help="Show the batches and files that would be sent; contact nothing.",
        ),
    ] = False,
    json_report: Annotated[
        bool,
        typer.Option(
            "--json",
            rich_help_panel=OUTPUT,
            help="Write the JSON report to stdout, and nothing else there.",
        ),
    ] = False,
    quiet: Annotated[
        bool,
        typer.Option(
            "-q",
            "--quiet",
            rich_help_panel=OUTPUT,
            help="Print only failures and the final one-line summary.",
        ),
    ] = False,
    debug: Annotated[
        bool,
        typer.Option(
            "--debug", rich_help_panel=OUTPUT, help="Show a traceback when an error ends the run."
        ),
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            rich_help_panel=TRANSFER,
            help="Upload again files the journal records as already uploaded unchanged.",
        ),
    ] = False,
    state_dir: Annotated[
        Path | None,
        typer.Option(
            "--state-dir",
            rich_help_panel=TRANSFER,
            file_okay=False,
            show_default=False,
            help="Where the journal and lock live (env PRODUCTIV_UPLOAD_STATE_DIR; default "
            "~/.local/state/productiv-upload).",
        ),
    ] = None,
    wait_lock: Annotated[
        float,
        typer.Option(
            "--wait-lock",
            min=0,
            max=86400,
            metavar="SECONDS",
            rich_help_panel=TRANSFER,
            help="Wait this long for another push to the same app to finish (default: exit 4).",
        ),
    ] = 0.0,
) -> None:
    from productiv_upload.push_command import PushRequest, run_push

    request = PushRequest(
        paths=paths,
        recursive=recursive,
        allow_empty=allow_empty,
        app_id=app_id,
        api_url=api_url,
        token_file=token_file,
        token_url=token_url,
        upload_type=upload_type,
        sandbox=sandbox,
        concurrency=concurrency,
        batch_size=batch_size,
        retries=retries,
        timeout=timeout,
        dry_run=dry_run,
        json_report=json_report,
        quiet=quiet,
        force=force,
        state_dir=state_dir,
        wait_lock=wait_lock,
        debug=debug,
    )
    # cron and systemd stop jobs with SIGTERM: treat it like Ctrl-C, finishing cleanly.
    signal.signal(signal.SIGTERM, _interrupt)
    _exit(_guarded(lambda: run_push(request), debug))


@app.command("sandbox")
def sandbox_command(
    port: Annotated[
        int,
        typer.Option("--port", min=0, max=65535, help="Port on 127.0.0.1 (0 picks a free one)."),
    ] = 0,
    directory: Annotated[
        Path | None,
        typer.Option(
            "--dir",
            file_okay=False,
            help="Where uploaded files are stored (default: a new temporary folder).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run the local sandbox (API, token endpoint and bucket) in the foreground."""
    from productiv_upload.sandbox import (
        SANDBOX_APP_ID,
        SANDBOX_CLIENT_ID,
        SANDBOX_CLIENT_SECRET,
        SANDBOX_TOKEN,
        Sandbox,
    )

    storage = directory or Path(tempfile.mkdtemp(prefix="productiv-sandbox-"))
    try:
        server = Sandbox(storage, port=port, log=lambda line: typer.echo(line, err=True))
    except OSError as error:
        _fail(f"cannot listen on 127.0.0.1:{port}: {error.strerror}", ExitStatus.BAD_INPUT)
    typer.echo(
        f"Sandbox listening; uploads are stored in {storage}\n"
        "Use it from another shell with:\n"
        f"  export PRODUCTIV_API_URL={server.api_url}\n"
        f"  export PRODUCTIV_APP_ID={SANDBOX_APP_ID}\n"
        f"  export PRODUCTIV_ACCESS_TOKEN={SANDBOX_TOKEN}\n"
        "or, to have the tool fetch tokens itself:\n"
        f"  export PRODUCTIV_TOKEN_URL={server.token_url}\n"
        f"  export PRODUCTIV_CLIENT_ID={SANDBOX_CLIENT_ID} "
        f"PRODUCTIV_CLIENT_SECRET={SANDBOX_CLIENT_SECRET}\n"
        "Press Ctrl-C to stop."
    )
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        typer.echo("sandbox stopped", err=True)


@app.command()
def history(
    app_id: Annotated[
        str | None, typer.Option("--app-id", help="Only this app.", show_default=False)
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            metavar="WHEN",
            show_default=False,
            help="Only uploads since then: 24h, 7d, 30m, or an ISO date or time (UTC).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Write JSON to stdout.")] = False,
    state_dir: Annotated[
        Path | None,
        typer.Option(
            "--state-dir",
            file_okay=False,
            show_default=False,
            help="Where the journal lives (env PRODUCTIV_UPLOAD_STATE_DIR).",
        ),
    ] = None,
) -> None:
    """List the uploads the journal recorded, oldest first."""
    from productiv_upload.history_command import run_history

    _exit(
        _guarded(
            lambda: run_history(
                app_id=app_id,
                since=since,
                as_json=as_json,
                state_dir=state_dir,
                environ=os.environ,
                stdout=sys.stdout,
            ),
            debug=False,
        )
    )


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _guarded(action: Callable[[], int], debug: bool) -> int:
    """Run a command, turning the errors that end a run into one line and an exit code."""
    try:
        return int(action())
    except UploadError as error:
        if debug:
            traceback.print_exc()
        _fail(str(error), error.exit_status)
    except KeyboardInterrupt:
        _fail("interrupted", ExitStatus.INTERRUPTED)


def _fail(message: str, status: ExitStatus) -> NoReturn:
    typer.echo(f"productiv-upload: error: {message}", err=True)
    raise typer.Exit(int(status))


def _exit(code: int) -> NoReturn:
    raise typer.Exit(code)


def main() -> None:
    try:
        app(prog_name="productiv-upload")
    except SystemExit as exit_:
        if exit_.code == ExitStatus.INTERRUPTED:
            # The summary is out and the journal closed; do not wait for transfers that an
            # interrupt has abandoned (the interpreter would join their threads).
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(int(ExitStatus.INTERRUPTED))
        raise
