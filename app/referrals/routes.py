from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Response
from fastapi.responses import StreamingResponse

from app.auth.deps import ApiRoute, PrincipalDep, require_role
from app.auth.principal import Principal
from app.auth.roles import REFERRAL_READERS, Role
from app.core.deps import CipherDep, ClockDep, CursorsDep, DatabaseDep, SessionDep, SettingsDep
from app.core.openapi import PROBLEM_RESPONSES
from app.core.schemas import Items
from app.reference.deps import CoverageDep
from app.referrals import portal, service
from app.referrals.domain import Action
from app.referrals.params import (
    ExportRequest,
    StatsRequest,
    export_request,
    list_request,
    stats_request,
)
from app.referrals.portal import ListRequest
from app.referrals.schemas import (
    TRANSITION_EXAMPLES,
    HistoryEntry,
    ReferralDetail,
    ReferralPage,
    ReferralStats,
    TransitionRequest,
)

router = APIRouter(
    prefix="/v1/referrals", tags=["Referrals"], responses=PROBLEM_RESPONSES, route_class=ApiRoute
)
ReaderDep = Annotated[Principal, Depends(require_role(*sorted(REFERRAL_READERS)))]
KemensosDep = Annotated[Principal, Depends(require_role(Role.kemensos))]

_VISIBILITY = (
    "Only referrals the caller may read: a prison those of its facilities, a sentra those "
    "assigned to it, Kemensos all. "
)


@router.get(
    "",
    summary="List referrals (filters, keyset pagination)",
    description=_VISIBILITY
    + "Plural filters are repeatable and match any of their values; different filters "
    "combine with AND. `responsible_agency` and `overdue` are evaluated as of today in "
    "RUJUKAN_TIMEZONE. Pages are keyset pages on (`sort` column, id): following "
    "`next_cursor` never repeats or skips a referral while new ones arrive (with "
    "`-updated_at`, a referral updated during the walk can move). A cursor is bound to the "
    "caller, the sort and the filters; any other use is a 400 `INVALID_CURSOR`. Unknown "
    "parameters are a 422. Items omit `needs` and carry the NIK only masked.",
    response_model=ReferralPage,
)
async def list_referrals(
    principal: ReaderDep,
    session: SessionDep,
    cipher: CipherDep,
    cursors: CursorsDep,
    settings: SettingsDep,
    clock: ClockDep,
    request: Annotated[ListRequest, Depends(list_request)],
) -> Response:
    # Serialised here (the list and the detail are the portal's hot reads): returned as a
    # model, FastAPI would validate it again against `response_model` before serialising
    # it, ~1 ms for a page of 50. The model is the one `response_model` documents.
    page = await portal.list_referrals(
        session, principal, request, clock, cipher, cursors, settings.triage_days
    )
    return Response(page.model_dump_json(), media_type="application/json")


@router.get(
    "/stats",
    summary="Counts of referrals, grouped",
    description=_VISIBILITY
    + "Takes the list's filters. `total` counts distinct referrals; with `group_by` "
    "(repeatable, in key order) each group counts its referrals, and grouped by "
    "`pas_category` a referral counts once in each of its categories. Without `group_by`, "
    "`groups` is empty.",
    response_model=ReferralStats,
)
async def referral_stats(
    principal: ReaderDep,
    session: SessionDep,
    cipher: CipherDep,
    settings: SettingsDep,
    clock: ClockDep,
    request: Annotated[StatsRequest, Depends(stats_request)],
) -> ReferralStats:
    return await portal.referral_stats(
        session, principal, request.filters, request.group_by, clock, cipher, settings.triage_days
    )


@router.get(
    "/export.csv",
    summary="Export referrals as CSV (Kemensos)",
    description="Takes the list's filters and `sort`; streams every matching referral as "
    "UTF-8 CSV with a header row: the list item's fields flattened (`pas_categories` "
    "joined by `;`, the NIK masked, no address, no needs). Cells that a spreadsheet would "
    "read as a formula are prefixed with `'`. Every refusal (401, 403, a 422 for a "
    "parameter) comes before the 200 starts, and so does the first batch's read; the export "
    "is audited (`referrals.export`) once it is answered, before its first row.",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "CSV, streamed"}},
)
async def export_referrals(
    principal: KemensosDep,
    session: SessionDep,
    db: DatabaseDep,
    cipher: CipherDep,
    settings: SettingsDep,
    clock: ClockDep,
    request: Annotated[ExportRequest, Depends(export_request)],
) -> StreamingResponse:
    chunks = await portal.export_csv(
        session, db, principal, request.filters, request.sort, clock, cipher, settings.triage_days
    )
    return StreamingResponse(
        chunks,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="referrals.csv"'},
    )


