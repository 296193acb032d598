"""The portal's queries (SPEC §5) through HTTP: every filter and sort, keyset pages under
concurrent inserts, cursors, name and NIK search, masking, visibility, stats, export.

Tests share one database per backend: every list and count here is narrowed to the
test's own facility (or to a sentra code of its own).
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from app.runtime import Runtime
from tests.conftest import ApiClient, Clients, facility_code
from tests.factories import make_event, nik_for, supervised, today
from tests.support.checks import assert_problem
from tests.support.referrals import drive, post_event, sentra_code

ITEM_FIELDS = {
    "id",
    "status",
    "custody_status",
    "responsible_agency",
    "pas_categories",
    "ppks_types",
    "next_follow_up_due",
    "facility",
    "case_ref",
    "full_name",
    "nik_masked",
    "birth_date",
    "birth_year",
    "sex",
    "domicile",
    "release",
    "handover_date",
    "sentra_code",
    "overdue",
    "created_at",
    "updated_at",
    "supervision_ended",
}


def person(name: str, sex: str, birth: str, district: str) -> dict[str, Any]:
    born = dt.date.fromisoformat(birth)
    return {
        "person__full_name": name,
        "person__sex": sex,
        "person__birth_date": birth,
        "person__nik": nik_for(born, sex, district, serial=random.randint(1, 9999)),
        "person__domicile": {
            "province_code": district[:2],
            "regency_code": district[:4],
            "district_code": district,
            "address": "Jl. Contoh No. 2",
        },
    }


@dataclass
class Dataset:
    """Five referrals of one facility:

    A Siti Nurhaliza  received  released -1d  bebas_murni      31/3171  +perempuan_rentan
    B Budi Santoso    received  scheduled +10d pembebasan_bersyarat 32/3273 (in custody)
    C Agus Salim      received  released -30d bebas_remisi    31/3174  +korban_napza_hiv, overdue
    D Dewi Lestari    assigned  released -2d  asimilasi (supervised) 31/3171 +korban_napza_hiv
    E Made Wirawan    rejected  released -5d  amnesti          51/5171
    """

    http: httpx.AsyncClient
    facility: str
    prison: ApiClient
    kemensos: ApiClient
    sentra: ApiClient
    sentra_code: str
    ids: dict[str, str]
    niks: dict[str, str]

    def names(self, items: list[dict[str, Any]]) -> list[str]:
        by_id = {v: k for k, v in self.ids.items()}
        return [by_id[i["id"]] for i in items]


async def make_dataset(http: httpx.AsyncClient, clients: Clients, facility: str) -> Dataset:
    code = sentra_code()
    await clients.add_sentra(code)
    prison = await clients.prison(facility)
    kemensos = await clients.kemensos()
    sentra = await clients.sentra(code)
    events = {
        "A": make_event(
            facility,
            release_days=-1,
            pas_categories=["warga_binaan", "perempuan_rentan"],
            **person("Siti Nurhaliza", "female", "1992-07-04", "317101"),
        ),
        "B": supervised(
            make_event(
                facility,
                event_type="release.scheduled",
                release_days=10,
                pas_categories=["warga_binaan"],
                **person("Budi Santoso", "male", "1985-03-12", "327301"),
            )
        ),
        "C": make_event(
            facility,
            release_days=-30,
            release__type="bebas_remisi",
            **person("Agus Salim", "male", "1960-01-20", "317401"),
        ),
        "D": supervised(
            make_event(
                facility,
                release_days=-2,
                **person("Dewi Lestari", "female", "1998-11-30", "317101"),
            ),
            "asimilasi",
        ),
        "E": make_event(
            facility,
            release_days=-5,
            release__type="amnesti",
            pas_categories=["warga_binaan"],
            **person("Made Wirawan", "male", "1979-05-05", "517101"),
        ),
    }
    ids: dict[str, str] = {}
    for key, event in events.items():
        ids[key] = await post_event(http, prison, event)
    await drive(http, kemensos, ids["D"], ["accept", "assign"], code)
    await drive(http, kemensos, ids["E"], ["reject"])
    niks = {k: e["person"]["nik"] for k, e in events.items()}
    return Dataset(http, facility, prison, kemensos, sentra, code, ids, niks)


@pytest.fixture
async def d(http: httpx.AsyncClient, clients: Clients, facility: str) -> Dataset:
    """A dataset of the test's own, for tests that change it."""
    return await make_dataset(http, clients, facility)


