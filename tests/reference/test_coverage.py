"""The detail's memory of the active sentra (app/reference/coverage.py)."""

from __future__ import annotations

import asyncio

from app.reference.coverage import CoverageCache, SentraCoverage


def registry(*codes: str) -> list[SentraCoverage]:
    return [SentraCoverage(code, "31", frozenset({"3171"}), True) for code in codes]


async def test_a_loaded_registry_is_reused_until_it_expires() -> None:
    cache = CoverageCache(seconds=0.05)
    loads: list[int] = []

    async def load() -> list[SentraCoverage]:
        loads.append(1)
        return registry("A")

    assert await cache.get(load) == registry("A")
    assert await cache.get(load) == registry("A")
    assert len(loads) == 1
    await asyncio.sleep(0.06)
    await cache.get(load)
    assert len(loads) == 2


async def test_a_change_is_seen_at_once() -> None:
    cache = CoverageCache(seconds=60)
    current = registry("A")

    async def load() -> list[SentraCoverage]:
        return list(current)

    assert await cache.get(load) == registry("A")
    current = registry("A", "B")
    cache.forget()
    assert await cache.get(load) == registry("A", "B")


async def test_a_load_overtaken_by_a_change_is_not_kept() -> None:
    """A registry read before a change committed must not stay cached after it."""
    cache = CoverageCache(seconds=60)
    started = asyncio.Event()
    release = asyncio.Event()

    async def slow_old() -> list[SentraCoverage]:
        started.set()
        await release.wait()
        return registry("OLD")

    reading = asyncio.create_task(cache.get(slow_old))
    await started.wait()
    cache.forget()  # a change commits while the old registry is being read
    release.set()
    assert await reading == registry("OLD")  # that reader gets what it read

    async def new() -> list[SentraCoverage]:
        return registry("NEW")

    assert await cache.get(new) == registry("NEW")  # but it was not remembered
