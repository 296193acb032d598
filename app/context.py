"""What a request carries through the app: the process-wide services and the request id."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.core.config import Settings
from app.core.crypto import DataCipher
from app.core.db import Database
from app.core.ratelimit import RateLimiter
from app.intake.groups import GroupCommit
from app.reference.coverage import CoverageCache


@dataclass(slots=True)
class AppServices:
    settings: Settings
    db: Database
    cipher: DataCipher
    rate_limiter: RateLimiter
    # Single-event intake requests applied together (app/intake/groups.py).
    intake_groups: GroupCommit[Any] = field(default_factory=GroupCommit)
    # The active sentra for the detail's suggestion (app/reference/coverage.py).
    sentra_coverage: CoverageCache = field(default_factory=CoverageCache)
