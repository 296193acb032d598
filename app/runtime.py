"""What a process builds once at start and keeps: the composition root.

`app.main.create_app` puts each piece on `app.state`, where the request dependencies
(`app/core/deps.py`, `app/auth/deps.py`, each package's routes) read the one they need;
the worker and the CLI's jobs take the pieces they use as arguments. Nothing passes the
whole `Runtime` on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from app.audit.seals import Sealer, signing_key
from app.core.config import Settings
from app.core.crypto import DataCipher
from app.core.cursor import CursorCodec
from app.core.db import Database
from app.core.ratelimit import RateLimiter
from app.intake.groups import GroupCommit
from app.reference.coverage import CoverageCache


@dataclass(slots=True)
class Runtime:
    settings: Settings
    db: Database
    cipher: DataCipher
    rate_limiter: RateLimiter
    # Failed authentications per source address (SPEC §1).
    auth_failures: RateLimiter
    cursors: CursorCodec
    # Single-event intake requests applied together (app/intake/groups.py).
    intake_groups: GroupCommit[Any] = field(default_factory=GroupCommit)
    # The active sentra for the detail's suggestion (app/reference/coverage.py).
    sentra_coverage: CoverageCache = field(default_factory=CoverageCache)


def build_runtime(settings: Settings) -> Runtime:
    cipher = DataCipher(settings.resolve_data_key(), settings.resolve_previous_keys())
    return Runtime(
        settings=settings,
        db=Database(settings),
        cipher=cipher,
        rate_limiter=RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst),
        auth_failures=RateLimiter(settings.auth_failures_per_second, settings.auth_failure_burst),
        cursors=CursorCodec(*cipher.cursor_keys),
        intake_groups=GroupCommit(
            max_events=settings.intake_group_max_events,
            max_in_flight=settings.intake_group_in_flight,
        ),
    )


def audit_key_of(runtime: Runtime) -> Ed25519PrivateKey:
    """The key that signs the audit log's seals (SPEC §8), never stored in the database:
    resolved only by what seals or shows its public half (the worker, `serve`), so that
    `import`, `clients create` and the other jobs do not need it."""
    return signing_key(runtime.settings.resolve_audit_signing_key())


def sealer_of(runtime: Runtime) -> Sealer:
    return Sealer(runtime.db, audit_key_of(runtime))
