"""Durations and the forecast (SPEC §11) through HTTP on both databases, checked against a
brute-force computation over the same referrals (property tests), and their rules."""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import uuid
from collections.abc import Coroutine
from typing import Any, TypeVar

import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import insert

from app.aftercare.analytics import percentile, weeks_from
from app.core.config import Settings
from app.referrals.models import Referral, ReferralPasCategory
from app.referrals.records import PAS_BITS
from app.runtime import Runtime
from tests.conftest import ApiClient, Clients, facility_code
from tests.support.bulk import referral_row
from tests.support.checks import assert_problem
from tests.support.referrals import act, referral_in, sentra_code

T = TypeVar("T")


def on(loop: asyncio.AbstractEventLoop) -> Any:
    """Hypothesis runs in a thread; the app and its engine live on the test's event loop."""

    def run(coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=60)

    return run


STEPS = (
    ("received_accepted", "created_at", "accepted_at"),
    ("accepted_assigned", "accepted_at", "assigned_at"),
    ("assigned_in_service", "assigned_at", "in_service_at"),
    ("in_service_closed", "in_service_at", "closed_at"),
)
NOW = dt.datetime(2026, 11, 1, 5, 0, tzinfo=dt.UTC)

# A step's length: whole minutes and 17 seconds, never half a tenth of a day, so that
# rounding to one decimal cannot depend on the last bit of a float.
lengths = st.builds(lambda m: dt.timedelta(minutes=m, seconds=17), st.integers(0, 60 * 24 * 90))
referrals = st.lists(
    st.tuples(
        st.integers(0, 4),  # how many steps it took
        st.lists(lengths, min_size=4, max_size=4),
        st.integers(-200, 200),  # handover, days from creation
        st.sampled_from(["S-A", "S-B", None]),
    ),
    min_size=0,
    max_size=25,
)


def brute_quantile(values: list[int], p: float) -> float:
    ordered = sorted(values)
    position = p * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (position - low) * (ordered[high] - ordered[low])


def brute_step(days: list[float]) -> dict[str, Any]:
    if not days:
        return {"count": 0, "median_days": None, "p90_days": None}
    tenths = [round(d * 10) for d in days]
    return {
        "count": len(days),
        "median_days": round(brute_quantile(tenths, 0.5) / 10, 1),
        "p90_days": round(brute_quantile(tenths, 0.9) / 10, 1),
    }


def brute_durations(rows: list[dict[str, Any]], tz: dt.tzinfo, key: str | None) -> list[Any]:
    groups: dict[Any, list[dict[str, Any]]] = {}
    for row in rows:
        if row.get("accepted_at") is not None:
            groups.setdefault(row.get(key) if key else "", []).append(row)
    out = []
    for group in sorted(groups, key=lambda g: (g is None, g or "")):
        members = groups[group]
        steps = {}
        for name, start, end in STEPS:
            steps[name] = brute_step(
                [
                    (r[end] - r[start]).total_seconds() / 86400
                    for r in members
                    if r.get(start) is not None and r.get(end) is not None
                ]
            )
        steps["handover_in_service"] = brute_step(
            [
                (
                    r["in_service_at"]
                    - dt.datetime.combine(r["handover_date"], dt.time(0), tzinfo=tz)
                ).total_seconds()
                / 86400
                for r in members
                if r.get("in_service_at") is not None
            ]
        )
        out.append({"key": {key: group} if key else {}, "steps": steps})
    return out


async def seed(
    services: Runtime, facility: str, client_id: str, spec: list[Any], tz: dt.tzinfo
) -> list[dict[str, Any]]:
    rows = []
    for taken, steps, handover_days, sentra in spec:
        created = NOW - dt.timedelta(days=300)
        row, _ = referral_row(services, facility, uuid.UUID(client_id), created)
        at = created
        statuses = ["received", "accepted", "assigned", "in_service", "closed"]
        for (_, _, column), length in zip(STEPS[:taken], steps, strict=False):
            at = at + length
            row[column] = at
        row["status"] = statuses[taken]
        row["sentra_code"] = sentra if taken >= 2 else None
        row["handover_date"] = (created + dt.timedelta(days=handover_days)).astimezone(tz).date()
        rows.append(row)
    if rows:
        await insert_rows(services, rows)
    return rows


