"""Every option, declared once, and which commands take it, in the order their help lists them.

The command line builds each command's parameters from these tuples (cli/parameters.py),
push() checks its arguments with the same entries (library/arguments.py), and the help model and
completion scripts are generated from the command line. Where one flag means two things (push's
and watch's `--min-age`), each command has an entry of its own, made from the shared one.

Every option that takes a value names it with a metavar (FILE, DIR, SECONDS...): the help shows
it after the option's name, and the completion scripts complete files for FILE and directories
for DIR. A default the value alone would not explain is shown as text (`show_default="..."`),
never also in the help text. The settings layer reads the environment itself, so that
`config show` can say where each value came from.
"""

from __future__ import annotations

from dataclasses import replace

from productiv_upload.core.settings import limits
from productiv_upload.core.settings.limits import DEFAULT_RETENTION_DAYS
from productiv_upload.core.settings.spec import Option

INPUT, SERVICE, TRANSFER, OUTPUT = "Input", "Service", "Transfer", "Output"

# The entries read best as a table, one option to a paragraph.
# fmt: off

# Input
PATHS = Option("paths", (), "paths", None, metavar="PATH", argument=True, hidden=True,
               show_default=False)
WATCHED = Option("dirs", (), "paths", ..., help="Folders to watch.", metavar="DIR", argument=True,
                 show_default=False)
RECURSIVE = Option("recursive", ("-r", "--recursive"), "flag", False, panel=INPUT,
                   help="Upload every regular file below the directories given.")
FILES_FROM = Option("files_from", ("--files-from",), "text", metavar="FILE", panel=INPUT,
                    show_default=False,
                    help="Read paths from FILE, one per line ('-' for stdin).")
NULL = Option("null", ("-0", "--null"), "flag", False, panel=INPUT,
              help="--files-from is NUL-separated, as `find -print0` writes.")
EXCLUDE = Option("exclude", ("--exclude",), "texts", (), metavar="PATTERN", panel=INPUT,
                 show_default=False, help="Leave out matching files (repeatable; a pattern "
                 "without / matches base names).")
ALLOW_EMPTY = Option("allow_empty", ("--allow-empty",), "flag", False, panel=INPUT,
                     help="No matching files is not an error.")
MIN_AGE = Option("min_age", ("--min-age",), "number", None, metavar="SECONDS", low=0,
                 panel=INPUT, show_default=False,
                 help="Leave files modified less than SECONDS ago for a later run (status "
                 "deferred): they may still be being written.")

# Service
APP_ID = Option("app_id", ("--app-id",), "text", metavar="ID", panel=SERVICE, show_default=False,
                env="PRODUCTIV_APP_ID", help="Productiv app id ({env}).")
API_URL = Option("api_url", ("--api-url",), "text", metavar="URL", panel=SERVICE,
                 env="PRODUCTIV_API_URL", show_default="https://api.productiv.com",
                 help="API base URL ({env}); http:// for loopback hosts only.")
TOKEN_FILE = Option("token_file", ("--token-file",), "path", metavar="FILE", panel=SERVICE,
                    show_default=False, env="PRODUCTIV_TOKEN_FILE",
                    help="File holding an access token, readable by you alone ({env}). Or the "
                    "token itself in PRODUCTIV_ACCESS_TOKEN, or client credentials in "
                    "PRODUCTIV_CLIENT_ID and PRODUCTIV_CLIENT_SECRET, or either in the config "
                    "file.")
TOKEN_URL = Option("token_url", ("--token-url",), "text", metavar="URL", panel=SERVICE,
                   env="PRODUCTIV_TOKEN_URL",
                   show_default="https://login.api.productiv.com/oauth2/token",
                   help="OAuth2 token URL for client credentials ({env}).")
CA_BUNDLE = Option("ca_bundle", ("--ca-bundle",), "path", metavar="FILE", panel=SERVICE,
                   show_default="the system's store", env="PRODUCTIV_CA_BUNDLE",
                   help="Trust exactly the PEM certificates in FILE, as for a TLS-inspecting "
                   "proxy ({env}; ca_bundle in the config file; then REQUESTS_CA_BUNDLE, "
                   "CURL_CA_BUNDLE, SSL_CERT_FILE). Proxies come from HTTPS_PROXY and "
                   "NO_PROXY.")
