"""The derived fields of a referral's detail (SPEC §4) through HTTP: `age_at_release`,
`is_child`, `handover_date`, `triage_due_at`, `responsible_agency`, `overdue`, for a child,
at the 18th birthday, and for supervised releases during and after their supervision."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx

from tests.conftest import ApiClient, Clients
from tests.factories import make_event, nik_for, supervised, today
from tests.support.referrals import post_event

JAKARTA = dt.timezone(dt.timedelta(hours=7))  # RUJUKAN_TIMEZONE's default, no DST
TRIAGE_DAYS = 14  # RUJUKAN_TRIAGE_DAYS's default


def years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def completed_years(birth: dt.date, day: dt.date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def child_fields(birth: dt.date) -> dict[str, Any]:
    return {
        "person__birth_date": birth.isoformat(),
        "person__nik": nik_for(birth, "male"),
        "person__guardian": {"full_name": "Siti Aminah", "relationship": "ibu"},
        "pas_categories": ["warga_binaan", "anak_rentan", "korban_napza_hiv"],
        "consent__given_by": "guardian",
    }


async def detail(http: httpx.AsyncClient, client: ApiClient, referral_id: str) -> dict[str, Any]:
    response = await http.get(f"/v1/referrals/{referral_id}", headers=client.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def due(handover: dt.date) -> dt.datetime:
    return dt.datetime.combine(handover + dt.timedelta(days=TRIAGE_DAYS), dt.time(0), JAKARTA)


async def test_a_child_and_the_18th_birthday(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison, kemensos = await clients.prison(facility), await clients.kemensos()
    release = today() - dt.timedelta(days=1)
    eighteen = years_before(release, 18)  # 18 on the release day itself
    cases = [
        (years_before(release, 16) - dt.timedelta(days=40), 16, True, child_fields),
        (eighteen + dt.timedelta(days=1), 17, True, child_fields),  # 18 the day after
        (
            eighteen,
            18,
            False,
            lambda b: {"person__birth_date": b.isoformat(), "person__nik": nik_for(b, "male")},
        ),
    ]
    for birth, age, child, fields in cases:
        assert completed_years(birth, release) == age
        referral_id = await post_event(http, prison, make_event(facility, **fields(birth)))
        body = await detail(http, kemensos, referral_id)
        assert (body["age_at_release"], body["is_child"]) == (age, child), birth
        # Unsupervised and released yesterday: Kemensos's from the release date on.
        assert body["handover_date"] == release.isoformat()
        assert dt.datetime.fromisoformat(body["triage_due_at"]) == due(release)
        assert body["responsible_agency"] == "kemensos"
        assert body["overdue"] is False


async def test_a_supervised_release_during_and_after_supervision(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison, kemensos = await clients.prison(facility), await clients.kemensos()
    birth = dt.date(1985, 3, 12)

    # Released yesterday on parole: Bapas supervises for 180 days, then Kemensos takes over.
    during = supervised(make_event(facility))
    release = dt.date.fromisoformat(during["release"]["date"])
    end = dt.date.fromisoformat(during["release"]["supervision_end_date"])
    assert end == release + dt.timedelta(days=180)
    body = await detail(http, kemensos, await post_event(http, prison, during))
    assert body["age_at_release"] == completed_years(birth, release)
    assert body["is_child"] is False
    assert body["handover_date"] == end.isoformat()
    assert dt.datetime.fromisoformat(body["triage_due_at"]) == due(end)
    assert body["responsible_agency"] == "imipas"
    assert body["overdue"] is False

    # Released 200 days ago (asimilasi): supervision ended 20 days ago, triage was due 6
    # days ago.
    after = supervised(make_event(facility, release_days=-200), "asimilasi")
    end = dt.date.fromisoformat(after["release"]["supervision_end_date"])
    assert end == today() - dt.timedelta(days=20)
    body = await detail(http, kemensos, await post_event(http, prison, after))
    assert body["handover_date"] == end.isoformat()
    assert dt.datetime.fromisoformat(body["triage_due_at"]) == due(end)
    assert body["responsible_agency"] == "kemensos"
    assert body["overdue"] is True

    # Still inside, release planned in ten days: the prison's until then.
    planned = supervised(make_event(facility, event_type="release.scheduled", release_days=10))
    release = today() + dt.timedelta(days=10)
    end = dt.date.fromisoformat(planned["release"]["supervision_end_date"])
    body = await detail(http, kemensos, await post_event(http, prison, planned))
    assert body["custody_status"] == "in_custody"
    assert body["handover_date"] == end.isoformat()
    assert body["responsible_agency"] == "imipas"
    assert body["age_at_release"] == completed_years(birth, release)
