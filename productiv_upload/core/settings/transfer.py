"""How files travel: parallel PUTs, batches of URL requests, retries, silence, pace, type."""

from __future__ import annotations

from dataclasses import dataclass

from productiv_upload.core.settings import options
from productiv_upload.core.settings.spec import bytes_per_second

CONNECT_TIMEOUT_CAP_S = 10.0  # a connection that takes longer than this will not come


@dataclass(frozen=True)
class TransferSettings:
    """The transfer options push, watch and check share (README, "Options")."""

    concurrency: int = options.CONCURRENCY.default
    batch_size: int = options.BATCH_SIZE.default
    retries: int = options.RETRIES.default
    timeout: float = options.TIMEOUT.default  # seconds in which nothing moves, not a deadline
    # Bytes per second across all transfers; a rate given as text ("10M") is read as one.
    limit_rate: float | None = None
    upload_type: str | None = None  # `--type`: the service's upload type, if not the default

    def __post_init__(self) -> None:
        given: object = self.limit_rate
        if isinstance(given, str):
            object.__setattr__(self, "limit_rate", bytes_per_second(given))

    @property
    def timeouts(self) -> tuple[float, float]:
        """(connect, silence) timeouts for the clients."""
        return min(self.timeout, CONNECT_TIMEOUT_CAP_S), self.timeout
