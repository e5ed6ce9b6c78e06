"""The command line: parse options, call one command function, exit with its code.

Modules that cost start-up time (requests, rich's live view, sqlite3) are imported inside the
commands that need them, so `--version`, `--help` and shell completion stay fast.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from productiv_upload import __version__
from productiv_upload.cli import options as cli_options
from productiv_upload.cli.help import typer_classes
from productiv_upload.cli.options import INPUT, OUTPUT, TRANSFER
from productiv_upload.common.errors import ExitStatus, UploadError
from productiv_upload.common.redact import Redactor, redacting
from productiv_upload.core.settings import limits

PUSH_HELP = """Upload files to Productiv's Batch Files Upload API.

PATH is a file, a directory (with --recursive) or a glob pattern; quote a pattern
('exports/**/*.json') to have the tool expand it, ** matching any depth.

Examples:
  productiv-upload push --sandbox examples/exports/*.json
  productiv-upload push --app-id myAppId './exports/**/*.json'
  find spool -name '*.json' -print0 | productiv-upload push --files-from - -0 --move-to done
"""

PROGRAM_HELP = """Push batches of files to Productiv's Batch Files Upload API.

'productiv-upload COMMAND --help' shows a command's options, and examples. To try the tool
without credentials: productiv-upload push --sandbox FILE...
"""

app = typer.Typer(
    cls=typer_classes.Group,
    name="productiv-upload",
    help=PROGRAM_HELP,
    pretty_exceptions_enable=False,
    # The static scripts in completions/ are the way (README, "Shell completion"): typer's
    # own would start the whole command line on every Tab.
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
config_app = typer.Typer(cls=typer_classes.Group, help="Inspect the resolved settings.")
app.add_typer(config_app, name="config")


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
    """The program's own option, --version (its help is PROGRAM_HELP, above)."""


