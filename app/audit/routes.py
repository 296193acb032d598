"""The audit log for auditors and admins: who did or read what, when (SPEC §8)."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import AfterValidator, BeforeValidator, Field

from app.audit import service
from app.auth.deps import ApiRoute, require_role
from app.auth.principal import Principal
from app.auth.roles import Role
from app.core.cursor import MAX_CURSOR_LENGTH
from app.core.deps import CursorsDep, ReadSessionDep
from app.core.i18n import msg, pydantic_error
from app.core.openapi import PROBLEM_RESPONSES
from app.core.schemas import ResponseModel

_DATE_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ].+")


def _date_time(value: object) -> object:
    """An RFC 3339 time only: pydantic alone reads `0.5` as a Unix timestamp."""
    if isinstance(value, str) and not _DATE_TIME.fullmatch(value):
        raise pydantic_error("datetime_parsing", msg("Input should be an RFC 3339 date-time"))
    return value


def _instant(value: dt.datetime) -> dt.datetime:
    """With an offset (RFC 3339 requires one), and a time UTC can hold: `0001-01-01T00:00
    +14:00` is a valid string for a moment before year 1 in UTC, which no column stores."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise pydantic_error("INVALID_DATE", msg("an RFC 3339 time needs an offset (Z or +07:00)"))
    try:
        return value.astimezone(dt.UTC)
    except OverflowError:
        raise pydantic_error(
            "INVALID_DATE", msg("out of range: not between years 1 and 9999 in UTC")
        ) from None


Rfc3339 = Annotated[dt.datetime, BeforeValidator(_date_time), AfterValidator(_instant)]

router = APIRouter(
    prefix="/v1/audit-events", tags=["Audit"], responses=PROBLEM_RESPONSES, route_class=ApiRoute
)
AuditorDep = Annotated[Principal, Depends(require_role(Role.auditor, Role.admin))]


# Audit rows are numbered by the database (their order); the API names them by UUIDs
# (SPEC §1), derived from that number: stable, unique, and no second key to store.
AUDIT_ID_NAMESPACE = uuid.UUID("6f0a3c52-8c1e-5b7a-9d1e-3a41f2b6c0d7")


def public_id(row_id: int) -> uuid.UUID:
    return uuid.uuid5(AUDIT_ID_NAMESPACE, f"audit-event:{row_id}")


class AuditEventOut(ResponseModel):
    id: uuid.UUID = Field(
        description="The row's id: a UUID (version 5) derived from its place in the log."
    )
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
    "transition, client and subscription change. Rows are append-only. `from` (inclusive) "
    "and `to` (exclusive) are RFC 3339 times with an offset; one without an offset, or "
    "outside years 1 to 9999 once in UTC, is a 422 `INVALID_DATE` naming the parameter.",
    response_model=AuditPage,
)
async def list_audit_events(
    principal: AuditorDep,
    session: ReadSessionDep,
    cursors: CursorsDep,
    referral_id: uuid.UUID | None = None,
    client_id: uuid.UUID | None = None,
    action: Annotated[
        str | None,
        Query(max_length=48, json_schema_extra={"pattern": r"^[^\x00-\x1f\x7f-\x9f]*$"}),
    ] = None,
    from_: Annotated[
        Rfc3339 | None,
        Query(alias="from", description="Rows at or after this RFC 3339 time (with offset)."),
    ] = None,
    to: Annotated[
        Rfc3339 | None,
        Query(description="Rows before this RFC 3339 time (with offset); exclusive."),
    ] = None,
    cursor: Annotated[str | None, Query(max_length=MAX_CURSOR_LENGTH)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> AuditPage:
    rows, next_cursor = await service.search(
        session,
        cursors,
        service.AuditQuery(referral_id, client_id, action, from_, to),
        cursor=cursor,
        limit=limit,
    )
    return AuditPage(
        items=[
            AuditEventOut(
                id=public_id(r.id),
                at=r.at,
                client_id=r.client_id,
                actor=r.actor,
                action=r.action,
                referral_id=r.referral_id,
                target_id=r.target_id,
                request_id=r.request_id,
                outcome=r.outcome,
            )
            for r in rows
        ],
        next_cursor=next_cursor,
    )
