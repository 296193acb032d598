"""Aftercare and dashboards (SPEC §11): follow-ups, durations, the sentra forecast."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query
from pydantic import Field

from app.aftercare import analytics, service
from app.aftercare.analytics import DurationGroupBy
from app.aftercare.schemas import (
    FOLLOW_UP_EXAMPLES,
    Durations,
    FollowUpCreate,
    FollowUpOut,
    Forecast,
)
from app.auth.deps import ApiRoute, PrincipalDep, require_role
from app.auth.principal import Principal
from app.auth.roles import Role
from app.core.deps import CipherDep, ClockDep, ReadSessionDep, SessionDep, SettingsDep
from app.core.errors import ProblemError
from app.core.i18n import msg
from app.core.openapi import PROBLEM_RESPONSES
from app.core.schemas import Items
from app.reference.sentra import get_sentra
from app.referrals.params import FilterParams, referral_filters
from app.referrals.queries import QueryContext

router = APIRouter(tags=["Aftercare"], responses=PROBLEM_RESPONSES, route_class=ApiRoute)
KemensosDep = Annotated[Principal, Depends(require_role(Role.kemensos))]
ForecastDep = Annotated[Principal, Depends(require_role(Role.kemensos, Role.sentra))]


class FollowUpRoute(ApiRoute):
    """A follow-up refused after authentication is audited too (SPEC §8)."""

    def refusal_action(self, body: Any) -> str | None:
        return "referral.follow_up"


class DurationParams(FilterParams):
    group_by: DurationGroupBy | None = Field(
        default=None, description="One group per value; none: one group of everything."
    )


async def _duration_request(
    params: Annotated[DurationParams, Query()], settings: SettingsDep
) -> tuple[Any, DurationGroupBy | None]:
    return referral_filters(params, settings.tz), params.group_by


@router.get(
    "/v1/referrals/durations",
    summary="How long each step takes (Kemensos)",
    description="Per group, for each step, the referrals that took it (the first time "
    "they did) and the median and 90th percentile of its length in days (one decimal; "
    "null when none took it). Steps: `received_accepted`, `accepted_assigned`, "
    "`assigned_in_service`, `in_service_closed`, and `handover_in_service` from the local "
    "start of the handover date (negative when service began before the handover). Takes "
    "the list's filters. Days are rounded to one decimal before the percentiles are "
    "taken (linear interpolation between the two nearest values). Computed from the times "
    "kept on each referral, by the database.",
    response_model=Durations,
)
async def get_durations(
    principal: KemensosDep,
    session: ReadSessionDep,
    cipher: CipherDep,
    settings: SettingsDep,
    clock: ClockDep,
    request: Annotated[tuple[Any, DurationGroupBy | None], Depends(_duration_request)],
) -> Durations:
    filters, group_by = request
    nik_indexes = tuple(cipher.blind_indexes(filters.nik)) if filters.nik else ()
    ctx = QueryContext(principal, clock.today, settings.triage_days, clock.tz, nik_indexes)
    return await analytics.durations(session, filters, ctx, group_by)


async def post_follow_up(
    referral_id: str,
    principal: PrincipalDep,
    body: Annotated[FollowUpCreate, Body(openapi_examples=FOLLOW_UP_EXAMPLES)],
    session: SessionDep,
    cipher: CipherDep,
    clock: ClockDep,
) -> FollowUpOut:
    return await service.record_follow_up(session, principal, referral_id, body, clock, cipher)


router.add_api_route(
    "/v1/referrals/{referral_id}/follow-ups",
    post_follow_up,
    methods=["POST"],
    summary="Record a follow-up (Kemensos or the referral's sentra)",
    description="Only a referral closed `completed` has aftercare: follow-ups are due 3, 6 "
    "and 12 months after the local date of the close (`next_follow_up_due`). A follow-up "
    "satisfies the earliest one due; a fourth is a 409 `AFTERCARE_COMPLETE`, and on any "
    "other outcome a 409 `NO_AFTERCARE`. Kemensos may record, and so may the sentra the "
    "referral was last assigned to (the one that closed it, or the last one that served "
    "it when Kemensos closed it). Checks in this order: the body (422), visibility (404), "
    "role (403: the prison and the Bapas read the referral, not its follow-ups), state "
    "(409), `done_on` not in the future and not before the close (422 `INVALID_DATE`). "
    "A follow-up makes a new version of the referral (`next_follow_up_due`). Emits "
    "`referral.follow_up_recorded`; writes a history entry (`action` `follow_up`) and an "
    "audit row (`referral.follow_up`, a refused one too).",
    status_code=201,
    response_model=FollowUpOut,
    route_class_override=FollowUpRoute,
)


@router.get(
    "/v1/referrals/{referral_id}/follow-ups",
    summary="The follow-ups of a referral, in order",
    description="Kemensos and the referral's sentra (SPEC §10: follow-ups stay with "
    "Kemensos; the prison and the Bapas get 403 and learn of each follow-up from the "
    "`referral.follow_up_recorded` event). Audited (`referral.follow_ups.read`).",
    response_model=Items[FollowUpOut],
)
async def get_follow_ups(
    referral_id: str, principal: PrincipalDep, session: SessionDep, cipher: CipherDep
) -> Items[FollowUpOut]:
    return Items[FollowUpOut](
        items=await service.list_follow_ups(session, principal, referral_id, cipher)
    )


@router.get(
    "/v1/sentra/{code}/forecast",
    summary="Arrivals ahead for a sentra (Kemensos, that sentra)",
    description="Per ISO week from this one (`weeks`, 1-26, default 8): `scheduled`, the "
    "referrals not ended whose handover date falls in the week and whose domicile regency "
    "the sentra covers, and `expected`, `scheduled` times `acceptance_rate` (one decimal). "
    "`acceptance_rate`: among the coverage's referrals created in the last 365 days, those "
    "accepted from `received` over those accepted or rejected from `received` (1.0 without "
    "history; every referral counts, whoever asks: it is an aggregate). For planning the "
    "17 August and Idulfitri remission waves. Another sentra's forecast is a 403; an "
    "unknown sentra a 404.",
    response_model=Forecast,
)
async def get_forecast(
    code: str,
    principal: ForecastDep,
    session: ReadSessionDep,
    clock: ClockDep,
    weeks: Annotated[int, Query(ge=1, le=26, description="ISO weeks from this one.")] = 8,
) -> Forecast:
    if principal.role is Role.sentra and code not in principal.sentra_codes:
        raise ProblemError("ROLE_NOT_PERMITTED", msg("A sentra reads its own forecast only."))
    sentra = await get_sentra(session, code)
    return await analytics.forecast(
        session, sentra.code, sentra.coverage_regency_codes, clock.today, clock.now, weeks
    )
