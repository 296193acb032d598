"""Token buckets (in process: one bucket per key per API replica): per client, and per
source address for failed authentications."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Hashable

from cachetools import TTLCache

# Buckets kept at most: an address-keyed limiter must not grow with every address that
# ever knocked. A bucket untouched for burst/rate seconds is full again, so dropping it
# then changes nothing; the oldest go first past this many.
MAX_BUCKETS = 100_000


class RateLimiter:
    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._buckets: TTLCache[Hashable, tuple[float, float]] = TTLCache(
            MAX_BUCKETS, ttl=burst / rate, timer=clock
        )

    def _tokens(self, key: Hashable, now: float) -> float:
        tokens, last = self._buckets.get(key, (float(self.burst), now))
        return min(float(self.burst), tokens + (now - last) * self.rate)

    def wait(self, key: Hashable) -> float | None:
        """None if a token is available (none is taken), else the seconds until one is."""
        tokens = self._tokens(key, self._clock())
        return None if tokens >= 1.0 else (1.0 - tokens) / self.rate

    def acquire(self, key: Hashable) -> float | None:
        """Take one token; None if granted, else the seconds until one is available."""
        now = self._clock()
        tokens = self._tokens(key, now)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            return None
        self._buckets[key] = (tokens, now)
        return (1.0 - tokens) / self.rate


def retry_after_header(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
