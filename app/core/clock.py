"""Time: 'now' in UTC, and the local 'today' of RUJUKAN_TIMEZONE, passed in as a value
so that the rules and the domain stay pure (tests inject any moment)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(slots=True)
class Clock:
    """'Now' and the local 'today' of RUJUKAN_TIMEZONE."""

    now: dt.datetime
    tz: dt.tzinfo

    @property
    def today(self) -> dt.date:
        return self.now.astimezone(self.tz).date()