@pytest.fixture(scope="module")
async def shared(app: Any, services: Runtime) -> AsyncIterator[Dataset]:
    """One dataset per backend for the tests that only read it."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://rujukan.test") as http:
        yield await make_dataset(http, Clients(services), facility_code())


async def listing(
    http: httpx.AsyncClient, client: ApiClient, params: list[tuple[str, Any]] | dict[str, Any]
) -> httpx.Response:
    return await http.get("/v1/referrals", params=params, headers=client.headers)


async def names_for(d: Dataset, params: list[tuple[str, Any]]) -> set[str]:
    """The dataset's referrals Kemensos finds with `params` (within the test's facility)."""
    response = await listing(d.http, d.kemensos, [("facility_code", d.facility), *params])
    assert response.status_code == 200, response.text
    return set(d.names(response.json()["items"]))


def days(n: int) -> str:
    return (today() + dt.timedelta(days=n)).isoformat()


FILTER_CASES: list[tuple[list[tuple[str, Any]], set[str]]] = [
    ([], {"A", "B", "C", "D", "E"}),
    ([("status", "received")], {"A", "B", "C"}),
    ([("status", "received"), ("status", "rejected")], {"A", "B", "C", "E"}),
    ([("status", "assigned")], {"D"}),
    ([("pas_category", "perempuan_rentan")], {"A"}),
    ([("pas_category", "korban_napza_hiv")], {"C", "D"}),
    ([("pas_category", "perempuan_rentan"), ("pas_category", "korban_napza_hiv")], {"A", "C", "D"}),
    ([("custody_status", "in_custody")], {"B"}),
    ([("custody_status", "released")], {"A", "C", "D", "E"}),
    ([("responsible_agency", "imipas")], {"B", "D"}),
    ([("responsible_agency", "kemensos")], {"A", "C", "E"}),
    (
        [("responsible_agency", "kemensos"), ("responsible_agency", "imipas")],
        {"A", "B", "C", "D", "E"},
    ),
    ([("province_code", "31")], {"A", "C", "D"}),
    ([("province_code", "31"), ("province_code", "51")], {"A", "C", "D", "E"}),
    ([("regency_code", "3171")], {"A", "D"}),
    ([("regency_code", "3273"), ("regency_code", "3174")], {"B", "C"}),
    ([("release_type", "pembebasan_bersyarat")], {"B"}),
    ([("release_type", "asimilasi"), ("release_type", "amnesti")], {"D", "E"}),
    ([("release_date_from", days(-5))], {"A", "B", "D", "E"}),
    ([("release_date_to", days(-2))], {"C", "D", "E"}),
    ([("release_date_from", days(-5)), ("release_date_to", days(-2))], {"D", "E"}),
    ([("overdue", "true")], {"C"}),
    ([("overdue", "false")], {"A", "B", "D", "E"}),
    ([("q", "siti")], {"A"}),
    ([("q", "NURHALIZA")], {"A"}),
    ([("q", "nurhalíza")], {"A"}),
    ([("q", "Nurh")], {"A"}),
    ([("q", "haliza")], set()),
    ([("q", "santoso budi")], {"B"}),
    ([("q", "s")], {"A", "B", "C"}),
    ([("q", "  SALIM!  ")], {"C"}),
    # Words of fewer than 3 characters are matched without the prefix index (PostgreSQL).
    ([("q", "bu sant")], {"B"}),
    ([("q", "de LES")], {"D"}),
    ([("q", "ma wirawan")], {"E"}),
    ([("q", "nur nurhal")], {"A"}),  # two words of q may start the same word of the name
    ([("q", "siti budi")], set()),
    ([("q", "lestarix")], set()),
    ([("created_from", days(0))], {"A", "B", "C", "D", "E"}),
    ([("created_to", days(-1))], set()),
    # Combined: AND across filters.
    (
        [
            ("province_code", "31"),
            ("pas_category", "korban_napza_hiv"),
            ("release_date_from", days(-3)),
            ("release_date_to", days(0)),
        ],
        {"D"},
    ),
    ([("status", "received"), ("province_code", "31")], {"A", "C"}),
]


@pytest.mark.parametrize(("params", "expected"), FILTER_CASES, ids=lambda v: str(v))
async def test_each_filter(
    shared: Dataset, params: list[tuple[str, Any]], expected: set[str]
) -> None:
    d = shared
    assert await names_for(d, params) == expected


@pytest.mark.parametrize(
    "sort", ["-created_at", "created_at", "-updated_at", "release_date", "-release_date"]
)
async def test_release_window_pages_neither_skip_nor_repeat(shared: Dataset, sort: str) -> None:
    """Provinces + a bounded release-date window are read window first (queries.
    window_first): one row per page walks the same rows, in the same order, as one page."""
    d = shared
    params = [
        ("facility_code", d.facility),
        ("province_code", "31"),
        ("province_code", "51"),
        ("release_date_from", days(-40)),
        ("release_date_to", days(0)),
        ("sort", sort),
    ]
    whole = await listing(d.http, d.kemensos, [*params, ("limit", 50)])
    assert whole.status_code == 200, whole.text
    expected = [i["id"] for i in whole.json()["items"]]
    order = {
        "-created_at": "EDCA",
        "created_at": "ACDE",
        "-updated_at": "EDCA",  # D then E changed after they were created
        "release_date": "CEDA",
        "-release_date": "ADEC",
    }
    assert "".join(d.names(whole.json()["items"])) == order[sort]
    walked: list[str] = []
    cursor = None
    while True:
        page = await listing(
            d.http, d.kemensos, [*params, ("limit", 1), *([("cursor", cursor)] if cursor else [])]
        )
        assert page.status_code == 200, page.text
        walked.extend(i["id"] for i in page.json()["items"])
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert walked == expected


async def test_sentra_facility_and_nik_filters(shared: Dataset, http: httpx.AsyncClient) -> None:
    d = shared
    assert await names_for(d, [("sentra_code", d.sentra_code)]) == {"D"}
    assert await names_for(d, [("nik", d.niks["C"])]) == {"C"}
    # The NIK filter works without a facility too (the blind index is exact).
    alone = await listing(http, d.kemensos, {"nik": d.niks["A"]})
    assert d.ids["A"] in {i["id"] for i in alone.json()["items"]}
    other = await listing(http, d.kemensos, {"facility_code": facility_code()})
    assert other.json()["items"] == []
    two = await listing(
        http, d.kemensos, [("facility_code", d.facility), ("facility_code", "LP-X")]
    )
    assert len(two.json()["items"]) == 5
    by_sentra_only = await listing(http, d.kemensos, {"sentra_code": d.sentra_code})
    assert d.names(by_sentra_only.json()["items"]) == ["D"]


async def test_created_time_filters(shared: Dataset, http: httpx.AsyncClient) -> None:
    d = shared
    items = (
        await listing(http, d.kemensos, {"facility_code": d.facility, "sort": "created_at"})
    ).json()["items"]
    c_created = items[2]["created_at"]
    assert await names_for(d, [("created_from", c_created)]) == {"C", "D", "E"}
    assert await names_for(d, [("created_to", c_created)]) == {"A", "B", "C"}
    assert await names_for(d, [("created_from", c_created), ("created_to", c_created)]) == {"C"}
    assert await names_for(d, [("created_to", days(0))]) == {"A", "B", "C", "D", "E"}


async def test_items_carry_the_listed_fields_and_mask_the_nik(
    shared: Dataset, http: httpx.AsyncClient
) -> None:
    d = shared
    response = await listing(http, d.kemensos, {"facility_code": d.facility, "q": "siti"})
    text = response.text
    (item,) = response.json()["items"]
    assert set(item) == ITEM_FIELDS
    nik = d.niks["A"]
    # The province only (SPEC §5): beside birth date, sex and domicile, more would all but
    # rebuild the NIK.
    assert item["nik_masked"] == nik[:2] + "*" * 14
    for full in d.niks.values():
        assert full not in text
    assert "needs" not in text and "napza_history" not in text and "phone" not in text
    assert item["full_name"] == "Siti Nurhaliza"
    assert item["facility"]["code"] == d.facility
    assert item["domicile"]["regency_code"] == "3171"
    assert item["release"]["type"] == "bebas_murni"
    assert item["pas_categories"] == ["warga_binaan", "perempuan_rentan"]
    assert item["responsible_agency"] == "kemensos"
    assert item["overdue"] is False
    assert item["handover_date"] == days(-1)
    overdue = (await listing(http, d.kemensos, {"facility_code": d.facility, "q": "agus"})).json()
    assert overdue["items"][0]["overdue"] is True
    supervised_item = (
        await listing(http, d.kemensos, {"facility_code": d.facility, "q": "dewi"})
    ).json()["items"][0]
    assert supervised_item["responsible_agency"] == "imipas"
    assert supervised_item["handover_date"] == days(178)
    assert supervised_item["sentra_code"] == d.sentra_code


@pytest.mark.parametrize(
    ("sort", "order"),
    [
        (None, "EDCBA"),
        ("-created_at", "EDCBA"),
        ("created_at", "ABCDE"),
        ("release_date", "CEDAB"),
        ("-release_date", "BADEC"),
        ("-updated_at", "EDCBA"),
    ],
)
async def test_sorts(
    shared: Dataset, http: httpx.AsyncClient, sort: str | None, order: str
) -> None:
    d = shared
    params = {"facility_code": d.facility} | ({"sort": sort} if sort else {})
    response = await listing(http, d.kemensos, params)
    assert "".join(d.names(response.json()["items"])) == order
    # The same order page by page.
    seen: list[str] = []
    cursor = None
    while True:
        page = await listing(
            http, d.kemensos, params | {"limit": 2} | ({"cursor": cursor} if cursor else {})
        )
        assert page.status_code == 200, page.text
        body = page.json()
        seen.extend(d.names(body["items"]))
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert "".join(seen) == order


async def test_updated_at_sort_follows_changes(d: Dataset, http: httpx.AsyncClient) -> None:
    await drive(http, d.kemensos, d.ids["B"], ["accept"])
    response = await listing(http, d.kemensos, {"facility_code": d.facility, "sort": "-updated_at"})
    assert d.names(response.json()["items"])[0] == "B"


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 501}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"sort": "name"}, "sort"),
        ({"status": "lost"}, "status"),
        ({"custody_status": "free"}, "custody_status"),
        ({"responsible_agency": "polri"}, "responsible_agency"),
        ({"release_type": "kabur"}, "release_type"),
        ({"pas_category": "pengangguran"}, "pas_category"),
        ({"province_code": "3"}, "province_code"),
        ({"release_date_from": "2026-13-01"}, "release_date_from"),
        ({"release_date_from": "2026-01-10", "release_date_to": "2026-01-01"}, "release_date_to"),
        ({"created_from": "yesterday"}, "created_from"),
        ({"created_to": "2026-01-01T00:00:00"}, "created_to"),
        ({"overdue": "perhaps"}, "overdue"),
        ({"nik": "12345"}, "nik"),
        ({"q": "!!!"}, "q"),
        ({"stauts": "received"}, "stauts"),
    ],
)
async def test_bad_parameters_are_422_naming_the_parameter(
    http: httpx.AsyncClient, clients: Clients, params: dict[str, Any], parameter: str
) -> None:
    kemensos = await clients.kemensos()
    response = await listing(http, kemensos, params)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["code"] == "VALIDATION_FAILED"
    assert [e["parameter"] for e in problem["errors"]] == [parameter]
    assert "pointer" not in problem["errors"][0]


# Bounds UTC cannot hold: before year 1 or after 9999 once in UTC, or a `created_to` date
# whose next day (the exclusive end) is after 9999-12-31.
UNREPRESENTABLE_CREATED = [
    ("created_to", "9999-12-31"),
    ("created_from", "0001-01-01"),  # midnight in Asia/Jakarta is 0000-12-31 in UTC
    ("created_from", "0001-01-01T00:00:00+14:00"),
    ("created_to", "0001-01-01T00:00:00+00:01"),
    ("created_from", "9999-12-31T23:59:59-14:00"),
    ("created_to", "9999-12-31T23:59:59.999999Z"),  # its exclusive end is after 9999
]
REFERRAL_QUERIES = ["/v1/referrals", "/v1/referrals/stats", "/v1/referrals/export.csv"]


@pytest.mark.parametrize("path", REFERRAL_QUERIES)
@pytest.mark.parametrize(("parameter", "value"), UNREPRESENTABLE_CREATED)
async def test_created_bounds_utc_cannot_hold_are_422_naming_the_parameter(
    http: httpx.AsyncClient, clients: Clients, path: str, parameter: str, value: str
) -> None:
    kemensos = await clients.kemensos()
    auditor = await clients.make("auditor")
    response = await http.get(path, params={parameter: value}, headers=kemensos.headers)
    problem = assert_problem(response, 422, "VALIDATION_FAILED")
    assert [(e["parameter"], e["code"]) for e in problem["errors"]] == [(parameter, "INVALID_DATE")]
    # A refused export is not an export: no `referrals.export` row.
    audit = await http.get(
        "/v1/audit-events", params={"client_id": kemensos.client_id}, headers=auditor.headers
    )
    assert audit.json()["items"] == []


@pytest.mark.parametrize("path", REFERRAL_QUERIES)
async def test_the_widest_created_bounds_utc_holds_are_accepted(
    http: httpx.AsyncClient, clients: Clients, facility: str, path: str
) -> None:
    prison, kemensos = await clients.prison(facility), await clients.kemensos()
    await post_event(http, prison, make_event(facility))
    for start, end in (
        ("0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"),
        ("0001-01-01T00:00:00-14:00", "9999-12-31T23:59:59+14:00"),
        ("0001-01-02", "9999-12-30"),
    ):
        params = {"facility_code": facility, "created_from": start, "created_to": end}
        response = await http.get(path, params=params, headers=kemensos.headers)
        assert response.status_code == 200, response.text
        if path.endswith(".csv"):
            found = len(list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig")))))
        else:
            body = response.json()
            found = body["total"] if "total" in body else len(body["items"])
        assert found == 1, (start, end)


async def test_an_export_is_audited_once_it_is_answered(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison, kemensos = await clients.prison(facility), await clients.kemensos()
    auditor = await clients.make("auditor")
    await post_event(http, prison, make_event(facility))
    refused = await http.get(
        "/v1/referrals/export.csv",
        params={"facility_code": facility, "created_to": "9999-12-31"},
        headers=kemensos.headers,
    )
    assert_problem(refused, 422, "VALIDATION_FAILED")
    taken = await http.get(
        "/v1/referrals/export.csv",
        params={"facility_code": facility, "created_to": "9999-12-30"},
        headers=kemensos.headers,
    )
    assert taken.status_code == 200, taken.text
    assert len(list(csv.DictReader(io.StringIO(taken.content.decode("utf-8-sig"))))) == 1
    audit = await http.get(
        "/v1/audit-events", params={"client_id": kemensos.client_id}, headers=auditor.headers
    )
    assert [(r["action"], r["outcome"]) for r in audit.json()["items"]] == [
        ("referrals.export", "success")
    ]


async def test_an_export_whose_first_read_fails_is_a_problem_and_not_audited(
    http: httpx.AsyncClient, clients: Clients, facility: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first batch is read before the 200 starts: a failing statement is answered as a
    problem, not as a CSV cut short, and records no export."""
    from app.referrals import portal

    def failing(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the statement failed")

    kemensos = await clients.kemensos()
    auditor = await clients.make("auditor")
    monkeypatch.setattr(portal, "page_query", failing)
    response = await http.get(
        "/v1/referrals/export.csv", params={"facility_code": facility}, headers=kemensos.headers
    )
    assert_problem(response, 500, "INTERNAL_ERROR")
    audit = await http.get(
        "/v1/audit-events", params={"client_id": kemensos.client_id}, headers=auditor.headers
    )
    assert audit.json()["items"] == []


async def test_limit_bounds_and_last_page(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison = await clients.prison(facility)
    for _ in range(3):
        await post_event(http, prison, make_event(facility))
    default = await listing(http, prison, {})
    assert len(default.json()["items"]) == 3
    assert default.json()["next_cursor"] is None
    exact = await listing(http, prison, {"limit": 3})
    assert exact.json()["next_cursor"] is None
    assert (await listing(http, prison, {"limit": 500})).status_code == 200
    first = await listing(http, prison, {"limit": 2})
    assert first.json()["next_cursor"] is not None
    last = await listing(http, prison, {"limit": 2, "cursor": first.json()["next_cursor"]})
    assert len(last.json()["items"]) == 1
    assert last.json()["next_cursor"] is None


async def test_bad_cursors_are_400(
    shared: Dataset, http: httpx.AsyncClient, clients: Clients
) -> None:
    d = shared
    params = {"facility_code": d.facility, "limit": 2}
    cursor = (await listing(http, d.kemensos, params)).json()["next_cursor"]
    assert (await listing(http, d.kemensos, params | {"cursor": cursor})).status_code == 200

    flipped = cursor[:-3] + ("A" if cursor[-3] != "A" else "B") + cursor[-2:]
    tampered_middle = cursor[:10] + ("x" if cursor[10] != "x" else "y") + cursor[11:]
    other_kemensos = await clients.kemensos()
    attempts: list[tuple[ApiClient, dict[str, Any]]] = [
        (d.kemensos, params | {"cursor": flipped}),
        (d.kemensos, params | {"cursor": tampered_middle}),
        (d.kemensos, params | {"cursor": "garbage"}),
        (d.kemensos, params | {"cursor": "é"}),
        (d.kemensos, params | {"cursor": "A" * 2000}),
        (d.kemensos, params | {"cursor": cursor, "sort": "created_at"}),
        (d.kemensos, params | {"cursor": cursor, "status": "received"}),
        (d.kemensos, {"limit": 2, "cursor": cursor}),
        (other_kemensos, params | {"cursor": cursor}),
    ]
    for client, attempt in attempts:
        response = await listing(http, client, attempt)
        assert response.status_code == 400, (attempt, response.text)
        assert response.json()["code"] == "INVALID_CURSOR"
    # A different page size keeps the position: the cursor is not bound to `limit`.
    assert (
        await listing(http, d.kemensos, params | {"limit": 3, "cursor": cursor})
    ).status_code == 200


async def _batch(http: httpx.AsyncClient, prison: ApiClient, events: list[dict[str, Any]]) -> None:
    for start in range(0, len(events), 500):
        response = await http.post(
            "/v1/release-events/batch",
            json={"events": events[start : start + 500]},
            headers=prison.headers,
        )
        assert response.status_code == 207, response.text
        assert all(r["status"] == 201 for r in response.json()["results"])


@pytest.mark.parametrize("sort", ["-created_at", "created_at", "release_date"])
async def test_cursor_walk_during_inserts_sees_each_referral_once(
    http: httpx.AsyncClient, clients: Clients, facility: str, sort: str
) -> None:
    prison = await clients.prison(facility)
    kemensos = await clients.kemensos()
    existing = 300
    await _batch(
        http,
        prison,
        [make_event(facility, release_days=-random.randint(0, 90)) for _ in range(existing)],
    )
    before = await listing(http, kemensos, {"facility_code": facility, "limit": 500})
    pre_existing = {i["id"] for i in before.json()["items"]}
    assert len(pre_existing) == existing

    walked: list[str] = []
    walking = True

    async def walk() -> None:
        nonlocal walking
        cursor = None
        while True:
            params: dict[str, Any] = {"facility_code": facility, "limit": 17, "sort": sort}
            if cursor:
                params["cursor"] = cursor
            page = await listing(http, kemensos, params)
            assert page.status_code == 200, page.text
            walked.extend(i["id"] for i in page.json()["items"])
            cursor = page.json()["next_cursor"]
            await asyncio.sleep(0)
            if cursor is None:
                walking = False
                return

    async def insert() -> int:
        inserted = 0
        while walking and inserted < 200:
            await _batch(
                http,
                prison,
                [make_event(facility, release_days=-random.randint(0, 90)) for _ in range(5)],
            )
            inserted += 5
        return inserted

    _, inserted = await asyncio.gather(walk(), insert())
    assert inserted > 0
    assert len(walked) == len(set(walked)), "a referral was repeated"
    assert pre_existing <= set(walked), "a referral was skipped"


async def test_cursor_walk_of_ten_thousand_on_postgres(
    http: httpx.AsyncClient, clients: Clients, facility: str, backend: str, services: Any
) -> None:
    """10,000 referrals (seeded straight into the database: intake through HTTP would take
    minutes), walked over HTTP in pages of 500 while events arrive."""
    if backend != "postgres":
        pytest.skip("the large walk runs on PostgreSQL")
    from tests.support.bulk import seed_referrals

    prison = await clients.prison(facility)
    kemensos = await clients.kemensos()
    started = time.monotonic()
    pre_existing = set(await seed_referrals(services, facility, prison.client_id, 10_000))
    walked: list[str] = []
    done = False

    async def walk() -> None:
        nonlocal done
        cursor = None
        while True:
            params: dict[str, Any] = {"facility_code": facility, "limit": 500}
            if cursor:
                params["cursor"] = cursor
            page = await listing(http, kemensos, params)
            assert page.status_code == 200, page.text
            walked.extend(i["id"] for i in page.json()["items"])
            cursor = page.json()["next_cursor"]
            if cursor is None:
                done = True
                return

    async def insert() -> None:
        while not done:
            await post_event(http, prison, make_event(facility))

    await asyncio.gather(walk(), insert())
    assert len(walked) == len(set(walked))
    assert pre_existing <= set(walked)
    assert time.monotonic() - started < 60


async def test_name_search_ignores_case_and_accents_both_ways(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison = await clients.prison(facility)
    kemensos = await clients.kemensos()
    stored = await post_event(
        http,
        prison,
        make_event(facility, person__full_name="Nurhalíza Çahya Putri"),
    )
    for q in ("nurhaliza", "NURHALÍZA", "cahya", "Çah", "putri nurhal", "Nurhalíza Çahya Putri"):
        found = await listing(http, kemensos, {"facility_code": facility, "q": q})
        assert [i["id"] for i in found.json()["items"]] == [stored], q
    for q in ("haliza", "putrinur", "nurhaliza x"):
        found = await listing(http, kemensos, {"facility_code": facility, "q": q})
        assert found.json()["items"] == [], q


async def test_visibility_of_prisons_and_sentra(
    shared: Dataset, http: httpx.AsyncClient, clients: Clients
) -> None:
    d = shared
    other_facility = facility_code()
    other_prison = await clients.prison(other_facility)
    foreign = await post_event(http, other_prison, make_event(other_facility))

    # A prison lists only its own facility's referrals, with or without a facility filter.
    own = await listing(http, d.prison, {"limit": 500})
    assert {i["facility"]["code"] for i in own.json()["items"]} == {d.facility}
    assert len(own.json()["items"]) == 5
    asked = await listing(http, d.prison, {"facility_code": other_facility})
    assert asked.json()["items"] == []
    for path in (f"/v1/referrals/{foreign}", f"/v1/referrals/{foreign}/history"):
        assert (await http.get(path, headers=d.prison.headers)).status_code == 404

    # A prison bound to '*' sees both.
    everywhere = await clients.prison("*")
    both = await listing(
        http, everywhere, [("facility_code", d.facility), ("facility_code", other_facility)]
    )
    assert len(both.json()["items"]) == 6

    # A sentra sees only what is assigned to it.
    seen = await listing(http, d.sentra, {"limit": 500})
    assert d.names(seen.json()["items"]) == ["D"]
    assert (
        await http.get(f"/v1/referrals/{d.ids['D']}", headers=d.sentra.headers)
    ).status_code == 200
    for key in ("A", "E"):
        for path in (f"/v1/referrals/{d.ids[key]}", f"/v1/referrals/{d.ids[key]}/history"):
            assert (await http.get(path, headers=d.sentra.headers)).status_code == 404
    unassigned = await clients.sentra(sentra_code())
    assert (await listing(http, unassigned, {})).json()["items"] == []

    for role in ("auditor", "admin"):
        client = await clients.make(role)
        for path in ("/v1/referrals", "/v1/referrals/stats", "/v1/referrals/export.csv"):
            response = await http.get(path, headers=client.headers)
            assert response.status_code == 403, (role, path)
            assert response.json()["code"] == "ROLE_NOT_PERMITTED"


async def stats(
    http: httpx.AsyncClient, client: ApiClient, params: list[tuple[str, Any]]
) -> dict[str, Any]:
    response = await http.get("/v1/referrals/stats", params=params, headers=client.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def counts(body: dict[str, Any]) -> dict[tuple[str | None, ...], int]:
    return {tuple(g["key"].values()): g["count"] for g in body["groups"]}


async def test_stats_totals_groups_and_pas_counting(
    shared: Dataset, http: httpx.AsyncClient
) -> None:
    d = shared
    mine = [("facility_code", d.facility)]
    plain = await stats(http, d.kemensos, mine)
    assert plain == {"total": 5, "groups": []}

    by_status = await stats(http, d.kemensos, [*mine, ("group_by", "status")])
    assert by_status["total"] == 5
    assert counts(by_status) == {("assigned",): 1, ("received",): 3, ("rejected",): 1}
    assert by_status["groups"][0]["key"] == {"status": "assigned"}

    by_pas = await stats(http, d.kemensos, [*mine, ("group_by", "pas_category")])
    assert by_pas["total"] == 5  # distinct referrals, not category rows
    assert counts(by_pas) == {
        ("korban_napza_hiv",): 2,
        ("perempuan_rentan",): 1,
        ("warga_binaan",): 5,
    }

    two = await stats(
        http, d.kemensos, [*mine, ("group_by", "status"), ("group_by", "province_code")]
    )
    assert counts(two) == {
        ("assigned", "31"): 1,
        ("received", "31"): 2,
        ("received", "32"): 1,
        ("rejected", "51"): 1,
    }
    assert list(two["groups"][0]["key"]) == ["status", "province_code"]

    agency = await stats(http, d.kemensos, [*mine, ("group_by", "responsible_agency")])
    assert counts(agency) == {("imipas",): 2, ("kemensos",): 3}

    for group, expected in (
        ("custody_status", {("in_custody",): 1, ("released",): 4}),
        ("sentra_code", {(d.sentra_code,): 1, (None,): 4}),
        ("facility_code", {(d.facility,): 5}),
        (
            "release_type",
            {
                ("amnesti",): 1,
                ("asimilasi",): 1,
                ("bebas_murni",): 1,
                ("bebas_remisi",): 1,
                ("pembebasan_bersyarat",): 1,
            },
        ),
    ):
        assert counts(await stats(http, d.kemensos, [*mine, ("group_by", group)])) == expected

    filtered = await stats(
        http, d.kemensos, [*mine, ("pas_category", "korban_napza_hiv"), ("group_by", "status")]
    )
    assert filtered["total"] == 2
    assert counts(filtered) == {("assigned",): 1, ("received",): 1}
    overdue = await stats(http, d.kemensos, [*mine, ("overdue", "true")])
    assert overdue["total"] == 1


async def test_stats_count_only_what_the_caller_may_read(
    shared: Dataset, http: httpx.AsyncClient
) -> None:
    d = shared
    prison_view = await stats(http, d.prison, [("group_by", "facility_code")])
    assert prison_view["total"] == 5
    assert counts(prison_view) == {(d.facility,): 5}
    sentra_view = await stats(http, d.sentra, [("group_by", "status")])
    assert sentra_view == {"total": 1, "groups": [{"key": {"status": "assigned"}, "count": 1}]}
    bad = await http.get(
        "/v1/referrals/stats", params={"group_by": "nik"}, headers=d.kemensos.headers
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["parameter"] == "group_by"
    unknown = await http.get("/v1/referrals/stats", params={"limit": 5}, headers=d.kemensos.headers)
    assert unknown.status_code == 422


async def test_export_csv(d: Dataset, http: httpx.AsyncClient, clients: Clients) -> None:
    formula = await post_event(
        http, d.prison, make_event(d.facility, person__full_name="=HYPERLINK Budi")
    )
    response = await http.get(
        "/v1/referrals/export.csv",
        params={"facility_code": d.facility, "sort": "created_at"},
        headers={**d.kemensos.headers, "X-Actor": "analis.pusat"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [r["id"] for r in rows] == [*d.ids.values(), formula]
    first = rows[0]
    nik = d.niks["A"]
    assert first["nik_masked"] == nik[:2] + "*" * 14
    assert first["full_name"] == "Siti Nurhaliza"
    assert first["pas_categories"] == "warga_binaan;perempuan_rentan"
    assert first["status"] == "received"
    assert first["responsible_agency"] == "kemensos"
    assert first["overdue"] == "false"
    assert first["facility_code"] == d.facility
    assert rows[2]["overdue"] == "true"
    assert rows[3]["sentra_code"] == d.sentra_code
    assert rows[3]["responsible_agency"] == "imipas"
    assert rows[1]["custody_status"] == "in_custody"
    assert rows[5]["full_name"] == "'=HYPERLINK Budi"
    for full in d.niks.values():
        assert full not in response.text
    assert "napza_history" not in response.text

    filtered = await http.get(
        "/v1/referrals/export.csv",
        params=[("facility_code", d.facility), ("status", "received")],
        headers=d.kemensos.headers,
    )
    assert len(list(csv.DictReader(io.StringIO(filtered.content.decode("utf-8-sig"))))) == 4

    for client in (d.prison, d.sentra):
        denied = await http.get(
            "/v1/referrals/export.csv", params={"facility_code": d.facility}, headers=client.headers
        )
        assert denied.status_code == 403

    auditor = await clients.make("auditor")
    audit = await http.get(
        "/v1/audit-events",
        params={"client_id": d.kemensos.client_id, "action": "referrals.export"},
        headers=auditor.headers,
    )
    assert audit.status_code == 200, audit.text
    entries = audit.json()["items"]
    assert len(entries) == 2
    assert entries[0]["actor"] == "analis.pusat"
    assert entries[0]["outcome"] == "success"


async def test_export_streams_in_batches(
    http: httpx.AsyncClient, clients: Clients, facility: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.referrals import portal

    monkeypatch.setattr(portal, "EXPORT_BATCH", 4)
    monkeypatch.setattr(portal, "EXPORT_LATER_BATCH", 3)
    prison = await clients.prison(facility)
    kemensos = await clients.kemensos()
    ids = [await post_event(http, prison, make_event(facility)) for _ in range(9)]
    chunks: list[bytes] = []
    async with http.stream(
        "GET",
        "/v1/referrals/export.csv",
        params={"facility_code": facility},
        headers=kemensos.headers,
    ) as response:
        async for chunk in response.aiter_raw():
            chunks.append(chunk)
    rows = list(csv.DictReader(io.StringIO(b"".join(chunks).decode("utf-8-sig"))))
    assert [r["id"] for r in rows] == list(reversed(ids))


async def test_overdue_and_agency_boundaries_match_the_detail(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    """SQL (filters, stats) and Python (items, detail) agree on the day things change."""
    prison = await clients.prison(facility)
    kemensos = await clients.kemensos()
    ids = {
        "due_today": await post_event(http, prison, make_event(facility, release_days=-14)),
        "due_tomorrow": await post_event(http, prison, make_event(facility, release_days=-13)),
    }
    for key, end in (("supervision_ends_today", 0), ("supervision_ends_tomorrow", 1)):
        event = supervised(make_event(facility, release_days=-20))
        event["release"]["supervision_end_date"] = days(end)
        ids[key] = await post_event(http, prison, event)
    by_id = {v: k for k, v in ids.items()}

    async def keys(params: dict[str, Any]) -> set[str]:
        found = await listing(http, kemensos, {"facility_code": facility, **params})
        return {by_id[i["id"]] for i in found.json()["items"]}

    assert await keys({"overdue": "true"}) == {"due_today"}
    assert await keys({"responsible_agency": "kemensos"}) == {
        "due_today",
        "due_tomorrow",
        "supervision_ends_today",
    }
    assert await keys({"responsible_agency": "imipas"}) == {"supervision_ends_tomorrow"}
    agency = await stats(
        http, kemensos, [("facility_code", facility), ("group_by", "responsible_agency")]
    )
    assert counts(agency) == {("imipas",): 1, ("kemensos",): 3}
    items = (await listing(http, kemensos, {"facility_code": facility})).json()["items"]
    for item in items:
        detail = (await http.get(f"/v1/referrals/{item['id']}", headers=kemensos.headers)).json()
        assert item["overdue"] == detail["overdue"]
        assert item["responsible_agency"] == detail["responsible_agency"]
        assert item["overdue"] == (by_id[item["id"]] == "due_today")