PROFILE = Option("profile", ("--profile",), "text", metavar="NAME", panel=SERVICE,
                 show_default="default", env="PRODUCTIV_PROFILE",
                 help="Profile of the config file to use ({env}). The config file is "
                 "~/.config/productiv-upload/config.toml, or the one PRODUCTIV_UPLOAD_CONFIG "
                 "names.")
STORAGE_HOSTS = Option("storage_hosts", ("--storage-host",), "texts", (), metavar="PATTERN",
                       panel=SERVICE, env="PRODUCTIV_STORAGE_HOSTS",
                       show_default="*.amazonaws.com for Productiv's API, any host otherwise",
                       help="Host signed upload URLs may point to, such as *.amazonaws.com "
                       "(repeatable; {env}, comma-separated).")
UPLOAD_TYPE = Option("upload_type", ("--type",), "text", metavar="TYPE", panel=SERVICE,
                     show_default=False,
                     help="Passed to the API as the `type` parameter (users, contracts...).")
SANDBOX = Option("sandbox", ("--sandbox",), "flag", False, panel=SERVICE,
                 help="Upload to a local sandbox started for this run.")
KEEP_SANDBOX = Option("keep_sandbox", ("--keep-sandbox",), "flag", False, panel=SERVICE,
                      help="With --sandbox: keep its folder of uploaded files (removed at the "
                      "end otherwise).")
# Credentials push() takes as arguments; the command line reads them from the environment or
# files only (every user could read them in `ps`).
ACCESS_TOKEN = Option("access_token", (), "text", secret=True)
CLIENT_ID = Option("client_id", (), "text")
CLIENT_SECRET = Option("client_secret", (), "text", secret=True)

# Transfer
CONCURRENCY = Option("concurrency", ("-j", "--concurrency"), "whole", 8, metavar="N", low=1,
                     high=limits.MAX_CONCURRENCY, panel=TRANSFER, help="Parallel PUTs.")
BATCH_SIZE = Option("batch_size", ("--batch-size",), "whole", limits.MAX_BATCH_SIZE, metavar="N",
                    low=1, high=limits.MAX_BATCH_SIZE, panel=TRANSFER,
                    help="File names per URL request.")
RETRIES = Option("retries", ("--retries",), "whole", 5, metavar="N", low=0,
                 high=limits.MAX_RETRIES, panel=TRANSFER,
                 help="Retries after faults (429, 5xx, timeouts, dropped connections).")
TIMEOUT = Option("timeout", ("--timeout",), "number", 60.0, metavar="SECONDS",
                 low=limits.MIN_TIMEOUT_S, high=limits.MAX_TIMEOUT_S, panel=TRANSFER,
                 help="Read timeout for every request; the connect timeout is at most 10 s.")
FORCE = Option("force", ("--force",), "flag", False, panel=TRANSFER,
               help="Upload again files the journal records as uploaded unchanged.")
CHECKSUM = Option("checksum", ("--checksum",), "flag", False, panel=TRANSFER,
                  help="Compare every file the journal knows by content (a read), not by "
                  "stat() alone.")
STATE_DIR = Option("state_dir", ("--state-dir",), "path", metavar="DIR", folder=True,
                   panel=TRANSFER, show_default="~/.local/state/productiv-upload",
                   env="PRODUCTIV_UPLOAD_STATE_DIR",
                   help="Where the journal and lock live ({env}).")
JOURNAL_RETENTION = Option("journal_retention_days", ("--journal-retention",), "number",
                           DEFAULT_RETENTION_DAYS, metavar="DAYS", low=0,
                           high=limits.MAX_JOURNAL_RETENTION_DAYS, panel=TRANSFER,
                           help="Keep the journal's rows for files no longer in place (moved, "
                           "deleted, replaced) this long; rows for files still in place are "
                           "always kept.")