@app.command(cls=typer_classes.Command, help=PUSH_HELP)
def push(
    ctx: typer.Context,
    paths: Annotated[
        list[str] | None, typer.Argument(metavar="PATH", hidden=True, show_default=False)
    ] = None,
    recursive: Annotated[
        bool,
        typer.Option(
            "-r",
            "--recursive",
            rich_help_panel=INPUT,
            help="Upload every regular file below the directories given.",
        ),
    ] = False,
    files_from: Annotated[
        str | None,
        typer.Option(
            "--files-from",
            metavar="FILE",
            rich_help_panel=INPUT,
            show_default=False,
            help="Read paths from FILE, one per line ('-' for stdin).",
        ),
    ] = None,
    null: Annotated[
        bool,
        typer.Option(
            "-0",
            "--null",
            rich_help_panel=INPUT,
            help="--files-from is NUL-separated, as `find -print0` writes.",
        ),
    ] = False,
    exclude: cli_options.Exclude = None,
    allow_empty: Annotated[
        bool,
        typer.Option(
            "--allow-empty", rich_help_panel=INPUT, help="No matching files is not an error."
        ),
    ] = False,
    app_id: cli_options.AppId = None,
    api_url: cli_options.ApiUrl = None,
    token_file: cli_options.TokenFile = None,
    token_url: cli_options.TokenUrl = None,
    ca_bundle: cli_options.CaBundle = None,
    profile: cli_options.Profile = None,
    storage_host: cli_options.StorageHost = None,
    upload_type: cli_options.UploadType = None,
    sandbox: Annotated[
        bool,
        typer.Option(
            "--sandbox",
            rich_help_panel=cli_options.SERVICE,
            help="Upload to a local sandbox started for this run.",
        ),
    ] = False,
    keep_sandbox: Annotated[
        bool,
        typer.Option(
            "--keep-sandbox",
            rich_help_panel=cli_options.SERVICE,
            help="With --sandbox: keep its folder of uploaded files (removed at the end "
            "otherwise).",
        ),
    ] = False,
    concurrency: cli_options.Concurrency = 8,
    batch_size: Annotated[
        int,
        typer.Option(
            "--batch-size",
            metavar="N",
            min=1,
            max=limits.MAX_BATCH_SIZE,
            rich_help_panel=TRANSFER,
            help="File names per URL request.",
        ),
    ] = 100,
    retries: cli_options.Retries = 5,
    timeout: cli_options.Timeout = 60.0,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            rich_help_panel=TRANSFER,
            help="Upload again files the journal records as uploaded unchanged.",
        ),
    ] = False,
    checksum: cli_options.Checksum = False,
    state_dir: cli_options.StateDir = None,
    journal_retention: cli_options.JournalRetention = 30.0,
    wait_lock: cli_options.WaitLock = 0.0,
    limit_rate: cli_options.LimitRate = None,
    move_to: cli_options.MoveTo = None,
    delete_after: cli_options.DeleteAfter = False,
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
    report: Annotated[
        Path | None,
        typer.Option(
            "--report",
            metavar="FILE",
            rich_help_panel=OUTPUT,
            show_default=False,
            help="Also write the JSON report to FILE.",
        ),
    ] = None,
    log_file: Annotated[
        Path | None,
        typer.Option(
            "--log-file",
            metavar="FILE",
            rich_help_panel=OUTPUT,
            show_default=False,
            help="Append a plain, timestamped log of the run to FILE.",
        ),
    ] = None,
    quiet: Annotated[
        bool,
        typer.Option(
            "-q",
            "--quiet",
            rich_help_panel=OUTPUT,
            help="Print only failures and the final one-line summary.",
        ),
    ] = False,
    max_age: Annotated[
        float,
        typer.Option(
            "--max-age",
            min=0,
            metavar="HOURS",
            rich_help_panel=OUTPUT,
            help="Warn about files modified longer ago than this: Productiv only "
            "guarantees aggregating events pushed within 12 hours.",
        ),
    ] = 12.0,
    min_age: Annotated[
        float | None,
        typer.Option(
            "--min-age",
            min=0,
            metavar="SECONDS",
            rich_help_panel=INPUT,
            show_default=False,
            help="Leave files modified less than SECONDS ago for a later run (status deferred): "
            "they may still be being written.",
        ),
    ] = None,
    metrics_file: cli_options.MetricsFile = None,
    debug: cli_options.Debug = False,
) -> None:
    from productiv_upload.cli.commands.push import PushOutput, run_push
    from productiv_upload.core.settings.push import PushRequest
    from productiv_upload.core.settings.transfer import TransferSettings

    if not paths and files_from is None:
        # A usage error (help/typer_classes.py shows it), not the core's one line: `push`
        # alone is a user finding out what the command takes.
        ctx.fail("no files given: name files, directories (with -r) or glob patterns, or "
                 "--files-from FILE")  # fmt: skip
    rate = _checked_transfer_options(limit_rate, move_to, delete_after)
    if keep_sandbox and not sandbox:
        _fail("--keep-sandbox goes with --sandbox", ExitStatus.BAD_INPUT)
    transfer = TransferSettings(
        concurrency=concurrency, batch_size=batch_size, retries=retries, timeout=timeout,
        limit_rate=rate, upload_type=upload_type,
    )  # fmt: skip
    request = PushRequest(
        paths=paths or [], recursive=recursive, files_from=files_from, null=null,
        excludes=exclude or [], allow_empty=allow_empty, app_id=app_id, api_url=api_url,
        token_file=token_file, token_url=token_url, ca_bundle=ca_bundle, profile=profile,
        storage_hosts=storage_host or [], transfer=transfer, force=force, state_dir=state_dir,
        wait_lock=wait_lock, move_to=move_to, delete_after=delete_after, dry_run=dry_run,
        max_age_hours=max_age, min_age=min_age, checksum=checksum,
        journal_retention_days=journal_retention, metrics_file=metrics_file,
    )  # fmt: skip
    output = PushOutput(sandbox=sandbox, keep_sandbox=keep_sandbox, json_report=json_report,
                        report_path=report, log_file=log_file, quiet=quiet,
                        debug=debug)  # fmt: skip
    # cron and systemd stop jobs with SIGTERM: treat it like Ctrl-C, finishing cleanly.
    signal.signal(signal.SIGTERM, _interrupt)
    _exit(_guarded(lambda: run_push(request, output, redactor=_redactor(ctx)), debug))


