"""Clients and their keys: creation, authentication."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.keys import hash_api_key, new_api_key
from app.auth.models import Client
from app.auth.principal import Principal
from app.referrals.domain import Role


@dataclass(frozen=True, slots=True)
class IssuedClient:
    client: Client
    api_key: str


async def create_client(
    session: AsyncSession,
    *,
    name: str,
    role: Role,
    facility_codes: list[str] | None = None,
    sentra_codes: list[str] | None = None,
) -> IssuedClient:
    key = new_api_key()
    client = Client(
        id=uuid.uuid4(),
        name=name,
        role=role.value,
        facility_codes=sorted(set(facility_codes or [])),
        sentra_codes=sorted(set(sentra_codes or [])),
        key_hash=hash_api_key(key),
        key_prefix=key[:10],
        active=True,
    )
    session.add(client)
    await session.flush()
    return IssuedClient(client, key)


async def principal_for_key(session: AsyncSession, key: str, now: datetime) -> Principal | None:
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
    return Principal(
        client_id=row.id,
        name=row.name,
        role=Role(row.role),
        facility_codes=frozenset(row.facility_codes),
        sentra_codes=frozenset(row.sentra_codes),
    )
