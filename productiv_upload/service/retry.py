"""How long to wait before trying again: exponential backoff with full jitter, and Retry-After."""

from __future__ import annotations

import email.utils
import random
import time

BASE_DELAY_S = 0.5
MAX_DELAY_S = 30.0
MAX_RETRY_AFTER_S = 300.0  # a server asking for more than this is treated as asking for this


def backoff_delay(
    attempt: int,
    retry_after: str | None = None,
    *,
    base: float = BASE_DELAY_S,
    cap: float = MAX_DELAY_S,
) -> float:
    """Seconds to wait after failed try number `attempt` (1-based).

    Full jitter (a uniform draw below the exponential ceiling) keeps parallel workers from
    retrying in lockstep; a Retry-After from the server is a floor, never shortened.
    """
    delay = random.uniform(0, min(cap, base * 2 ** (attempt - 1)))  # noqa: S311 (jitter, not secrecy)
    asked = parse_retry_after(retry_after)
    return max(delay, asked) if asked is not None else delay


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Retry-After holds either seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            moment = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = moment.timestamp() - (time.time() if now is None else now)
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)
