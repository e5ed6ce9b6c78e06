"""What a watch is asked to do: its folders and pace, and the parts it shares with push."""

from __future__ import annotations

from dataclasses import dataclass, field

from productiv_upload.core.settings import options
from productiv_upload.core.settings.shared import ServiceChoice, SpoolSettings, StateSettings
from productiv_upload.core.settings.transfer import TransferSettings


@dataclass(frozen=True)
class WatchRequest:
    """The folders to watch and when a file in them is due; fields named as the options are."""

    dirs: list[str]
    recursive: bool = False
    exclude: list[str] = field(default_factory=list)
    min_age: float = options.WATCH_MIN_AGE.default  # unchanged this long: due
    batch_wait: float = options.BATCH_WAIT.default
    retry_wait: float = options.RETRY_WAIT.default
    poll: float | None = None  # seconds between rescans instead of OS events
    checksum: bool = False  # compare known files by content, not by stat() alone
    service: ServiceChoice = field(default_factory=ServiceChoice)
    transfer: TransferSettings = field(default_factory=TransferSettings)
    spool: SpoolSettings = field(default_factory=SpoolSettings)
    state: StateSettings = field(default_factory=StateSettings)
