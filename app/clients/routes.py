"""Client management (admin): create, list, rotate a key, deactivate."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Body, Depends
from fastapi.responses import Response

from app.auth import service
from app.auth.deps import ApiRoute, require_role
from app.auth.principal import Principal
from app.auth.roles import Role
from app.clients import service as clients
from app.clients.schemas import CLIENT_EXAMPLES, ClientCreate, ClientOut, ClientWithKey
from app.core import audit
from app.core.deps import ClockDep, ReadSessionDep, SessionDep, SettingsDep
from app.core.openapi import PROBLEM_RESPONSES
from app.core.schemas import Items

router = APIRouter(
    prefix="/v1/clients", tags=["Clients"], responses=PROBLEM_RESPONSES, route_class=ApiRoute
)
AdminDep = Annotated[Principal, Depends(require_role(Role.admin))]


@router.post(
    "",
    status_code=201,
    summary="Create a client and its API key (shown once)",
    response_model=ClientWithKey,
)
async def create_client(
    principal: AdminDep,
    body: Annotated[ClientCreate, Body(openapi_examples=CLIENT_EXAMPLES)],
    session: SessionDep,
) -> ClientWithKey:
    issued = await clients.create_client(session, principal, body)
    return ClientWithKey.model_validate(service.client_out(issued.client, issued.api_key))


@router.get("", summary="All clients (never their keys)", response_model=Items[ClientOut])
async def list_clients(principal: AdminDep, session: ReadSessionDep) -> Items[ClientOut]:
    rows = await service.list_clients(session)
    return Items[ClientOut](items=[ClientOut.model_validate(service.client_out(c)) for c in rows])


@router.post(
    "/{client_id}/rotate-key",
    summary="Issue a new key; the old one works for the grace period",
    description="The previous key keeps working for `RUJUKAN_KEY_GRACE_SECONDS` "
    "(default 24 h) so the client can switch without downtime.",
    response_model=ClientWithKey,
)
async def rotate_key(
    client_id: str,
    principal: AdminDep,
    session: SessionDep,
    settings: SettingsDep,
    clock: ClockDep,
) -> ClientWithKey:
    client = await service.get_client(session, client_id)
    key = await service.rotate_key(
        session, client, clock.now, timedelta(seconds=settings.key_grace_seconds)
    )
    audit.record(session, principal, "client.rotate_key", "success", target_id=client.id)
    return ClientWithKey.model_validate(service.client_out(client, key))


@router.delete(
    "/{client_id}",
    status_code=204,
    summary="Deactivate a client: its keys stop working at once",
    response_class=Response,
)
async def deactivate_client(
    client_id: str, principal: AdminDep, session: SessionDep, clock: ClockDep
) -> Response:
    client = await service.get_client(session, client_id)
    service.deactivate(client, clock.now)
    audit.record(session, principal, "client.deactivate", "success", target_id=client.id)
    return Response(status_code=204)
