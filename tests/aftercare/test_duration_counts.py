"""The durations histogram kept by triggers (migrations 0008_durations, 0009_durations_pas):
it answers exactly what the scan of the referrals answers, through random lifecycles,
reassignments, corrections (PAS categories too) and deletions, and its backfill equals what
the triggers kept."""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib.util
import uuid
from pathlib import Path
from typing import Any

import httpx
from alembic import command
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import delete, insert, select, update

from app.aftercare.analytics import (
    DurationGroupBy,
    durations,
    histogram_answers,
    histogram_zone,
)
from app.aftercare.models import ReferralDurationBlock, ReferralDurationCount
from app.auth.principal import Principal
from app.auth.roles import Role
from app.core.config import Settings
from app.core.migrate import MIGRATIONS, alembic_config, upgrade
from app.ops.maintenance import anonymise_ended
from app.referrals.models import Referral, ReferralPasCategory
from app.referrals.queries import QueryContext, ReferralFilters
from app.referrals.records import PAS_BITS, pas_mask
from app.runtime import Runtime, build_runtime
from tests.aftercare.test_analytics_api import NOW, STEPS, on
from tests.conftest import Clients, facility_code
from tests.support.bulk import referral_row
from tests.support.referrals import act, referral_in, sentra_code

STATUSES = ["received", "accepted", "assigned", "in_service", "closed"]
SENTRA = st.sampled_from(["S-A", "S-B", None])
PROVINCES = st.sampled_from(["31", "32", "33"])
# Three of the categories, so that a referral with several is common.
PAS = st.lists(
    st.sampled_from(["anak_rentan", "lansia_terlantar", "fakir_miskin"]), max_size=3, unique=True
)
# Any length, and lengths of exactly half a tenth of a day (4,320 s) too: both paths must
# round a tie alike.
lengths = st.one_of(
    st.builds(lambda s: dt.timedelta(seconds=s), st.integers(0, 86400 * 90)),
    st.builds(lambda k: dt.timedelta(seconds=4320 * k), st.integers(0, 2000)),
)
referrals = st.lists(
    st.tuples(
        st.integers(0, 4),  # steps taken when inserted
        st.lists(lengths, min_size=4, max_size=4),
        st.integers(-200, 200),  # handover, days from creation
        SENTRA,
        PROVINCES,
        PAS,
    ),
    min_size=1,
    max_size=12,
)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("advance"), st.integers(0, 99), lengths),
        st.tuples(st.just("sentra"), st.integers(0, 99), SENTRA),
        st.tuples(st.just("province"), st.integers(0, 99), PROVINCES),
        st.tuples(st.just("handover"), st.integers(0, 99), st.integers(-200, 200)),
        st.tuples(st.just("pas"), st.integers(0, 99), PAS),  # a case.updated's categories
        st.tuples(st.just("all_provinces"), st.integers(0, 99), PROVINCES),  # many rows
        st.tuples(st.just("delete"), st.integers(0, 99), st.none()),
    ),
    max_size=30,
)
REQUESTS = [
    (filters, group_by)
    for filters in (
        ReferralFilters(),
        ReferralFilters(province_code=("32",)),
        ReferralFilters(sentra_code=("S-A", "S-B")),
        ReferralFilters(province_code=("31", "33"), sentra_code=("S-A",)),
        ReferralFilters(pas_category=("anak_rentan",)),
        ReferralFilters(pas_category=("fakir_miskin",), province_code=("31", "32")),
        ReferralFilters(pas_category=("lansia_terlantar",), sentra_code=("S-B",)),
    )
    for group_by in (None, *DurationGroupBy)
    if histogram_answers(filters, group_by)
]
# The histogram's answers with a PAS category that the test covers (the rest: the scan).
assert len([r for r in REQUESTS if r[0].pas_category or r[1] is DurationGroupBy.pas_category]) == 10


