"""The audit log for auditors and admins: who did or read what, when (SPEC §8)."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import AfterValidator, BeforeValidator, Field

from app.audit import disclosures, service
from app.auth.deps import ApiRoute, require_role
from app.auth.principal import Principal
from app.auth.roles import Role
from app.core.audit import public_id
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


class DisclosureOut(ResponseModel):
    referral_id: uuid.UUID
    first_at: dt.datetime = Field(description="When the client was first shown it in the window.")
    last_at: dt.datetime = Field(description="When the client was last shown it in the window.")
    via: list[str] = Field(
        description="How: `detail`, `list`, `export`, `history`, `record`, `subject_access`.",
        examples=[["list", "detail"]],
    )


class DisclosurePage(ResponseModel):
    items: list[DisclosureOut]
    next_cursor: str | None


@router.get(
    "/disclosures",
    summary="Every referral a client was shown (breach scope)",
    description="For a breach notice (UU 27/2022: 3 x 24 hours): every referral the client "
    "was shown in the window, once each, ordered by `referral_id`, with the first and last "
    "time and how (`via`): a detail, a list page, an export, a history, a §10-11 record or "
    "a subject access; the answer of a transition counts as a `detail`. Only answered "
    "requests count; the change feed carries no personal data and is not counted. `from` "
    "(inclusive) and `to` (exclusive) are optional RFC 3339 times with an offset "
    "(`INVALID_DATE` otherwise). The window is read whole for every page: a narrow window "
    "answers faster.",
    response_model=DisclosurePage,
)
async def list_disclosures(
    principal: AuditorDep,
    session: ReadSessionDep,
    cursors: CursorsDep,
    client_id: Annotated[uuid.UUID, Query(description="The client whose key leaked.")],
    from_: Annotated[
        Rfc3339 | None,
        Query(alias="from", description="Shown at or after this RFC 3339 time (with offset)."),
    ] = None,
    to: Annotated[
        Rfc3339 | None,
        Query(description="Shown before this RFC 3339 time (with offset); exclusive."),
    ] = None,
    cursor: Annotated[str | None, Query(max_length=MAX_CURSOR_LENGTH)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> DisclosurePage:
    scope = "disclosures:" + json.dumps([str(client_id), str(from_), str(to)])
    after = cursors.decode(scope, cursor, read=uuid.UUID) if cursor else None
    seen = await disclosures.shown_to(session, client_id, from_, to)
    ordered = sorted(r for r in seen if after is None or r > after)
    page = ordered[:limit]
    return DisclosurePage(
        items=[
            DisclosureOut(
                referral_id=r,
                first_at=seen[r].first_at,
                last_at=seen[r].last_at,
                via=seen[r].vias(),
            )
            for r in page
        ],
        next_cursor=cursors.encode(scope, str(page[-1])) if len(ordered) > limit else None,
    )


seals_router = APIRouter(
    prefix="/v1/audit-seals", tags=["Audit"], responses=PROBLEM_RESPONSES, route_class=ApiRoute
)


class AuditSealOut(ResponseModel):
    seq: int = Field(description="The seal's number: 1, 2, 3, ... without gaps.")
    first_id: uuid.UUID = Field(description="The first audit event it covers (its API id).")
    last_id: uuid.UUID = Field(description="The last audit event it covers (its API id).")
    count: int = Field(description="How many audit events it covers.")
    hash: str = Field(
        description="SHA-256 (hex) over the previous seal's hash, this seal's number and "
        "the digests of its events' canonical forms, in commit order."
    )
    prev_hash: str = Field(description="The previous seal's `hash` (64 zeros for seal 1).")
    sealed_at: dt.datetime
    signature: str = Field(
        description="Base64 Ed25519 signature over `rujukan-audit-seal/v1`, `seq`, `hash`, "
        "`prev_hash` and `sealed_at` (RFC 3339), one per line."
    )


class AuditSealPage(ResponseModel):
    public_key: str = Field(
        description="Base64 of the raw 32-byte Ed25519 public key that signs new seals; "
        "keep a copy outside the service (`rujukan audit verify --public-key FILE`)."
    )
    items: list[AuditSealOut]
    next_cursor: str | None


@seals_router.get(
    "",
    summary="The audit log's seals, oldest first",
    description="Tamper evidence (SPEC §8): the worker seals new audit events in blocks at "
    "least once a minute; each seal is chained to the one before and signed with the "
    "service's Ed25519 key, which does not live in the database. Events newer than the "
    "last seal are not sealed yet. `rujukan audit verify` recomputes every seal from the "
    "events and names the first event or seal that was changed, removed or inserted.",
    response_model=AuditSealPage,
)
async def list_audit_seals(
    principal: AuditorDep,
    session: ReadSessionDep,
    cursors: CursorsDep,
    request: Request,
    cursor: Annotated[str | None, Query(max_length=MAX_CURSOR_LENGTH)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> AuditSealPage:
    rows, next_cursor = await service.seals(session, cursors, cursor=cursor, limit=limit)
    return AuditSealPage(
        public_key=request.app.state.audit_public_key(),
        items=[
            AuditSealOut(
                seq=r.seq,
                first_id=public_id(r.first_id),
                last_id=public_id(r.last_id),
                count=r.count,
                hash=r.hash,
                prev_hash=r.prev_hash,
                sealed_at=r.sealed_at,
                signature=r.signature,
            )
            for r in rows
        ],
        next_cursor=next_cursor,
    )
