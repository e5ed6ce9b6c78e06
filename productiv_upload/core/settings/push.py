"""What a push is asked to do: the command line's options, or the Python API's arguments."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from productiv_upload.common.errors import UsageError
from productiv_upload.core.settings import options
from productiv_upload.core.settings.limits import DEFAULT_RETENTION_DAYS
from productiv_upload.core.settings.service import ServiceSettings, resolve_service
from productiv_upload.core.settings.transfer import TransferSettings


@dataclass(frozen=True)
class PushRequest:
    """What to push and how; `watch` builds one for the settings it shares with push.

    Its fields are named as the options are (core/settings/options.py), so that
    `settings_of(PushRequest, values)` builds it, and its transfer part, from them."""

    paths: list[str] = field(default_factory=list)
    recursive: bool = False
    files_from: str | None = None
    null: bool = False
    exclude: list[str] = field(default_factory=list)
    allow_empty: bool = False
    app_id: str | None = None
    api_url: str | None = None
    token_file: Path | None = None
    token_url: str | None = None
    ca_bundle: Path | None = None  # certificates trusted instead of the system's store
    # Given by a Python caller; the command line takes secrets from the environment or files.
    access_token: str | None = field(default=None, repr=False)
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    profile: str | None = None
    storage_hosts: list[str] = field(default_factory=list)
    transfer: TransferSettings = field(default_factory=TransferSettings)
    force: bool = False
    state_dir: Path | None = None
    wait_lock: float = options.WAIT_LOCK.default
    move_to: Path | None = None
    delete_after: bool = False
    dry_run: bool = False
    max_age: float = options.MAX_AGE.default  # hours
    min_age: float | None = None  # seconds; younger files are deferred to a later run
    checksum: bool = False  # compare every known file by content, not by stat() alone
    metrics_file: Path | None = None  # Prometheus text for node_exporter, replaced each run
    # Rows for files no longer in place (moved, deleted, replaced) are kept this long.
    journal_retention_days: float = DEFAULT_RETENTION_DAYS

    def __post_init__(self) -> None:
        # The rules between options, for the command line and push() alike.
        if self.move_to is not None and self.delete_after:
            raise UsageError("choose --move-to or --delete-after, not both")

    def resolve_service(self, environ: Mapping[str, str], *, sends: bool) -> ServiceSettings:
        """The service, credentials and trust this request names, from flags, environment and
        profile; credentials are required when it `sends` (a dry run sends nothing)."""
        return resolve_service(
            app_id=self.app_id, api_url=self.api_url, token_url=self.token_url,
            token_file=self.token_file, environ=environ, profile=self.profile,
            need_credentials=sends and not self.dry_run, storage_hosts=self.storage_hosts,
            access_token=self.access_token, client_id=self.client_id,
            client_secret=self.client_secret, ca_bundle=self.ca_bundle,
        )  # fmt: skip
