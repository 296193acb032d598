"""The person's rights (SPEC §12): subject access, rectification requests."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Response

from app.auth.deps import ApiRoute, require_role
from app.auth.principal import Principal
from app.auth.roles import Role
from app.core.deps import CipherDep, ClockDep, SessionDep, SettingsDep
from app.core.openapi import PROBLEM_RESPONSES
from app.reference.deps import CoverageDep
from app.referrals.service import DetailView
from app.rights import service
from app.rights.schemas import SubjectAccess, SubjectSearch


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
    "history — and, from the audit log, every client it was disclosed to, with how "
    "(`via`), when first and last, and how often. The NIK travels in the body, never in a "
    "URL. `X-Actor` (the officer answering) is required: 422 `ACTOR_REQUIRED` without it. "
    "A malformed NIK is a 422 (`INVALID_NIK` at `/nik`); a NIK with no referral a 404 "
    "`SUBJECT_NOT_FOUND`. Audited as `subjects.access`, naming the referrals shown.",
    response_model=SubjectAccess,
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
