"""Keep the API's request rate under its limit (20 requests per second per endpoint)."""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable

API_REQUESTS_PER_SECOND = 20
# The service starts its second when a request arrives, we start ours when it leaves; a first
# request slowed by connection setup would otherwise make the 21st look early.
WINDOW_S = 1.1


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