@router.get(
    "/{referral_id}",
    summary="A referral in full",
    description="The case data in the event's shape, the lifecycle, derived fields and the "
    "actions open to the caller. `ETag` is the version to send back in `If-Match`.",
    response_model=ReferralDetail,
)
async def get_referral(
    referral_id: str,
    principal: ReaderDep,
    session: SessionDep,
    cipher: CipherDep,
    settings: SettingsDep,
    coverage: CoverageDep,
    clock: ClockDep,
) -> Response:
    view = service.DetailView(cipher, settings.triage_days, coverage, clock)
    out, tag = await service.read_detail(session, principal, referral_id, view)
    return Response(out.model_dump_json(), media_type="application/json", headers={"ETag": tag})


@router.get(
    "/{referral_id}/history",
    summary="Every applied event and transition, oldest first",
    response_model=Items[HistoryEntry],
)
async def get_history(
    referral_id: str, principal: ReaderDep, session: SessionDep, cipher: CipherDep
) -> Items[HistoryEntry]:
    return Items[HistoryEntry](
        items=await service.read_history(session, principal, referral_id, cipher)
    )


class TransitionRoute(ApiRoute):
    """Every transition is audited (SPEC §8), a refused one too: as `referral.<action>`
    (`referral.transition` when the body names no known action), its problem `code` as
    the outcome. Refusals before the caller is known (401, 429, a 413 of the middleware)
    are not."""

    def refusal_action(self, body: Any) -> str | None:
        action = body.get("action") if isinstance(body, dict) else None
        if isinstance(action, str) and action in {a.value for a in Action}:
            return f"referral.{action}"
        return "referral.transition"


async def post_transition(
    referral_id: str,
    response: Response,
    principal: PrincipalDep,
    body: Annotated[TransitionRequest, Body(openapi_examples=TRANSITION_EXAMPLES)],
    session: SessionDep,
    cipher: CipherDep,
    settings: SettingsDep,
    coverage: CoverageDep,
    clock: ClockDep,
    if_match: Annotated[str | None, Header(alias="If-Match")] = None,
) -> ReferralDetail:
    # Any authenticated role (401 first); the body is validated next (422), then the
    # service checks visibility and role in the order of SPEC §4 (auditor and admin read
    # no referral: 404).
    view = service.DetailView(cipher, settings.triage_days, coverage, clock)
    out, tag = await service.transition(session, principal, referral_id, body, if_match, view)
    response.headers["ETag"] = tag
    return out


router.add_api_route(
    "/{referral_id}/transitions",
    post_transition,
    methods=["POST"],
    summary="Move a referral through its lifecycle",
    description="Send `If-Match` with the ETag of the referral as you last read it (428 "
    "without, 412 when stale). An action not open from the current status is a 409 "
    "`INVALID_TRANSITION` listing `allowed_actions`. Checks run in this order: the key "
    "(401), the body (422: JSON, schema, known action), visibility (404; a malformed id "
    "too, and any id for `auditor` and `admin`, who read no referral), role (403), "
    "`If-Match` (428/412), status (409), the action's required fields (422; `close` "
    "with outcome `completed` or `ended_early` needs the end-of-service `report` — "
    "`REPORT_REQUIRED` at `/report` — with a `result` for every goal of the plan — "
    "`REPORT_INCOMPLETE` at `/report/goals`; every close publishes the report, "
    "`referral.report_published` after `referral.status_changed`). Every "
    "transition by an authenticated caller is audited as `referral.<action>`, a refused "
    "one too (with the problem `code` as `outcome`; `referral.transition` when the body "
    "names no known action).",
    response_model=ReferralDetail,
    route_class_override=TransitionRoute,
)