def context(settings: Settings) -> QueryContext:
    kemensos = Principal(uuid.uuid4(), "test", Role.kemensos, frozenset(), frozenset())
    return QueryContext(kemensos, NOW.date(), settings.triage_days, settings.tz)


async def insert_lifecycles(
    services: Runtime, facility: str, owner: uuid.UUID, spec: list[Any], tz: dt.tzinfo
) -> list[dict[str, Any]]:
    rows, pas = [], []
    for taken, steps, handover_days, sentra, province, codes in spec:
        created = NOW - dt.timedelta(days=300)
        row, _ = referral_row(services, facility, owner, created)
        at = created
        for (_, _, column), length in zip(STEPS[:taken], steps, strict=False):
            at = at + length
            row[column] = at
        row.update(status=STATUSES[taken], sentra_code=sentra, province_code=province)
        row["pas_mask"] = pas_mask(codes)
        pas.extend({"referral_id": row["id"], "code": c} for c in codes)
        row["handover_date"] = (created + dt.timedelta(days=handover_days)).astimezone(tz).date()
        rows.append(row)
    async with services.db.transaction() as session:
        await session.execute(insert(Referral), rows)
        if pas:
            await session.execute(insert(ReferralPasCategory), pas)
    return rows


async def operate(
    services: Runtime, facility: str, rows: list[dict[str, Any]], ops: list[Any]
) -> None:
    """Each operation in a transaction of its own, as the service's writes come."""
    live = list(rows)
    for name, index, value in ops:
        if not live:
            return
        row = live[index % len(live)]
        values: dict[str, Any] = {}
        where: Any = Referral.id == row["id"]
        if name == "advance":
            taken = STATUSES.index(row["status"])
            if taken == 4:
                continue
            column = STEPS[taken][2]
            start = row[STEPS[taken][1]]
            values = {column: start + value, "status": STATUSES[taken + 1]}
        elif name == "sentra":
            values = {"sentra_code": value}
        elif name == "province":
            values = {"province_code": value}
        elif name == "handover":
            values = {"handover_date": row["handover_date"] + dt.timedelta(days=value)}
        elif name == "all_provinces":
            values, where = {"province_code": value}, Referral.facility_code == facility
        elif name == "pas":
            values = {"pas_mask": pas_mask(value)}
        async with services.db.transaction() as session:
            if name == "delete":
                await session.execute(delete(Referral).where(where))
                live.remove(row)
                continue
            await session.execute(update(Referral).where(where).values(**values))
            if name == "pas":  # as intake's case.updated writes them: the rows and the mask
                pas = ReferralPasCategory
                await session.execute(delete(pas).where(pas.referral_id == row["id"]))
                if value:
                    rows_of = [{"referral_id": row["id"], "code": c} for c in value]
                    await session.execute(insert(pas), rows_of)
        for changed in live if name == "all_provinces" else [row]:
            changed.update(values)


async def both_paths(services: Runtime, settings: Settings) -> None:
    ctx = context(settings)
    async with services.db.read_session() as session:
        assert await histogram_zone(session) == settings.timezone  # the kept path is taken
        for filters, group_by in REQUESTS:
            kept = await durations(session, filters, ctx, group_by)
            scanned = await durations(session, filters, ctx, group_by, scan=True)
            assert kept == scanned, (filters, group_by)