WAIT_LOCK = Option("wait_lock", ("--wait-lock",), "number", 0.0, metavar="SECONDS", low=0,
                   high=limits.MAX_WAIT_LOCK_S, panel=TRANSFER,
                   show_default="0 (exit 4 at once)",  # 0 alone would not say what happens
                   help="Wait up to SECONDS for another push or watch for the same app to "
                   "finish.")
LIMIT_RATE = Option("limit_rate", ("--limit-rate",), "rate", metavar="RATE", panel=TRANSFER,
                    show_default=False, help="Total bandwidth cap across all transfers: 10M is "
                    "10 MB/s, 500k, 8Mi.")
MOVE_TO = Option("move_to", ("--move-to",), "path", metavar="DIR", panel=TRANSFER,
                 show_default=False,
                 help="Move each file here once its upload is verified and recorded.")
DELETE_AFTER = Option("delete_after", ("--delete-after",), "flag", False, panel=TRANSFER,
                      help="Delete each file once its upload is verified and recorded.")

# Output
DRY_RUN = Option("dry_run", ("--dry-run",), "flag", False, panel=OUTPUT,
                 help="Show the batches and files that would be sent; contact nothing.")
JSON_REPORT = Option("json_report", ("--json",), "flag", False, panel=OUTPUT,
                     help="Write the JSON report to stdout, and nothing else there.")
REPORT = Option("report", ("--report",), "path", metavar="FILE", panel=OUTPUT,
                show_default=False, help="Also write the JSON report to FILE.")
LOG_FILE = Option("log_file", ("--log-file",), "path", metavar="FILE", panel=OUTPUT,
                  show_default=False,
                  help="Append a plain, timestamped log of the run to FILE.")
QUIET = Option("quiet", ("-q", "--quiet"), "flag", False, panel=OUTPUT,
               help="Print only failures and the final one-line summary.")
MAX_AGE = Option("max_age", ("--max-age",), "number", 12.0, metavar="HOURS", low=0, panel=OUTPUT,
                 help="Warn about files modified longer ago than this: Productiv only "
                 "guarantees aggregating events pushed within 12 hours.")
METRICS_FILE = Option("metrics_file", ("--metrics-file",), "path", metavar="FILE", panel=OUTPUT,
                      show_default=False,
                      help="Write Prometheus metrics here for node_exporter's textfile collector "
                      "(a .prom file; metrics_file in the config file).")
DEBUG = Option("debug", ("--debug",), "flag", False, panel=OUTPUT,
               help="Show a traceback when an error ends the run.")
AS_JSON = Option("as_json", ("--json",), "flag", False, panel=OUTPUT,
                 help="Write JSON to stdout, only that.")
ON_FILE = Option("on_file", (), "callback")  # push()'s: the command line shows each file

# Watch's own
WATCH_RECURSIVE = replace(RECURSIVE, help="Watch subfolders too.")
WATCH_MIN_AGE = replace(MIN_AGE, default=5.0, show_default=True,
                        help="Send a file once it has been unchanged this long.")
BATCH_WAIT = Option("batch_wait", ("--batch-wait",), "number", 1.0, metavar="SECONDS", low=0,
                    panel=TRANSFER,
                    help="Wait at most this long to fill a batch of up to 100 names.")
RETRY_WAIT = Option("retry_wait", ("--retry-wait",), "number", 30.0, metavar="SECONDS", low=0.1,
                    panel=TRANSFER, help="First wait before a failed file is tried again "
                    "(doubles, up to 1 h).")
POLL = Option("poll", ("--poll",), "number", None, metavar="SECONDS", low=0.1, panel=INPUT,
              show_default=False,
              help="Rescan every SECONDS instead of using OS events (network filesystems).")
JSON_LINES = Option("json_lines", ("--json",), "flag", False, panel=OUTPUT,
                    help="One JSON object per file, per line.")

# check, history, status, sandbox
CHECK_TIMEOUT = replace(TIMEOUT, default=30.0)
APP_FILTER = Option("app_id", ("--app-id",), "text", metavar="ID", show_default=False,
                    help="Only this app.")