async def insert_rows(services: Runtime, rows: list[dict[str, Any]]) -> None:
    """The referrals and their PAS categories (the rows of `pas_mask`, as intake writes
    both: the scan groups by the rows, the histogram by the mask)."""
    pas = [
        {"referral_id": row["id"], "code": code}
        for row in rows
        for code, bit in PAS_BITS.items()
        if row.get("pas_mask", 0) & bit
    ]
    async with services.db.transaction() as session:
        await session.execute(insert(Referral), rows)
        if pas:
            await session.execute(insert(ReferralPasCategory), pas)


async def durations(http: httpx.AsyncClient, kemensos: ApiClient, **params: Any) -> Any:
    response = await http.get("/v1/referrals/durations", params=params, headers=kemensos.headers)
    assert response.status_code == 200, response.text
    return response.json()["groups"]


@pytest.mark.parametrize("group_by", [None, "sentra_code"])
async def test_durations_agree_with_a_brute_force_computation(
    http: httpx.AsyncClient,
    clients: Clients,
    services: Runtime,
    settings: Settings,
    group_by: str | None,
) -> None:
    kemensos = await clients.kemensos()
    owner = await clients.prison("LP-DURATIONS")
    run = on(asyncio.get_running_loop())

    @hsettings(
        max_examples=15,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(spec=referrals)
    def check(spec: list[Any]) -> None:
        facility = facility_code()
        rows = run(seed(services, facility, owner.client_id, spec, settings.tz))
        params: dict[str, Any] = {"facility_code": facility}
        if group_by:
            params["group_by"] = group_by
        got = run(durations(http, kemensos, **params))
        expected = brute_durations(rows, settings.tz, group_by)
        if group_by is None and not expected:
            empty = {"count": 0, "median_days": None, "p90_days": None}
            expected = [
                {"key": {}, "steps": {s: empty for s, *_ in [*STEPS, ("handover_in_service",)]}}
            ]
        assert got == expected

    await asyncio.to_thread(check)


async def test_durations_from_the_lifecycle_and_by_pas_category(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison, kemensos = await clients.prison(facility), await clients.kemensos()
    code = sentra_code()
    await clients.add_sentra(code)
    await referral_in(http, prison, kemensos, facility, "closed", code)
    rejected = await referral_in(http, prison, kemensos, facility, "received", code)
    assert (await act(http, kemensos, rejected, "reject")).status_code == 200
    (group,) = await durations(http, kemensos, facility_code=facility)
    steps = group["steps"]
    assert [steps[s]["count"] for s in steps] == [1, 1, 1, 1, 1]
    assert 0 <= steps["received_accepted"]["median_days"] < 0.1
    assert steps["handover_in_service"]["median_days"] > 0  # released yesterday
    by_pas = await durations(http, kemensos, facility_code=facility, group_by="pas_category")
    assert [g["key"] for g in by_pas] == [
        {"pas_category": "korban_napza_hiv"},
        {"pas_category": "warga_binaan"},
    ]


async def test_durations_are_kemensos_only_and_take_the_list_filters(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison = await clients.prison(facility)
    denied = await http.get("/v1/referrals/durations", headers=prison.headers)
    assert_problem(denied, 403, "ROLE_NOT_PERMITTED")
    kemensos = await clients.kemensos()
    for params in ({"group_by": "status"}, {"sort": "created_at"}, {"province_code": "x"}):
        response = await http.get(
            "/v1/referrals/durations", params=params, headers=kemensos.headers
        )
        assert response.status_code == 422, (params, response.text)


def test_percentiles_interpolate_like_percentile_cont() -> None:
    assert percentile([(10, 1)], 0.9) == 10
    assert percentile([(10, 1), (20, 1)], 0.5) == 15
    assert percentile([(1, 3), (5, 1)], 0.9) == pytest.approx(3.8)  # 1,1,1,5 → pos 2.7
    assert percentile(sorted([(3, 2), (-4, 1)]), 0.5) == 3


def test_weeks_are_iso_weeks_from_this_one() -> None:
    weeks = weeks_from(dt.date(2026, 12, 31), 3)  # a Thursday
    assert [(w.label, w.starts_on) for w in weeks] == [
        ("2026-W53", dt.date(2026, 12, 28)),
        ("2027-W01", dt.date(2027, 1, 4)),
        ("2027-W02", dt.date(2027, 1, 11)),
    ]


forecast_rows = st.lists(
    st.tuples(
        st.sampled_from(["9501", "9502", "9599"]),  # the last is outside the coverage
        st.integers(-10, 70),  # handover, days from today
        st.sampled_from(["received", "accepted", "assigned", "closed", "rejected", "cancelled"]),
        st.booleans(),  # accepted at some point
        # created, days ago; not exactly 365: the server's clock reads later than the test's,
        # so a row created at the window's edge is in one count and not the other
        st.integers(0, 500).filter(lambda days: days != 365),
    ),
    max_size=30,
)


async def test_the_forecast_agrees_with_a_brute_force_count(
    http: httpx.AsyncClient, clients: Clients, services: Runtime, settings: Settings
) -> None:
    kemensos = await clients.kemensos()
    owner = await clients.prison("LP-FORECAST")
    run = on(asyncio.get_running_loop())

    @hsettings(
        max_examples=15,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(spec=forecast_rows, weeks=st.integers(1, 12))
    def check(spec: list[Any], weeks: int) -> None:
        # Regency codes of this example alone: the forecast counts every referral.
        covered, outside = [uuid.uuid4().hex[:4] for _ in range(2)], uuid.uuid4().hex[:4]
        code = sentra_code()
        coverage = covered
        run(clients.add_sentra(code, coverage=coverage))
        now = dt.datetime.now(dt.UTC)
        today = now.astimezone(settings.tz).date()
        rows = []
        for regency, handover, status, accepted, age in spec:
            row, _ = referral_row(
                services, facility_code(), uuid.UUID(owner.client_id), now - dt.timedelta(days=age)
            )
            row.update(
                regency_code={"9501": covered[0], "9502": covered[1]}.get(regency, outside),
                handover_date=today + dt.timedelta(days=handover),
                status=status,
                accepted_at=now if accepted and status != "received" else None,
            )
            rows.append(row)
        if rows:
            run(insert_rows(services, rows))
        response = run(
            http.get(
                f"/v1/sentra/{code}/forecast", params={"weeks": weeks}, headers=kemensos.headers
            )
        )
        assert response.status_code == 200, response.text
        body = response.json()
        mine = [r for r in rows if r["regency_code"] in coverage]
        recent = [r for r in mine if r["created_at"] >= now - dt.timedelta(days=365)]
        accepted_n = sum(1 for r in recent if r["accepted_at"] is not None)
        rejected_n = sum(
            1 for r in recent if r["status"] == "rejected" and r["accepted_at"] is None
        )
        rate = 1.0 if accepted_n + rejected_n == 0 else accepted_n / (accepted_n + rejected_n)
        assert body["acceptance_rate"] == round(rate, 3)
        assert len(body["weeks"]) == weeks
        for week in body["weeks"]:
            start = dt.date.fromisoformat(week["starts_on"])
            scheduled = sum(
                1
                for r in mine
                if r["status"] not in ("closed", "rejected", "cancelled")
                and start <= r["handover_date"] < start + dt.timedelta(days=7)
            )
            assert week["scheduled"] == scheduled
            assert week["expected"] == round(scheduled * rate, 1)
            assert week["week"] == "{}-W{:02d}".format(*start.isocalendar()[:2])
        assert body["weeks"][0]["starts_on"] <= today.isoformat()

    await asyncio.to_thread(check)


async def test_the_forecast_is_for_kemensos_and_the_sentra_itself(
    http: httpx.AsyncClient, clients: Clients
) -> None:
    code = sentra_code()
    await clients.add_sentra(code, coverage=["3171"])
    own, other = await clients.sentra(code), await clients.sentra(sentra_code())
    prison = await clients.prison(facility_code())
    body = (await http.get(f"/v1/sentra/{code}/forecast", headers=own.headers)).json()
    assert body["sentra_code"] == code and len(body["weeks"]) == 8
    assert_problem(
        await http.get(f"/v1/sentra/{code}/forecast", headers=other.headers),
        403,
        "ROLE_NOT_PERMITTED",
    )
    assert_problem(
        await http.get(f"/v1/sentra/{code}/forecast", headers=prison.headers),
        403,
        "ROLE_NOT_PERMITTED",
    )
    kemensos = await clients.kemensos()
    missing = await http.get("/v1/sentra/NOPE-404/forecast", headers=kemensos.headers)
    assert missing.status_code == 404
    for weeks in (0, 27, "x"):
        response = await http.get(
            f"/v1/sentra/{code}/forecast", params={"weeks": weeks}, headers=kemensos.headers
        )
        assert response.status_code == 422
