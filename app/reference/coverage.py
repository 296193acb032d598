"""The active sentra and their coverage, as the referral detail's `suggested_sentra_code`
needs them, remembered for a moment.

Every detail read asked the registry for it (a round trip and the rows turned into sets:
a fifth of a detail's time). A registry change made through this process is seen at
once; one made through another replica within `SECONDS`. Only the suggestion uses this:
`assign` checks the sentra against the registry as it is in its own transaction.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from app.referrals.domain import SentraCoverage

SECONDS = 2.0
Loader = Callable[[], Awaitable[list[SentraCoverage]]]


class CoverageCache:
    def __init__(self, seconds: float = SECONDS) -> None:
        self.seconds = seconds
        self._value: list[SentraCoverage] | None = None
        self._until = 0.0
        self._generation = 0

    async def get(self, load: Loader) -> list[SentraCoverage]:
        if self._value is not None and time.monotonic() < self._until:
            return self._value
        generation = self._generation
        value = await load()
        if generation == self._generation:  # no change was made while it loaded
            self._value, self._until = value, time.monotonic() + self.seconds
        return value

    def forget(self) -> None:
        """After a change to the registry."""
        self._generation += 1
        self._value = None
