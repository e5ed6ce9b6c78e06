"""How files travel: parallel PUTs, batches of URL requests, retries, silence, pace, type."""

from __future__ import annotations

from dataclasses import dataclass

CONNECT_TIMEOUT_CAP_S = 10.0  # a connection that takes longer than this will not come


@dataclass(frozen=True)
class TransferSettings:
    """The transfer options push, watch and check share (README, "Options")."""

    concurrency: int = 8
    batch_size: int = 100
    retries: int = 5
    timeout: float = 60.0  # seconds in which nothing moves, not a deadline
    limit_rate: float | None = None  # bytes per second, across all transfers
    upload_type: str | None = None  # `--type`: the service's upload type, if not the default

    @property
    def timeouts(self) -> tuple[float, float]:
        """(connect, silence) timeouts for the clients."""
        return min(self.timeout, CONNECT_TIMEOUT_CAP_S), self.timeout
