"""The active sentra and their coverage, as the referral detail's `suggested_sentra_code`
needs them, remembered for a moment.

Every detail read asked the registry for it (a round trip and the rows turned into sets:
a fifth of a detail's time). A registry change made through this process is seen at
once; one made through another replica within `SECONDS`. Only the suggestion uses this:
`assign` checks the sentra against the registry as it is in its own transaction.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from cachetools import TTLCache


@dataclass(frozen=True, slots=True)
class SentraCoverage:
    code: str
    province_code: str
    coverage_regency_codes: frozenset[str]
    active: bool


def suggest_sentra(
    registry: Iterable[SentraCoverage], province_code: str, regency_code: str | None
) -> str | None:
    """The active sentra covering the regency, else one in the province; lowest code wins."""
    active = sorted((s for s in registry if s.active), key=lambda s: s.code)
    if regency_code is not None:
        for s in active:
            if regency_code in s.coverage_regency_codes:
                return s.code
    for s in active:
        if s.province_code == province_code:
            return s.code
    return None


SECONDS = 2.0
Loader = Callable[[], Awaitable[list[SentraCoverage]]]


class CoverageCache:
    """The registry's coverage for `seconds` (a cachetools TTL cache of that one value), and
    a generation count: a load that a change overtook is handed out but not kept."""

    def __init__(self, seconds: float = SECONDS) -> None:
        self.seconds = seconds
        self._cache: TTLCache[str, list[SentraCoverage]] = TTLCache(maxsize=1, ttl=seconds)
        self._generation = 0

    async def get(self, load: Loader) -> list[SentraCoverage]:
        value = self._cache.get("registry")
        if value is not None:
            return value
        generation = self._generation
        value = await load()
        if generation == self._generation:  # no change was made while it loaded
            self._cache["registry"] = value
        return value

    def forget(self) -> None:
        """After a change to the registry."""
        self._generation += 1
        self._cache.clear()
