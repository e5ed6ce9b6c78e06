"""What a push is asked to do: the command line's options, or the Python API's arguments."""

from __future__ import annotations

from dataclasses import dataclass, field

from productiv_upload.core.settings import options
from productiv_upload.core.settings.shared import ServiceChoice, SpoolSettings, StateSettings
from productiv_upload.core.settings.transfer import TransferSettings


@dataclass(frozen=True)
class PushRequest:
    """What to push and how.

    Its fields, and its parts', are named as the options are (core/settings/options.py), so
    that `settings_of(PushRequest, values)` builds it from them."""

    paths: list[str] = field(default_factory=list)
    recursive: bool = False
    files_from: str | None = None
    null: bool = False
    exclude: list[str] = field(default_factory=list)
    allow_empty: bool = False
    force: bool = False
    dry_run: bool = False
    max_age: float = options.MAX_AGE.default  # hours
    min_age: float | None = None  # seconds; younger files are deferred to a later run
    checksum: bool = False  # compare every known file by content, not by stat() alone
    service: ServiceChoice = field(default_factory=ServiceChoice)
    transfer: TransferSettings = field(default_factory=TransferSettings)
    spool: SpoolSettings = field(default_factory=SpoolSettings)
    state: StateSettings = field(default_factory=StateSettings)
