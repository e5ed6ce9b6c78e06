"""Keep the API's request rate under its limit (20 requests per second per endpoint)."""

from __future__ import annotations

import collections
import re
import threading
import time
from collections.abc import Callable

API_REQUESTS_PER_SECOND = 20
# The service starts its second when a request arrives, we start ours when it leaves; a first
# request slowed by connection setup, or a loaded machine at either end, would otherwise make
# the 21st look early (seen at 1.1 s on a loaded 2-core machine). URL requests carry 100 names
# each, so 16 of them a second are far more than the uploads can use.
WINDOW_S = 1.25


class RequestRate:
    """Allows at most `limit` requests in any window of `per` seconds, across threads.

    A sliding log of the last `limit` send times rather than a token bucket with a burst: a
    bucket refilling at `limit` per second still lets up to twice `limit` through in one second.
    """

    def __init__(
        self,
        limit: int = API_REQUESTS_PER_SECOND,
        per: float = WINDOW_S,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._per = per
        self._sent: collections.deque[float] = collections.deque(maxlen=limit)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()

    def wait(self) -> None:
        """Block until one more request fits in the window, and count it."""
        with self._lock:  # held while sleeping, so waiting threads queue in order
            now = self._clock()
            if len(self._sent) == self._sent.maxlen:
                delay = self._sent[0] + self._per - now
                if delay > 0:
                    self._sleep(delay)
                    now = self._clock()
            self._sent.append(now)


class ByteRate:
    """A total bandwidth cap shared by every transfer (`--limit-rate`).

    Each chunk books its share of a virtual timeline that advances at `bytes_per_s`; a sender
    ahead of the timeline waits. Bursts are allowed up to `burst_s` worth of bytes.
    """

    def __init__(
        self,
        bytes_per_s: float,
        *,
        burst_s: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if bytes_per_s <= 0:
            raise ValueError("the rate must be positive")
        self._rate = bytes_per_s
        self._burst_s = burst_s
        self._clock = clock
        self._booked_until = 0.0
        self._lock = threading.Lock()

    def delay_for(self, size: int) -> float:
        """Book `size` bytes; return how long the caller must wait before sending them."""
        with self._lock:
            now = self._clock()
            start = max(self._booked_until, now - self._burst_s)
            self._booked_until = start + size / self._rate
            return max(0.0, self._booked_until - now - self._burst_s)


_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:([kmg])(i?))?b?(?:/s)?\s*$", re.IGNORECASE)
_POWERS = {"k": 1, "m": 2, "g": 3}


def parse_rate(text: str) -> float:
    """'10M' (10 MB/s), '500k', '1.5G', '8Mi' (8 MiB/s) or plain bytes per second."""
    match = _RATE.match(text)
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"{text!r} is not a rate; use for example 10M (10 MB/s) or 500k")
    number, unit, binary = match.groups()
    if not unit:
        return float(number)
    base = 1024 if binary else 1000
    return float(number) * float(base ** _POWERS[unit.lower()])
