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
from typing import Annotated, Any, NoReturn, TypeVar, cast

import typer

from productiv_upload import __version__
from productiv_upload.cli.help import typer_classes
from productiv_upload.cli.parameters import takes
from productiv_upload.common.errors import ExitStatus, UploadError
from productiv_upload.common.redact import Redactor, redacting
from productiv_upload.core.settings import options
from productiv_upload.core.settings.spec import settings_of, values_of

Settings = TypeVar("Settings")

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
@takes(options.PUSH)
def push(ctx: typer.Context, **given: Any) -> None:
    from productiv_upload.cli.commands.push import PushOutput, run_push
    from productiv_upload.core.settings.push import PushRequest

    values = values_of(options.PUSH, given)
    if not values["paths"] and values["files_from"] is None:
        # A usage error (help/typer_classes.py shows it), not the core's one line: `push`
        # alone is a user finding out what the command takes.
        ctx.fail(
            "no files given: name files, directories (with -r) or glob patterns, or "
            "--files-from FILE"
        )
    if values["keep_sandbox"] and not values["sandbox"]:
        _fail("--keep-sandbox goes with --sandbox", ExitStatus.BAD_INPUT)
    request = _settings(PushRequest, values)
    output = _settings(PushOutput, values)
    # cron and systemd stop jobs with SIGTERM: treat it like Ctrl-C, finishing cleanly.
    signal.signal(signal.SIGTERM, _interrupt)
    _exit(_guarded(lambda: run_push(request, output, redactor=_redactor(ctx)), output.debug))


@app.command(cls=typer_classes.Command)
@takes(options.CHECK)
def check(ctx: typer.Context, **given: Any) -> None:
    """Prove the credentials and the app work, before the first cron run. Uploads nothing."""
    from productiv_upload.cli.commands.check import run_check
    from productiv_upload.core.settings.shared import ServiceChoice

    values = values_of(options.CHECK, given)
    choice = _settings(ServiceChoice, values)
    _exit(
        _guarded(
            lambda: run_check(
                choice,
                timeout=values["timeout"],
                environ=os.environ,
                stdout=sys.stdout,
                redactor=_redactor(ctx),
            ),
            values["debug"],
        )
    )


@config_app.command("show", cls=typer_classes.Command)
@takes(options.CONFIG_SHOW)
def config_show(**given: Any) -> None:
    """Print the resolved settings and where each came from; secrets show as <hidden>."""
    from productiv_upload.cli.commands.check import run_config_show
    from productiv_upload.core.settings.shared import ServiceChoice

    values = values_of(options.CONFIG_SHOW, given)
    choice = _settings(ServiceChoice, values)
    _exit(
        _guarded(
            lambda: run_config_show(
                choice,
                state_dir=values["state_dir"],
                as_json=values["as_json"],
                environ=os.environ,
                stdout=sys.stdout,
            ),
            debug=False,
        )
    )


@app.command(cls=typer_classes.Command)
@takes(options.HISTORY)
def history(**given: Any) -> None:
    """List the uploads the journal recorded, oldest first."""
    from productiv_upload.cli.commands.history import run_history

    values = values_of(options.HISTORY, given)
    _exit(
        _guarded(lambda: run_history(**values, environ=os.environ, stdout=sys.stdout), debug=False)
    )


@app.command(cls=typer_classes.Command)
@takes(options.STATUS)
def status(**given: Any) -> None:
    """Show each app's last upload, last failure, files waiting to retry, and what runs now."""
    from productiv_upload.cli.commands.status import run_status

    values = values_of(options.STATUS, given)
    _exit(
        _guarded(lambda: run_status(**values, environ=os.environ, stdout=sys.stdout), debug=False)
    )


@app.command("sandbox", cls=typer_classes.Command)
@takes(options.SANDBOX_SERVER)
def sandbox_command(**given: Any) -> None:
    """Run the local sandbox (API, token endpoint and bucket) in the foreground."""
    from productiv_upload.cli.commands.sandbox import run_sandbox

    values = values_of(options.SANDBOX_SERVER, given)
    signal.signal(signal.SIGTERM, _interrupt)
    _exit(
        _guarded(lambda: run_sandbox(**values, stdout=sys.stdout, stderr=sys.stderr), debug=False)
    )


@app.command("watch", cls=typer_classes.Command)
@takes(options.WATCH)
def watch_command(ctx: typer.Context, **given: Any) -> None:
    """Upload files as they appear in folders, once each has settled; runs until stopped."""
    from productiv_upload.cli.commands.watch import run_watch_command
    from productiv_upload.core.settings.watch import WatchRequest

    values = values_of(options.WATCH, given)
    request = _settings(WatchRequest, values)
    debug = values["debug"]
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
                json_lines=values["json_lines"],
                stdout=sys.stdout,
                stderr=sys.stderr,
                redactor=_redactor(ctx),
                stop=stop,
                debug=debug,
            ),
            debug,
        )
    )


def _settings(cls: type[Settings], values: dict[str, Any]) -> Settings:
    """The settings object `values` make; a rule between options they break is a usage error."""
    try:
        return cast(Settings, settings_of(cls, values))
    except UploadError as error:
        _fail(str(error), error.exit_status)


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
