from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Response

from app.auth.principal import Principal
from app.deps import ClockDep, ServicesDep, require_role
from app.referrals import service
from app.referrals.domain import Role
from app.referrals.schemas import (
    TRANSITION_EXAMPLES,
    HistoryEntry,
    ReferralDetail,
    TransitionRequest,
)
from app.responses import PROBLEM_RESPONSES
from app.schemas import Items

router = APIRouter(prefix="/v1/referrals", tags=["Referrals"], responses=PROBLEM_RESPONSES)
ReaderDep = Annotated[Principal, Depends(require_role(Role.kemensos, Role.prison, Role.sentra))]


@router.get(
    "/{referral_id}",
    summary="A referral in full",
    description="The case data in the event's shape, the lifecycle, derived fields and the "
    "actions open to the caller. `ETag` is the version to send back in `If-Match`.",
    response_model=ReferralDetail,
)
async def get_referral(
    referral_id: str,
    response: Response,
    principal: ReaderDep,
    services: ServicesDep,
    clock: ClockDep,
) -> ReferralDetail:
    out, tag = await service.read_detail(services, principal, referral_id, clock)
    response.headers["ETag"] = tag
    return out


@router.get(
    "/{referral_id}/history",
    summary="Every applied event and transition, oldest first",
    response_model=Items[HistoryEntry],
)
async def get_history(
    referral_id: str, principal: ReaderDep, services: ServicesDep
) -> Items[HistoryEntry]:
    rows = await service.read_history(services, principal, referral_id)
    return Items[HistoryEntry](
        items=[
            HistoryEntry(
                at=r.at,
                action=r.action,
                event_type=r.event_type,
                event_id=r.event_id,
                event_outcome=r.event_outcome,
                from_status=r.from_status,
                to_status=r.to_status,
                custody_status=r.custody_status,
                client=r.client_id,
                actor=r.actor,
                reason_code=r.reason_code,
                outcome=r.outcome,
                note=r.note,
                sentra_code=r.sentra_code,
                changed_fields=r.changed_fields,
            )
            for r in rows
        ]
    )


@router.post(
    "/{referral_id}/transitions",
    summary="Move a referral through its lifecycle",
    description="Send `If-Match` with the ETag of the referral as you last read it (428 "
    "without, 412 when stale). An action not open from the current status is a 409 "
    "`INVALID_TRANSITION` listing `allowed_actions`.",
    response_model=ReferralDetail,
    openapi_extra={
        "requestBody": {"content": {"application/json": {"examples": TRANSITION_EXAMPLES}}}
    },
)
async def post_transition(
    referral_id: str,
    body: TransitionRequest,
    response: Response,
    principal: ReaderDep,
    services: ServicesDep,
    clock: ClockDep,
    if_match: Annotated[str | None, Header(alias="If-Match")] = None,
) -> ReferralDetail:
    out, tag = await service.transition(services, principal, referral_id, body, if_match, clock)
    response.headers["ETag"] = tag
    return out