SINCE = Option("since", ("--since",), "text", metavar="WHEN", show_default=False,
               help="Only uploads since then: 24h, 7d, 30m, or an ISO date or time (UTC).")
LIMIT = Option("limit", ("--limit",), "whole", None, metavar="N", low=1, show_default=False,
               help="Only the newest N uploads (still listed oldest first).")
HOST = Option("host", ("--host",), "text", "127.0.0.1", metavar="ADDRESS",
              help="Loopback address to listen on: 127.0.0.1, ::1 or localhost.")
PORT = Option("port", ("--port",), "whole", 0, metavar="PORT", low=0, high=65535,
              help="Port on --host (0: any free one).")
DIRECTORY = Option("directory", ("--dir",), "path", metavar="DIR", folder=True,
                   show_default=False,
                   help="Where uploaded files are stored (default: a new temporary folder).")
TLS_CERT = Option("tls_cert", ("--tls-cert",), "path", metavar="FILE", show_default=False,
                  help="Serve https:// with this PEM certificate (chain), to rehearse TLS and "
                  "proxies; needs --tls-key.")
TLS_KEY = Option("tls_key", ("--tls-key",), "path", metavar="FILE", show_default=False,
                 help="The private key of --tls-cert.")

SERVICE_OPTIONS = (APP_ID, API_URL, TOKEN_FILE, TOKEN_URL, CA_BUNDLE, PROFILE, STORAGE_HOSTS)

# Each command's options, in the order its help lists them.
PUSH = (
    PATHS, RECURSIVE, FILES_FROM, NULL, EXCLUDE, ALLOW_EMPTY, *SERVICE_OPTIONS, UPLOAD_TYPE,
    SANDBOX, KEEP_SANDBOX, CONCURRENCY, BATCH_SIZE, RETRIES, TIMEOUT, FORCE, CHECKSUM, STATE_DIR,
    JOURNAL_RETENTION, WAIT_LOCK, LIMIT_RATE, MOVE_TO, DELETE_AFTER, DRY_RUN, JSON_REPORT, REPORT,
    LOG_FILE, QUIET, MAX_AGE, MIN_AGE, METRICS_FILE, DEBUG,
)
WATCH = (
    WATCHED, WATCH_RECURSIVE, EXCLUDE, WATCH_MIN_AGE, BATCH_WAIT, RETRY_WAIT, POLL,
    *SERVICE_OPTIONS, UPLOAD_TYPE, CONCURRENCY, RETRIES, TIMEOUT, LIMIT_RATE, CHECKSUM, STATE_DIR,
    JOURNAL_RETENTION, WAIT_LOCK, MOVE_TO, DELETE_AFTER, JSON_LINES, METRICS_FILE, DEBUG,
)
CHECK = (*SERVICE_OPTIONS, CHECK_TIMEOUT, DEBUG)
CONFIG_SHOW = (*SERVICE_OPTIONS, STATE_DIR, AS_JSON)
HISTORY = (APP_FILTER, SINCE, LIMIT, AS_JSON, STATE_DIR)
STATUS = (APP_FILTER, AS_JSON, STATE_DIR)
SANDBOX_SERVER = (HOST, PORT, DIRECTORY, TLS_CERT, TLS_KEY)

# push()'s keyword arguments, in the order of its signature (library/__init__.py).
PUSH_FUNCTION = (
    PATHS, APP_ID, API_URL, ACCESS_TOKEN, CLIENT_ID, CLIENT_SECRET, TOKEN_URL, TOKEN_FILE,
    CA_BUNDLE, PROFILE, STATE_DIR, STORAGE_HOSTS, RECURSIVE, EXCLUDE, ALLOW_EMPTY, CONCURRENCY,
    BATCH_SIZE, RETRIES, TIMEOUT, FORCE, CHECKSUM, JOURNAL_RETENTION, DRY_RUN, MIN_AGE, MAX_AGE,
    WAIT_LOCK, LIMIT_RATE, MOVE_TO, DELETE_AFTER, METRICS_FILE, UPLOAD_TYPE, ON_FILE,
)
# fmt: on
