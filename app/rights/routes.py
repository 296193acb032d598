"""The person's rights (SPEC §12): subject access, rectification requests."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Response

from app.auth.deps import ACTOR_PATTERN, ApiRoute, require_role
from app.auth.principal import Principal
from app.auth.roles import Role
from app.core.deps import CipherDep, ClockDep, SessionDep, SettingsDep
from app.core.openapi import PROBLEM_RESPONSES
from app.core.schemas import Items
from app.reference.deps import CoverageDep
from app.referrals.schemas import ReferralDetail
from app.referrals.service import DetailView
from app.rights import service
from app.rights.schemas import (
    ConsentWithdrawalCreate,
    RectificationCreate,
    RectificationDecline,
    RectificationOut,
    SubjectAccess,
    SubjectSearch,
)


class SubjectRoute(ApiRoute):
    """A refused subject access is audited too (`subjects.access`, the problem code)."""

    def refusal_action(self, body: Any) -> str | None:
        return "subjects.access"


subjects = APIRouter(
    prefix="/v1/subjects", tags=["Rights"], responses=PROBLEM_RESPONSES, route_class=SubjectRoute
)
KemensosDep = Annotated[Principal, Depends(require_role(Role.kemensos))]


@subjects.post(
    "/search",
    summary="Everything held about a person (subject access, UU 27/2022)",
    description="Kemensos, for a person exercising the right of access: every referral of "
    "the NIK, open or ended (all episodes), whole — the case data, the lifecycle, the "
    "history, the rehabilitation record (every note, whatever its audience) and the "
    "follow-ups — and, from the audit log, every client it was disclosed to, with how "
    "(`via`), when first and last, and how often. The NIK travels in the body, never in a "
    "URL. `X-Actor` (the officer answering) is required: 422 `ACTOR_REQUIRED` without it. "
    "A malformed NIK is a 422 (`INVALID_NIK` at `/nik`); a NIK with no referral a 404 "
    "`SUBJECT_NOT_FOUND`. Audited as `subjects.access`, naming the referrals shown.",
    response_model=SubjectAccess,
    # The header every /v1 call may carry is required here: the schema says so, so that a
    # generated client sends it (the service answers 422 ACTOR_REQUIRED without it).
    openapi_extra={
        "parameters": [
            {
                "name": "X-Actor",
                "in": "header",
                "required": True,
                "description": "The officer answering the person's request.",
                "schema": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 128,
                    "pattern": ACTOR_PATTERN,
                },
            }
        ]
    },
)
async def search_subject(
    principal: KemensosDep,
    body: Annotated[
        SubjectSearch,
        Body(
            openapi_examples={
                "nik": {
                    "summary": "A person asks what is held about them",
                    "value": {"nik": "3171011203850001"},
                }
            }
        ),
    ],
    session: SessionDep,
    cipher: CipherDep,
    settings: SettingsDep,
    coverage: CoverageDep,
    clock: ClockDep,
) -> Response:
    view = DetailView(cipher, settings.triage_days, coverage, clock)
    out = await service.subject_access(session, principal, body.nik, view)
    return Response(out.model_dump_json(), media_type="application/json")


class RectificationRoute(ApiRoute):
    """Refused rectification writes are audited, like transitions."""

    action: str = "referral.rectification_request"

    def refusal_action(self, body: Any) -> str | None:
        return self.action


class DeclineRoute(RectificationRoute):
    action = "referral.rectification_decline"


rectifications = APIRouter(
    prefix="/v1/referrals/{referral_id}/rectification-requests",
    tags=["Rights"],
    responses=PROBLEM_RESPONSES,
    route_class=ApiRoute,
)
RequesterDep = Annotated[Principal, Depends(require_role(Role.kemensos, Role.sentra))]
ReaderDep = Annotated[Principal, Depends(require_role(Role.kemensos, Role.sentra, Role.prison))]
PrisonDep = Annotated[Principal, Depends(require_role(Role.prison))]

_EXAMPLE = {
    "address": {
        "summary": "The person moved before release",
        "value": {
            "fields": ["/person/domicile/address", "/person/domicile/district_code"],
            "detail": (
                "Yang bersangkutan sudah pindah domisili sebelum keluar dari UPT; mohon diperbarui."
            ),
        },
    }
}


async def post_rectification(
    referral_id: str,
    principal: RequesterDep,
    body: Annotated[RectificationCreate, Body(openapi_examples=_EXAMPLE)],
    session: SessionDep,
    clock: ClockDep,
    cipher: CipherDep,
) -> RectificationOut:
    return await service.request_rectification(session, principal, referral_id, body, clock, cipher)


rectifications.add_api_route(
    "",
    post_rectification,
    methods=["POST"],
    status_code=201,
    summary="Ask the prison to correct the case data (rectification, UU 27/2022)",
    description="Kemensos or the assigned sentra, for a person who says data is wrong: "
    "the fields (JSON pointers into the detail's case data) and what is wrong. The service "
    "does not change the data itself: the prison corrects it at the source with a "
    "`case.updated` event, which resolves the request once every named field has changed "
    "(`resolved_at`), or declines it. Emits `referral.rectification_requested` (its `data` "
    "carries `rectification_request_id`). 404 for a referral the caller cannot read; 422 "
    "`INVALID_VALUE` at `/fields/<n>` for a pointer outside the case data.",
    response_model=RectificationOut,
    route_class_override=RectificationRoute,
)


@rectifications.get(
    "",
    summary="A referral's rectification requests",
    description="Kemensos, the assigned sentra and the originating prison: every request, "
    "oldest first, with `status` (`open`, `resolved`, `declined`), the fields still "
    "pending, `resolved_at` and the prison's answer.",
    response_model=Items[RectificationOut],
)
async def list_rectifications(
    referral_id: str, principal: ReaderDep, session: SessionDep, cipher: CipherDep
) -> Items[RectificationOut]:
    rows = await service.list_rectifications(session, principal, referral_id, cipher)
    return Items[RectificationOut](items=rows)


_DECLINE_EXAMPLE = {
    "right": {
        "summary": "The prison's record is right",
        "value": {"reason": "Data sudah sesuai dengan salinan putusan dan register UPT."},
    }
}


async def post_decline(
    referral_id: str,
    request_id: str,
    principal: PrisonDep,
    body: Annotated[RectificationDecline, Body(openapi_examples=_DECLINE_EXAMPLE)],
    session: SessionDep,
    clock: ClockDep,
    cipher: CipherDep,
) -> RectificationOut:
    return await service.decline_rectification(
        session, principal, referral_id, request_id, body.reason, clock.now, cipher
    )


rectifications.add_api_route(
    "/{request_id}/decline",
    post_decline,
    methods=["POST"],
    summary="Decline a rectification request (the originating prison)",
    description="The prison answers that its data is right. Only an open request: a "
    "resolved or declined one is a 409 `RECTIFICATION_CLOSED`; an unknown one a 404 "
    "`RECTIFICATION_NOT_FOUND`.",
    response_model=RectificationOut,
    route_class_override=DeclineRoute,
)


class WithdrawalRoute(ApiRoute):
    """A refused withdrawal is audited too (`referral.consent_withdrawal`, the code)."""

    def refusal_action(self, body: Any) -> str | None:
        return service.AUDIT_WITHDRAWAL


withdrawals = APIRouter(
    prefix="/v1/referrals/{referral_id}/consent-withdrawal",
    tags=["Rights"],
    responses=PROBLEM_RESPONSES,
    route_class=WithdrawalRoute,
)
WithdrawerDep = Annotated[Principal, Depends(require_role(Role.kemensos, Role.sentra, Role.prison))]

_WITHDRAWAL_EXAMPLE = {
    "signed": {
        "summary": "The person signed a withdrawal at the sentra",
        "value": {
            "withdrawn_at": "2026-12-01T10:30:00+07:00",
            "evidence_ref": "SENTRA-ABH-JKT/PENARIKAN/2026/0142",
        },
    }
}


@withdrawals.post(
    "",
    summary="Record that the person withdrew consent (UU 27/2022)",
    description="Kemensos, the assigned sentra or the originating prison, when the person "
    "withdraws the consent the referral rests on (`consent.basis = consent`; otherwise 409 "
    "`CONSENT_NOT_BASIS`). Not a lifecycle action: no `If-Match` (a person's withdrawal is "
    "never refused for a stale version), from any state. At once: `needs.health`, phone "
    "numbers, the guardian's contact and every free text about the person (transition "
    "notes in the history, the record's notes, summaries and descriptions, follow-up notes, "
    "rectification details) are erased — the free text by destroying the referral's own "
    "key, so the append-only history stays as written; a referral that has not ended is "
    "closed with outcome `consent_withdrawn` (history action `consent_withdrawal`, "
    "`referral.status_changed`), and `referral.consent_withdrawn` is emitted. From then on "
    "the prison's events are recorded but change nothing (200, outcome "
    "`consent_withdrawn`), and nothing more can be written to the record (409 "
    "`REFERRAL_ENDED`). The identity stays until retention, for the legal record. "
    "Recording the withdrawal again changes nothing and answers the detail. Answers the "
    "detail as the caller reads it, with its `ETag`.",
    response_model=ReferralDetail,
    responses={200: {"headers": {"ETag": {"schema": {"type": "string"}}}}},
)
async def post_consent_withdrawal(
    referral_id: str,
    principal: WithdrawerDep,
    body: Annotated[ConsentWithdrawalCreate, Body(openapi_examples=_WITHDRAWAL_EXAMPLE)],
    session: SessionDep,
    cipher: CipherDep,
    settings: SettingsDep,
    coverage: CoverageDep,
    clock: ClockDep,
) -> Response:
    view = DetailView(cipher, settings.triage_days, coverage, clock)
    out, tag = await service.withdraw_consent(session, principal, referral_id, body, view)
    return Response(out.model_dump_json(), media_type="application/json", headers={"ETag": tag})