async def test_the_histogram_answers_what_the_scan_answers(
    clients: Clients, services: Runtime, settings: Settings
) -> None:
    owner = await clients.prison("LP-HISTOGRAM")
    run = on(asyncio.get_running_loop())

    @hsettings(
        max_examples=50,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(spec=referrals, ops=operations)
    def check(spec: list[Any], ops: list[Any]) -> None:
        facility = facility_code()
        rows = run(
            insert_lifecycles(services, facility, uuid.UUID(owner.client_id), spec, settings.tz)
        )
        run(operate(services, facility, rows, ops))
        run(both_paths(services, settings))

    await asyncio.to_thread(check)


async def test_transitions_through_the_api_keep_the_histogram(
    http: httpx.AsyncClient, clients: Clients, services: Runtime, settings: Settings, facility: str
) -> None:
    prison, kemensos = await clients.prison(facility), await clients.kemensos()
    first, second = sentra_code(), sentra_code()
    await clients.add_sentra(first)
    await clients.add_sentra(second)
    await referral_in(http, prison, kemensos, facility, "closed", first)
    moved = await referral_in(http, prison, kemensos, facility, "assigned", first)
    assert (await act(http, kemensos, moved, "assign", sentra_code=second)).status_code == 200
    assert (await act(http, kemensos, moved, "start_service")).status_code == 200
    rejected = await referral_in(http, prison, kemensos, facility, "received", first)
    assert (await act(http, kemensos, rejected, "reject")).status_code == 200
    await both_paths(services, settings)
    response = await http.get(
        "/v1/referrals/durations",
        params={"sentra_code": [first, second], "group_by": "sentra_code"},
        headers=kemensos.headers,
    )
    assert response.status_code == 200, response.text
    counts = {
        g["key"]["sentra_code"]: [s["count"] for s in g["steps"].values()]
        for g in response.json()["groups"]
    }
    assert counts == {first: [1, 1, 1, 1, 1], second: [1, 1, 1, 0, 1]}


async def test_concurrent_transitions_keep_the_histogram(
    http: httpx.AsyncClient, clients: Clients, services: Runtime, settings: Settings, facility: str
) -> None:
    """Transitions at once (on PostgreSQL in transactions of their own, in parallel) that
    complete the same steps in the same buckets: every one counted."""
    prison, kemensos = await clients.prison(facility), await clients.kemensos()
    code = sentra_code()
    await clients.add_sentra(code)
    ids = [await referral_in(http, prison, kemensos, facility, "accepted", code) for _ in range(8)]
    for action in ("assign", "start_service"):
        fields = {"sentra_code": code} if action == "assign" else {}
        answers = await asyncio.gather(*(act(http, kemensos, i, action, **fields) for i in ids))
        assert [a.status_code for a in answers] == [200] * len(ids)
    await both_paths(services, settings)
    async with services.db.read_session() as session:
        (group,) = (
            await durations(session, ReferralFilters(sentra_code=(code,)), context(settings), None)
        ).groups
    assert [s["count"] for s in group.steps.model_dump().values()] == [8, 8, 8, 0, 8]


async def test_anonymisation_keeps_the_counts(
    http: httpx.AsyncClient, clients: Clients, services: Runtime, settings: Settings, facility: str
) -> None:
    prison, kemensos = await clients.prison(facility), await clients.kemensos()
    code = sentra_code()
    await clients.add_sentra(code)
    ended = await referral_in(http, prison, kemensos, facility, "closed", code)
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=settings.retention_days + 1)
    async with services.db.transaction() as session:
        await session.execute(
            update(Referral).where(Referral.id == uuid.UUID(ended)).values(updated_at=long_ago)
        )
    before = await kept_counts(services)
    report = await anonymise_ended(
        services.db,
        services.cipher,
        dt.datetime.now(dt.UTC),
        retention_days=settings.retention_days,
        dry_run=False,
    )
    assert report.changed >= 1
    assert await kept_counts(services) == before
    await both_paths(services, settings)


async def kept_counts(services: Runtime) -> dict[tuple[Any, ...], int]:
    """The histogram's rows that count (both tables)."""
    out: dict[tuple[Any, ...], int] = {}
    async with services.db.read_session() as session:
        for table in (ReferralDurationCount.__table__, ReferralDurationBlock.__table__):
            for row in await session.execute(select(table).where(table.c.n != 0)):
                *key, n = row
                out[(table.name, *key)] = n
    return out