@app.command(cls=typer_classes.Command)
def check(
    ctx: typer.Context,
    app_id: cli_options.AppId = None,
    api_url: cli_options.ApiUrl = None,
    token_file: cli_options.TokenFile = None,
    token_url: cli_options.TokenUrl = None,
    ca_bundle: cli_options.CaBundle = None,
    profile: cli_options.Profile = None,
    storage_host: cli_options.StorageHost = None,
    timeout: cli_options.Timeout = 30.0,
    debug: cli_options.Debug = False,
) -> None:
    """Prove the credentials and the app work, before the first cron run. Uploads nothing."""
    from productiv_upload.cli.commands.check import run_check

    _exit(_guarded(lambda: run_check(
        app_id=app_id, api_url=api_url, token_file=token_file, token_url=token_url,
        ca_bundle=ca_bundle,
        profile=profile, timeout=timeout, storage_hosts=storage_host, environ=os.environ,
        stdout=sys.stdout, redactor=_redactor(ctx),
    ), debug))  # fmt: skip


@config_app.command("show", cls=typer_classes.Command)
def config_show(
    app_id: cli_options.AppId = None,
    api_url: cli_options.ApiUrl = None,
    token_file: cli_options.TokenFile = None,
    token_url: cli_options.TokenUrl = None,
    ca_bundle: cli_options.CaBundle = None,
    profile: cli_options.Profile = None,
    storage_host: cli_options.StorageHost = None,
    state_dir: cli_options.StateDir = None,
    as_json: cli_options.Json = False,
) -> None:
    """Print the resolved settings and where each came from; secrets show as <hidden>."""
    from productiv_upload.cli.commands.check import run_config_show

    _exit(_guarded(lambda: run_config_show(
        app_id=app_id, api_url=api_url, token_file=token_file, token_url=token_url,
        ca_bundle=ca_bundle,
        profile=profile, state_dir=state_dir, as_json=as_json, storage_hosts=storage_host,
        environ=os.environ, stdout=sys.stdout,
    ), debug=False))  # fmt: skip


@app.command(cls=typer_classes.Command)
def history(
    app_id: cli_options.AppFilter = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            metavar="WHEN",
            show_default=False,
            help="Only uploads since then: 24h, 7d, 30m, or an ISO date or time (UTC).",
        ),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit",
            metavar="N",
            min=1,
            show_default=False,
            help="Only the newest N uploads (still listed oldest first).",
        ),
    ] = None,
    as_json: cli_options.Json = False,
    state_dir: cli_options.StateDir = None,
) -> None:
    """List the uploads the journal recorded, oldest first."""
    from productiv_upload.cli.commands.history import run_history

    _exit(_guarded(lambda: run_history(
        app_id=app_id, since=since, limit=limit, as_json=as_json, state_dir=state_dir,
        environ=os.environ, stdout=sys.stdout,
    ), debug=False))  # fmt: skip


@app.command(cls=typer_classes.Command)
def status(
    app_id: cli_options.AppFilter = None,
    as_json: cli_options.Json = False,
    state_dir: cli_options.StateDir = None,
) -> None:
    """Show each app's last upload, last failure, files waiting to retry, and what runs now."""
    from productiv_upload.cli.commands.status import run_status

    _exit(_guarded(lambda: run_status(
        app_id=app_id, as_json=as_json, state_dir=state_dir, environ=os.environ,
        stdout=sys.stdout,
    ), debug=False))  # fmt: skip


