"""The audit log for auditors and admins: who did or read what, when (SPEC §8)."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

from app.audit import service
from app.auth.principal import Principal
from app.deps import ServicesDep, require_role
from app.referrals.domain import Role
from app.responses import PROBLEM_RESPONSES
from app.schemas import ResponseModel

_DATE_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ].+")


def _date_time(value: object) -> object:
    """An RFC 3339 time only: pydantic alone reads `0.5` as a Unix timestamp."""
    if isinstance(value, str) and not _DATE_TIME.fullmatch(value):
        raise PydanticCustomError("datetime_parsing", "Input should be an RFC 3339 date-time")
    return value


Rfc3339 = Annotated[dt.datetime, BeforeValidator(_date_time)]

router = APIRouter(prefix="/v1/audit-events", tags=["Audit"], responses=PROBLEM_RESPONSES)
AuditorDep = Annotated[Principal, Depends(require_role(Role.auditor, Role.admin))]


class AuditEventOut(ResponseModel):
    id: int
    at: dt.datetime
    client_id: uuid.UUID | None
    actor: str | None
    action: str
    referral_id: uuid.UUID | None
    target_id: uuid.UUID | None
    request_id: str | None
    outcome: str


class AuditPage(ResponseModel):
    items: list[AuditEventOut]
    next_cursor: str | None


@router.get(
    "",
    summary="Audit events, oldest first",
    description="Every read of a referral's detail, history or export, every event intake, "
    "transition, client and subscription change. Rows are append-only.",
    response_model=AuditPage,
)
async def list_audit_events(
    principal: AuditorDep,
    services: ServicesDep,
    referral_id: uuid.UUID | None = None,
    client_id: uuid.UUID | None = None,
    action: Annotated[str | None, Query(max_length=48)] = None,
    from_: Annotated[Rfc3339 | None, Query(alias="from")] = None,
    to: Rfc3339 | None = None,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> AuditPage:
    rows, next_cursor = await service.search(
        services,
        service.AuditQuery(referral_id, client_id, action, from_, to),
        cursor=cursor,
        limit=limit,
    )
    return AuditPage(items=[AuditEventOut.model_validate(r) for r in rows], next_cursor=next_cursor)
