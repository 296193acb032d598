"""Clients and their keys: creation, authentication."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from cachetools import TLRUCache
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.keys import hash_api_key, new_api_key
from app.auth.models import Client
from app.auth.principal import Principal
from app.auth.roles import ANY, Role
from app.core.errors import FieldError, ProblemError, validation_failed
from app.core.i18n import msg


@dataclass(frozen=True, slots=True)
class IssuedClient:
    client: Client
    api_key: str


# Which codes a client of each role is bound to (SPEC §2): a prison to facilities, a
# sentra to sentra (never `*`), a Bapas to Bapas; the other roles to none.
_BINDINGS: dict[Role, str] = {
    Role.prison: "facility_codes",
    Role.sentra: "sentra_codes",
    Role.bapas: "bapas_codes",
}


def binding_errors(
    role: Role, facility_codes: list[str], sentra_codes: list[str], bapas_codes: list[str]
) -> list[FieldError]:
    """What is wrong with a client's bindings for its role: a client that could read or
    post nothing is refused, as are codes its role does not take."""
    given = {
        "facility_codes": facility_codes,
        "sentra_codes": sentra_codes,
        "bapas_codes": bapas_codes,
    }
    errors: list[FieldError] = []
    own = _BINDINGS.get(role)
    for field, codes in given.items():
        if field == own:
            if field == "sentra_codes" and ANY in codes:
                errors.append(
                    FieldError(
                        "INVALID_VALUE",
                        msg("a sentra client names its sentra, never `*`"),
                        f"/{field}",
                    )
                )
            elif not codes:
                errors.append(
                    FieldError(
                        "FIELD_REQUIRED",
                        msg("a {role} client is bound to {field}", role=role.value, field=field),
                        f"/{field}",
                    )
                )
        elif codes:
            errors.append(
                FieldError(
                    "INVALID_VALUE",
                    msg("a {role} client has no {field}", role=role.value, field=field),
                    f"/{field}",
                )
            )
    return errors


async def create_client(
    session: AsyncSession,
    *,
    name: str,
    role: Role,
    facility_codes: list[str] | None = None,
    sentra_codes: list[str] | None = None,
    bapas_codes: list[str] | None = None,
) -> IssuedClient:
    errors = binding_errors(role, facility_codes or [], sentra_codes or [], bapas_codes or [])
    if errors:
        raise validation_failed(errors)
    key = new_api_key()
    client = Client(
        id=uuid.uuid4(),
        name=name,
        role=role.value,
        facility_codes=sorted(set(facility_codes or [])),
        sentra_codes=sorted(set(sentra_codes or [])),
        bapas_codes=sorted(set(bapas_codes or [])),
        key_hash=hash_api_key(key),
        key_prefix=key[:10],
        active=True,
    )
    session.add(client)
    await session.flush()
    return IssuedClient(client, key)


def client_out(client: Client, api_key: str | None = None) -> dict[str, object]:
    out: dict[str, object] = {
        "client_id": client.id,
        "name": client.name,
        "role": client.role,
        "facility_codes": client.facility_codes,
        "sentra_codes": client.sentra_codes,
        "bapas_codes": client.bapas_codes,
        "key_prefix": client.key_prefix,
        "active": client.active,
        "created_at": client.created_at,
        "deactivated_at": client.deactivated_at,
        "previous_key_expires_at": client.previous_key_expires_at,
    }
    if api_key is not None:
        out["api_key"] = api_key
    return out


async def list_clients(session: AsyncSession) -> list[Client]:
    return list(
        (await session.execute(select(Client).order_by(Client.created_at, Client.id))).scalars()
    )


async def get_client(session: AsyncSession, client_id: str) -> Client:
    try:
        cid = uuid.UUID(client_id)
    except ValueError:
        raise ProblemError("CLIENT_NOT_FOUND") from None
    client = await session.get(Client, cid, with_for_update=True)
    if client is None:
        raise ProblemError("CLIENT_NOT_FOUND")
    return client


async def rotate_key(session: AsyncSession, client: Client, now: datetime, grace: timedelta) -> str:
    """A new key; the old one keeps working for `grace` so callers can switch without downtime."""
    if not client.active:
        raise ProblemError("CLIENT_INACTIVE")
    principal_cache.forget(client.id)
    key = new_api_key()
    client.previous_key_hash = client.key_hash if grace.total_seconds() > 0 else None
    client.previous_key_expires_at = now + grace if grace.total_seconds() > 0 else None
    client.key_hash = hash_api_key(key)
    client.key_prefix = key[:10]
    return key


def deactivate(client: Client, now: datetime) -> None:
    """Keys stop working at once; the row stays (history and audit name the client)."""
    principal_cache.forget(client.id)
    if client.active:
        client.active = False
        client.deactivated_at = now
        client.previous_key_expires_at = None


def _monotonic() -> float:
    return time.monotonic()  # looked up at each call (tests move the clock)


def _entry_expiry(_digest: str, entry: tuple[Principal, float], now: float) -> float:
    return now + entry[1]


def _bar_expiry(_client_id: uuid.UUID, seconds: float, now: float) -> float:
    return now + seconds


class PrincipalCache:
    """Recently authenticated keys, by hash, for a few seconds: the key lookup was a
    transaction of its own on every request (the largest fixed cost of a call).

    Deactivation and rotation through this process forget the client's entries at once and
    keep it out of the cache for a minute (so a request racing the change's commit cannot
    put the old answer back). Another replica notices such a change within the TTL
    (`RUJUKAN_AUTH_CACHE_SECONDS`, default 5; 0 turns the cache off). A key authenticated
    through its rotation grace is cached no longer than the grace lasts. Both maps are
    cachetools' TLRU caches (an expiry per entry, least recently used out when full).
    """

    def __init__(self, max_entries: int = 10_000) -> None:
        self.max_entries = max_entries
        # key digest -> (principal, seconds to keep it)
        self._entries: TLRUCache[str, tuple[Principal, float]] = TLRUCache(
            max_entries, ttu=_entry_expiry, timer=_monotonic
        )
        # client id -> seconds it is kept out
        self._barred: TLRUCache[uuid.UUID, float] = TLRUCache(
            max_entries, ttu=_bar_expiry, timer=_monotonic
        )
        self._barred_seconds = 60.0

    def get(self, digest: str) -> Principal | None:
        entry = self._entries.get(digest)
        return None if entry is None else entry[0]

    def put(self, digest: str, principal: Principal, seconds: float) -> None:
        if seconds <= 0 or principal.client_id in self._barred:
            return
        self._entries[digest] = (principal, seconds)
        self._barred_seconds = max(self._barred_seconds, seconds)

    def forget(self, client_id: uuid.UUID) -> None:
        self._barred[client_id] = self._barred_seconds
        for digest in [d for d, (p, _) in self._entries.items() if p.client_id == client_id]:
            self._entries.pop(digest, None)

    def clear(self) -> None:
        self._entries.clear()
        self._barred.clear()


principal_cache = PrincipalCache()


def cached_principal(key: str) -> Principal | None:
    return principal_cache.get(hash_api_key(key))


def principal_of(client: Client) -> Principal:
    """The client as a caller: its role and bindings."""
    return Principal(
        client_id=client.id,
        name=client.name,
        role=Role(client.role),
        facility_codes=frozenset(client.facility_codes),
        sentra_codes=frozenset(client.sentra_codes),
        bapas_codes=frozenset(client.bapas_codes),
    )


async def principal_for_key(
    session: AsyncSession, key: str, now: datetime, *, cache_seconds: float = 0.0
) -> Principal | None:
    """The caller of `key`, from the database; remembered for `cache_seconds` (see
    `PrincipalCache`; `cached_principal` asks the cache first)."""
    digest = hash_api_key(key)
    row = (
        await session.execute(
            select(Client).where(
                Client.active.is_(True),
                or_(
                    Client.key_hash == digest,
                    (Client.previous_key_hash == digest) & (Client.previous_key_expires_at > now),
                ),
            )
        )
    ).scalar_one_or_none()
    if row is None:
        return None
    principal = principal_of(row)
    if row.key_hash != digest and row.previous_key_expires_at is not None:
        cache_seconds = min(cache_seconds, (row.previous_key_expires_at - now).total_seconds())
    principal_cache.put(digest, principal, cache_seconds)
    return principal