@app.command("sandbox", cls=typer_classes.Command)
def sandbox_command(
    host: Annotated[
        str,
        typer.Option(
            "--host",
            metavar="ADDRESS",
            help="Loopback address to listen on: 127.0.0.1, ::1 or localhost.",
        ),
    ] = "127.0.0.1",
    port: Annotated[
        int,
        typer.Option(
            "--port", metavar="PORT", min=0, max=65535, help="Port on --host (0: any free one)."
        ),
    ] = 0,
    directory: Annotated[
        Path | None,
        typer.Option(
            "--dir",
            metavar="DIR",
            file_okay=False,
            show_default=False,
            help="Where uploaded files are stored (default: a new temporary folder).",
        ),
    ] = None,
    tls_cert: Annotated[
        Path | None,
        typer.Option(
            "--tls-cert",
            metavar="FILE",
            show_default=False,
            help="Serve https:// with this PEM certificate (chain), to rehearse TLS and "
            "proxies; needs --tls-key.",
        ),
    ] = None,
    tls_key: Annotated[
        Path | None,
        typer.Option(
            "--tls-key", metavar="FILE", show_default=False, help="The private key of --tls-cert."
        ),
    ] = None,
) -> None:
    """Run the local sandbox (API, token endpoint and bucket) in the foreground."""
    from productiv_upload.cli.commands.sandbox import run_sandbox

    signal.signal(signal.SIGTERM, _interrupt)
    _exit(_guarded(lambda: run_sandbox(
        host, port, directory, sys.stdout, sys.stderr, tls_cert=tls_cert, tls_key=tls_key,
    ), debug=False))  # fmt: skip


@app.command("watch", cls=typer_classes.Command)
def watch_command(
    ctx: typer.Context,
    dirs: Annotated[
        list[Path], typer.Argument(metavar="DIR", show_default=False, help="Folders to watch.")
    ],
    recursive: Annotated[
        bool, typer.Option("-r", "--recursive", rich_help_panel=INPUT, help="Watch subfolders too.")
    ] = False,
    exclude: cli_options.Exclude = None,
    min_age: Annotated[
        float,
        typer.Option(
            "--min-age",
            min=0,
            metavar="SECONDS",
            rich_help_panel=INPUT,
            help="Send a file once it has been unchanged this long.",
        ),
    ] = 5.0,
    batch_wait: Annotated[
        float,
        typer.Option(
            "--batch-wait",
            min=0,
            metavar="SECONDS",
            rich_help_panel=TRANSFER,
            help="Wait at most this long to fill a batch of up to 100 names.",
        ),
    ] = 1.0,
    retry_wait: Annotated[
        float,
        typer.Option(
            "--retry-wait",
            min=0.1,
            metavar="SECONDS",
            rich_help_panel=TRANSFER,
            help="First wait before a failed file is tried again (doubles, up to 1 h).",
        ),
    ] = 30.0,
    poll: Annotated[
        float | None,
        typer.Option(
            "--poll",
            min=0.1,
            metavar="SECONDS",
            rich_help_panel=INPUT,
            show_default=False,
            help="Rescan every SECONDS instead of using OS events (network filesystems).",
        ),
    ] = None,
    app_id: cli_options.AppId = None,
    api_url: cli_options.ApiUrl = None,
    token_file: cli_options.TokenFile = None,
    token_url: cli_options.TokenUrl = None,
    ca_bundle: cli_options.CaBundle = None,
    profile: cli_options.Profile = None,
    storage_host: cli_options.StorageHost = None,
    upload_type: cli_options.UploadType = None,
    concurrency: cli_options.Concurrency = 8,
    retries: cli_options.Retries = 5,
    timeout: cli_options.Timeout = 60.0,
    limit_rate: cli_options.LimitRate = None,
    checksum: cli_options.Checksum = False,
    state_dir: cli_options.StateDir = None,
    journal_retention: cli_options.JournalRetention = 30.0,
    wait_lock: cli_options.WaitLock = 0.0,
    move_to: cli_options.MoveTo = None,
    delete_after: cli_options.DeleteAfter = False,
    json_lines: Annotated[
        bool,
        typer.Option("--json", rich_help_panel=OUTPUT, help="One JSON object per file, per line."),
    ] = False,
    metrics_file: cli_options.MetricsFile = None,
    debug: cli_options.Debug = False,
) -> None:
    """Upload files as they appear in folders, once each has settled; runs until stopped."""
    from productiv_upload.cli.commands.watch import run_watch_command
    from productiv_upload.core.settings.push import PushRequest
    from productiv_upload.core.settings.transfer import TransferSettings
    from productiv_upload.core.watch.memory import WatchRequest

    rate = _checked_transfer_options(limit_rate, move_to, delete_after)
    push_request = PushRequest(
        paths=[],
        recursive=recursive,
        excludes=exclude or [],
        app_id=app_id,
        api_url=api_url,
        token_file=token_file,
        token_url=token_url,
        ca_bundle=ca_bundle,
        profile=profile,
        storage_hosts=storage_host or [],
        transfer=TransferSettings(
            concurrency=concurrency,
            retries=retries,
            timeout=timeout,
            limit_rate=rate,
            upload_type=upload_type,
        ),
        state_dir=state_dir,
        wait_lock=wait_lock,
        move_to=move_to,
        delete_after=delete_after,
        journal_retention_days=journal_retention,
        metrics_file=metrics_file,
    )
    request = WatchRequest(
        [str(d) for d in dirs],
        push_request,
        min_age=min_age,
        batch_wait=batch_wait,
        retry_wait=retry_wait,
        poll=poll,
        checksum=checksum,
    )
    # A service must stop on SIGTERM even if the KeyboardInterrupt it raises lands in a
    # finalizer, which would swallow it: the loop also sees the event and ends by itself.
    stop = threading.Event()

    def stop_service(signum: int, frame: object) -> None:
        stop.set()
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop_service)
    signal.signal(signal.SIGINT, stop_service)
    _exit(
        _guarded(
            lambda: run_watch_command(
                request,
                json_lines=json_lines,
                stdout=sys.stdout,
                stderr=sys.stderr,
                redactor=_redactor(ctx),
                stop=stop,
                debug=debug,
            ),
            debug,
        )
    )


