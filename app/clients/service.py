"""Client management as the API and the CLI do it."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import service
from app.clients.schemas import ClientCreate
from app.core import audit


async def create_client(
    session: AsyncSession, caller: audit.Caller | None, body: ClientCreate
) -> service.IssuedClient:
    """A client and its key, audited as `client.create` in the same transaction (`caller`
    None: the operator, through the CLI or the demo seed)."""
    issued = await service.create_client(
        session,
        name=body.name,
        role=body.role,
        facility_codes=body.facility_codes,
        sentra_codes=body.sentra_codes,
        bapas_codes=body.bapas_codes,
    )
    audit.record(session, caller, "client.create", "success", target_id=issued.client.id)
    return issued