async def test_the_backfill_equals_what_the_triggers_kept(own_settings: Settings) -> None:
    services = build_runtime(own_settings)
    url = own_settings.database_url
    try:
        owner = uuid.UUID((await Clients(services).prison("LP-BACKFILL")).client_id)
        spec = [
            (4, [dt.timedelta(hours=h) for h in (1, 30, 55, 400)], 3, "S-A", "31", ["anak_rentan"]),
            (
                3,
                [dt.timedelta(seconds=4320 * k) for k in (1, 3, 5)] + [dt.timedelta()],
                -2,
                None,
                "32",
                ["anak_rentan", "fakir_miskin"],
            ),
            (2, [dt.timedelta(days=2)] * 4, 10, "S-B", "32", []),
            (1, [dt.timedelta(minutes=7)] * 4, 0, None, "33", ["lansia_terlantar"]),
            (0, [dt.timedelta()] * 4, 0, None, "33", []),
        ]
        rows = await insert_lifecycles(services, "LP-BACKFILL", owner, spec, own_settings.tz)
        ops = [
            ("advance", 2, dt.timedelta(hours=5)),
            ("sentra", 0, "S-B"),
            ("province", 1, "31"),
            ("handover", 0, 4),
            ("advance", 4, dt.timedelta(hours=9)),
            ("pas", 2, ["fakir_miskin", "lansia_terlantar"]),
            ("pas", 1, ["anak_rentan"]),
            ("delete", 3, None),
        ]
        await operate(services, "LP-BACKFILL", rows, ops)
        live = await kept_counts(services)
        accepted = [
            (pas, n) for (_, _, _, pas, step, *_), n in live.items() if step == "received_accepted"
        ]
        # Four referrals, four grains, two tables; four (referral, category) pairs, three grains.
        assert sum(n for pas, n in accepted if pas == "*") == 4 * 4 * 2
        assert sum(n for pas, n in accepted if pas != "*") == 4 * 3 * 2
        await services.db.dispose()
        await asyncio.to_thread(command.downgrade, alembic_config(url), "0008_consent")
        await asyncio.to_thread(upgrade, url)
        assert await kept_counts(services) == live
    finally:
        await services.db.dispose()


def test_the_migration_knows_the_catalogue_order() -> None:
    """Migration 0009 expands `pas_mask` with its own copy of the categories' order."""
    path = Path(MIGRATIONS) / "versions" / "2026-12-03-1930_duration_pas.py"
    spec = importlib.util.spec_from_file_location("_migration_0009", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert {code: 1 << i for i, code in enumerate(module.CATEGORIES)} == PAS_BITS


def test_which_requests_with_a_pas_category_the_histogram_answers() -> None:
    pas, province, sentra = (
        DurationGroupBy.pas_category,
        DurationGroupBy.province_code,
        DurationGroupBy.sentra_code,
    )
    one, two = ("anak_rentan",), ("anak_rentan", "fakir_miskin")
    assert histogram_answers(ReferralFilters(province_code=("32",)), pas)
    assert histogram_answers(ReferralFilters(sentra_code=("S-A",)), pas)
    assert histogram_answers(ReferralFilters(pas_category=one), province)
    assert histogram_answers(ReferralFilters(pas_category=one * 2), None)  # one category
    # "Any of them" counts a referral once, not once per category: the scan.
    assert not histogram_answers(ReferralFilters(pas_category=two), None)
    # Grouped, a filtered referral counts in every category it has, the filter's or not.
    assert not histogram_answers(ReferralFilters(pas_category=one), pas)
    # No grain holds sentra, province and category at once.
    assert histogram_answers(ReferralFilters(province_code=("32",)), sentra)  # no category
    assert not histogram_answers(ReferralFilters(pas_category=one, sentra_code=("S-A",)), province)
    assert not histogram_answers(ReferralFilters(province_code=("32",), sentra_code=("S-A",)), pas)
    assert not histogram_answers(ReferralFilters(pas_category=one, status=("closed",)), None)