def _checked_transfer_options(
    limit_rate: str | None, move_to: Path | None, delete_after: bool
) -> float | None:
    """What push and watch check alike before starting: returns --limit-rate in bytes/s."""
    from productiv_upload.service.throttle import parse_rate

    if move_to is not None and delete_after:
        _fail("choose --move-to or --delete-after, not both", ExitStatus.BAD_INPUT)
    try:
        return parse_rate(limit_rate) if limit_rate is not None else None
    except ValueError as error:
        _fail(f"--limit-rate: {error}", ExitStatus.BAD_INPUT)


def _redactor(ctx: typer.Context) -> Redactor:
    # main() provides one; typer's test runner calls the app without it.
    return ctx.obj if isinstance(ctx.obj, Redactor) else Redactor()


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
    # Everything the process writes passes through one redactor, seeded with the secrets the
    # environment holds; commands add those they read from files or fetch.
    redactor = Redactor()
    redactor.add(
        os.environ.get("PRODUCTIV_ACCESS_TOKEN"), os.environ.get("PRODUCTIV_CLIENT_SECRET")
    )
    sys.stdout = redacting(sys.stdout, redactor)
    sys.stderr = redacting(sys.stderr, redactor)
    # A shell hook that typer's --install-completion wrote before it was turned off still asks
    # through $_PRODUCTIV_UPLOAD_COMPLETE: it keeps its answers, though the options are gone.
    from typer._completion_classes import completion_init  # typer is held below 0.30

    completion_init()
    try:
        app(prog_name="productiv-upload", obj=redactor)
    except SystemExit as exit_:
        if exit_.code == ExitStatus.INTERRUPTED:
            # The summary is out and the journal closed; do not wait for transfers that an
            # interrupt has abandoned (the interpreter would join their threads).
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(int(ExitStatus.INTERRUPTED))
        raise
