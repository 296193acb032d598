"""An app whose clock the test moves (no sleeping through real days)."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx

from app.core.clock import Clock
from app.core.config import Settings
from app.core.deps import get_clock
from app.main import create_app
from app.runtime import Runtime


@dataclass
class MovableClock:
    settings: Settings
    now: dt.datetime | None = None  # None: the real time

    def __call__(self) -> Clock:
        return Clock(self.now or dt.datetime.now(dt.UTC), self.settings.tz)

    def local(self, day: dt.date, hour: int = 9) -> dt.datetime:
        """A moment of `day` in RUJUKAN_TIMEZONE."""
        return dt.datetime.combine(day, dt.time(hour), tzinfo=self.settings.tz)


@contextlib.asynccontextmanager
async def http_with_clock(
    settings: Settings, services: Runtime
) -> AsyncIterator[tuple[httpx.AsyncClient, MovableClock]]:
    clock = MovableClock(settings)
    app = create_app(settings, runtime=services)
    app.dependency_overrides[get_clock] = clock
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://rujukan.test") as client:
        yield client, clock
