"""Options shared by several commands, declared once so their names and help never drift.

Every option that takes a value names it with a metavar (FILE, DIR, SECONDS...): the help shows
it after the option's name, and the completion scripts complete files for FILE and directories
for DIR (see model.py). A default that the value alone would not explain is shown as text
(`show_default="..."`), never also in the help text; an environment variable that sets the
option is named in the help text as `(env NAME)`. The settings layer reads the environment
itself, so that `config show` can say where each value came from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from productiv_upload.core.settings import limits

INPUT = "Input"
SERVICE = "Service"
TRANSFER = "Transfer"
OUTPUT = "Output"

AppId = Annotated[
    str | None,
    typer.Option(
        "--app-id",
        metavar="ID",
        rich_help_panel=SERVICE,
        show_default=False,
        help="Productiv app id (env PRODUCTIV_APP_ID).",
    ),
]
ApiUrl = Annotated[
    str | None,
    typer.Option(
        "--api-url",
        metavar="URL",
        rich_help_panel=SERVICE,
        show_default="https://api.productiv.com",
        help="API base URL (env PRODUCTIV_API_URL); http:// for loopback hosts only.",
    ),
]
TokenFile = Annotated[
    Path | None,
    typer.Option(
        "--token-file",
        metavar="FILE",
        rich_help_panel=SERVICE,
        show_default=False,
        help="File holding an access token, readable by you alone (env PRODUCTIV_TOKEN_FILE). "
        "Or the token itself in PRODUCTIV_ACCESS_TOKEN, or client credentials in "
        "PRODUCTIV_CLIENT_ID and PRODUCTIV_CLIENT_SECRET, or either in the config file.",
    ),
]
TokenUrl = Annotated[
    str | None,
    typer.Option(
        "--token-url",
        metavar="URL",
        rich_help_panel=SERVICE,
        show_default="https://login.api.productiv.com/oauth2/token",
        help="OAuth2 token URL for client credentials (env PRODUCTIV_TOKEN_URL).",
    ),
]
CaBundle = Annotated[
    Path | None,
    typer.Option(
        "--ca-bundle",
        metavar="FILE",
        rich_help_panel=SERVICE,
        show_default="the system's store",
        help="Trust exactly the PEM certificates in FILE, as for a TLS-inspecting proxy (env "
        "PRODUCTIV_CA_BUNDLE; ca_bundle in the config file; then REQUESTS_CA_BUNDLE, "
        "CURL_CA_BUNDLE, SSL_CERT_FILE). Proxies come from HTTPS_PROXY and NO_PROXY.",
    ),
]
Profile = Annotated[
    str | None,
    typer.Option(
        "--profile",
        metavar="NAME",
        rich_help_panel=SERVICE,
        show_default="default",
        help="Profile of the config file to use (env PRODUCTIV_PROFILE). The config file is "
        "~/.config/productiv-upload/config.toml, or the one PRODUCTIV_UPLOAD_CONFIG names.",
    ),
]
StorageHost = Annotated[
    list[str] | None,
    typer.Option(
        "--storage-host",
        metavar="PATTERN",
        rich_help_panel=SERVICE,
        show_default="*.amazonaws.com for Productiv's API, any host otherwise",
        help="Host signed upload URLs may point to, such as *.amazonaws.com (repeatable; env "
        "PRODUCTIV_STORAGE_HOSTS, comma-separated).",
    ),
]
StateDir = Annotated[
    Path | None,
    typer.Option(
        "--state-dir",
        metavar="DIR",
        file_okay=False,
        rich_help_panel=TRANSFER,
        show_default="~/.local/state/productiv-upload",
        help="Where the journal and lock live (env PRODUCTIV_UPLOAD_STATE_DIR).",
    ),
]
Timeout = Annotated[
    float,
    typer.Option(
        "--timeout",
        min=limits.MIN_TIMEOUT_S,
        max=limits.MAX_TIMEOUT_S,
        metavar="SECONDS",
        rich_help_panel=TRANSFER,
        help="Read timeout for every request; the connect timeout is at most 10 s.",
    ),
]
Json = Annotated[
    bool, typer.Option("--json", rich_help_panel=OUTPUT, help="Write JSON to stdout, only that.")
]
Debug = Annotated[
    bool,
    typer.Option(
        "--debug", rich_help_panel=OUTPUT, help="Show a traceback when an error ends the run."
    ),
]
Exclude = Annotated[
    list[str] | None,
    typer.Option(
        "--exclude",
        metavar="PATTERN",
        rich_help_panel=INPUT,
        show_default=False,
        help="Leave out matching files (repeatable; a pattern without / matches base names).",
    ),
]
UploadType = Annotated[
    str | None,
    typer.Option(
        "--type",
        metavar="TYPE",
        rich_help_panel=SERVICE,
        show_default=False,
        help="Passed to the API as the `type` parameter (users, contracts...).",
    ),
]
Concurrency = Annotated[
    int,
    typer.Option(
        "-j",
        "--concurrency",
        metavar="N",
        min=1,
        max=limits.MAX_CONCURRENCY,
        rich_help_panel=TRANSFER,
        help="Parallel PUTs.",
    ),
]
Retries = Annotated[
    int,
    typer.Option(
        "--retries",
        metavar="N",
        min=0,
        max=limits.MAX_RETRIES,
        rich_help_panel=TRANSFER,
        help="Retries after faults (429, 5xx, timeouts, dropped connections).",
    ),
]
WaitLock = Annotated[
    float,
    typer.Option(
        "--wait-lock",
        min=0,
        max=limits.MAX_WAIT_LOCK_S,
        metavar="SECONDS",
        rich_help_panel=TRANSFER,
        # 0 alone would not say what happens then.
        show_default="0 (exit 4 at once)",
        help="Wait up to SECONDS for another push or watch for the same app to finish.",
    ),
]
LimitRate = Annotated[
    str | None,
    typer.Option(
        "--limit-rate",
        metavar="RATE",
        rich_help_panel=TRANSFER,
        show_default=False,
        help="Total bandwidth cap across all transfers: 10M is 10 MB/s, 500k, 8Mi.",
    ),
]
MoveTo = Annotated[
    Path | None,
    typer.Option(
        "--move-to",
        metavar="DIR",
        rich_help_panel=TRANSFER,
        show_default=False,
        help="Move each file here once its upload is verified and recorded.",
    ),
]
DeleteAfter = Annotated[
    bool,
    typer.Option(
        "--delete-after",
        rich_help_panel=TRANSFER,
        help="Delete each file once its upload is verified and recorded.",
    ),
]
Checksum = Annotated[
    bool,
    typer.Option(
        "--checksum",
        rich_help_panel=TRANSFER,
        help="Compare every file the journal knows by content (a read), not by stat() alone.",
    ),
]
JournalRetention = Annotated[
    float,
    typer.Option(
        "--journal-retention",
        min=0,
        max=limits.MAX_JOURNAL_RETENTION_DAYS,
        metavar="DAYS",
        rich_help_panel=TRANSFER,
        help="Keep the journal's rows for files no longer in place (moved, deleted, replaced) "
        "this long; rows for files still in place are always kept.",
    ),
]
MetricsFile = Annotated[
    Path | None,
    typer.Option(
        "--metrics-file",
        metavar="FILE",
        rich_help_panel=OUTPUT,
        show_default=False,
        help="Write Prometheus metrics here for node_exporter's textfile collector (a .prom "
        "file; metrics_file in the config file).",
    ),
]
AppFilter = Annotated[
    str | None,
    typer.Option("--app-id", metavar="ID", help="Only this app.", show_default=False),
]
