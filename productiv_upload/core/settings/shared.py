"""The parts of a request push and watch share: the service chosen, the state kept, the spool.

Each is built from the options' values by `settings_of` (spec.py), its fields named as the
options are; `TransferSettings` (transfer.py) is the fourth such part.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from productiv_upload.common.errors import UsageError
from productiv_upload.core.settings import options
from productiv_upload.core.settings.service import ServiceSettings, resolve_service


@dataclass(frozen=True)
class ServiceChoice:
    """The app, URLs, credentials and trust as given, before the environment and the profile
    fill in the rest (`resolve`)."""

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

    def resolve(self, environ: Mapping[str, str], *, need_credentials: bool) -> ServiceSettings:
        """The service, credentials and trust from flags, environment and profile."""
        return resolve_service(
            app_id=self.app_id,
            api_url=self.api_url,
            token_url=self.token_url,
            token_file=self.token_file,
            environ=environ,
            profile=self.profile,
            need_credentials=need_credentials,
            storage_hosts=self.storage_hosts,
            access_token=self.access_token,
            client_id=self.client_id,
            client_secret=self.client_secret,
            ca_bundle=self.ca_bundle,
        )


@dataclass(frozen=True)
class StateSettings:
    """Where a run keeps its state, how long it waits for the lock, what it reports."""

    state_dir: Path | None = None
    wait_lock: float = options.WAIT_LOCK.default
    # Rows for files no longer in place (moved, deleted, replaced) are kept this long.
    journal_retention_days: float = options.JOURNAL_RETENTION.default
    metrics_file: Path | None = None  # Prometheus text for node_exporter, replaced each run


@dataclass(frozen=True)
class SpoolSettings:
    """What becomes of a file once its upload is verified and recorded."""

    move_to: Path | None = None
    delete_after: bool = False

    def __post_init__(self) -> None:
        # The one rule between options, for push and watch, command line and push() alike.
        if self.move_to is not None and self.delete_after:
            raise UsageError("choose --move-to or --delete-after, not both")

    @property
    def settles(self) -> bool:
        return self.move_to is not None or self.delete_after
