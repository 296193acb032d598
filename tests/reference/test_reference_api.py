"""Reference data through HTTP (SPEC §5, §6): its contents, not only that it answers."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import Clients
from tests.support.checks import assert_problem

# SPEC §6, in its order: code, name (id), PPKS-26 types.
SPEC_PAS = [
    ("anak_rentan", "Anak-anak rentan (termasuk ABH)", [1, 2, 3, 4, 5, 6, 7]),
    ("penyandang_disabilitas", "Penyandang disabilitas", [9]),
    ("lansia_terlantar", "Lanjut usia terlantar", [8]),
    ("masyarakat_berpendapatan_rendah", "Masyarakat berpendapatan rendah", [11, 12, 13]),
    ("korban_bencana", "Korban bencana", [21, 22]),
    ("komunitas_adat_terpencil", "Afirmasi khusus komunitas adat terpencil", [26]),
    ("warga_binaan", "(Mantan) warga binaan pemasyarakatan", [15]),
    ("korban_kekerasan", "Korban kekerasan", [18, 19, 20]),
    ("korban_napza_hiv", "Korban NAPZA dan HIV/AIDS", [16, 17]),
    ("kelompok_bermasalah_sosial", "Kelompok bermasalah sosial", [10, 14, 25]),
    ("perempuan_rentan", "Perempuan rentan", [23]),
    ("fakir_miskin", "Fakir miskin", [24]),
]
# SPEC §3: release types in their three groups.
SPEC_RELEASE_TYPES = {
    "bebas_murni": "convicted",
    "bebas_remisi": "convicted",
    "amnesti": "convicted",
    "grasi": "convicted",
    "pembebasan_bersyarat": "supervised",
    "cuti_bersyarat": "supervised",
    "cuti_menjelang_bebas": "supervised",
    "asimilasi": "supervised",
    "bebas_demi_hukum": "not_convicted",
    "putusan_bebas": "not_convicted",
    "putusan_lepas": "not_convicted",
    "abolisi": "not_convicted",
    "diversi": "not_convicted",
}
# Kepmendagri 2025: DKI Jakarta's administrative regency and five cities.
JAKARTA = {"3101", "3171", "3172", "3173", "3174", "3175"}


async def test_pas_categories_are_the_twelve_of_the_spec(
    http: httpx.AsyncClient, clients: Clients
) -> None:
    caller = await clients.make("auditor")  # any valid key reads reference data
    response = await http.get("/v1/reference/pas-categories", headers=caller.headers)
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [(i["code"], i["name_id"], i["ppks_types"]) for i in items] == [
        (code, name, types) for code, name, types in SPEC_PAS
    ]
    for item in items:
        assert set(item) == {"code", "name_id", "name_en", "description", "ppks_types"}
        assert item["name_en"].strip() and item["description"].strip(), item
    # The 26 PPKS types are each in exactly one category.
    assert sorted(t for i in items for t in i["ppks_types"]) == list(range(1, 27))


async def test_release_types_and_their_supervision(
    http: httpx.AsyncClient, clients: Clients
) -> None:
    caller = await clients.kemensos()
    response = await http.get("/v1/reference/release-types", headers=caller.headers)
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert {i["code"]: i["group"] for i in items} == SPEC_RELEASE_TYPES
    assert len(items) == len(SPEC_RELEASE_TYPES)
    for item in items:
        assert set(item) == {"code", "name_id", "name_en", "group", "supervised"}
        assert item["supervised"] == (item["group"] == "supervised")
        assert item["name_id"].strip() and item["name_en"].strip(), item


# SPEC §10: the seven ATENSI components, in the order of Permensos 7/2021.
SPEC_ATENSI = [
    "hidup_layak",
    "perawatan_pengasuhan",
    "dukungan_keluarga",
    "terapi",
    "vokasional_kewirausahaan",
    "bantuan_sosial",
    "aksesibilitas",
]


async def test_atensi_components_are_the_seven_of_the_spec(
    http: httpx.AsyncClient, clients: Clients
) -> None:
    caller = await clients.make("auditor")  # any valid key reads reference data
    response = await http.get("/v1/reference/atensi-components", headers=caller.headers)
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [i["code"] for i in items] == SPEC_ATENSI
    for item in items:
        assert set(item) == {"code", "name_id", "name_en"}
        assert item["name_id"].strip() and item["name_en"].strip(), item
    assert items[3]["name_id"] == "Terapi fisik, terapi psikososial, dan terapi mental spiritual"
    anonymous = await http.get("/v1/reference/atensi-components")
    assert anonymous.status_code == 401


async def test_provinces_and_regencies(http: httpx.AsyncClient, clients: Clients) -> None:
    caller = await clients.make("admin")
    provinces = (await http.get("/v1/reference/provinces", headers=caller.headers)).json()["items"]
    assert len(provinces) == 38
    by_code = {p["code"]: p["name"] for p in provinces}
    assert by_code["31"] == "Daerah Khusus Ibukota Jakarta"
    every = (await http.get("/v1/reference/regencies", headers=caller.headers)).json()["items"]
    assert len(every) == 514
    assert {r["province_code"] for r in every} == set(by_code)
    assert all(r["code"][:2] == r["province_code"] for r in every)

    response = await http.get(
        "/v1/reference/regencies", params={"province_code": "31"}, headers=caller.headers
    )
    assert response.status_code == 200, response.text
    jakarta = response.json()["items"]
    assert {r["code"] for r in jakarta} == JAKARTA
    assert {r["province_code"] for r in jakarta} == {"31"}
    assert {r["code"]: r["name"] for r in jakarta}["3175"] == "Kota Administrasi Jakarta Timur"


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("99", "UNKNOWN_REGION"),  # well formed, no such province
        # Not two digits: the schema's pattern says so (SPEC §1: exact schemas).
        ("3", "INVALID_VALUE"),
        ("x1", "INVALID_VALUE"),
        ("317", "INVALID_VALUE"),
    ],
)
async def test_an_unknown_or_malformed_province_is_422_naming_the_parameter(
    http: httpx.AsyncClient, clients: Clients, value: str, code: str
) -> None:
    caller = await clients.kemensos()
    response = await http.get(
        "/v1/reference/regencies", params={"province_code": value}, headers=caller.headers
    )
    problem = assert_problem(response, 422, "VALIDATION_FAILED")
    assert [(e["parameter"], e["code"]) for e in problem["errors"]] == [("province_code", code)]


async def test_reference_data_needs_a_key(http: httpx.AsyncClient) -> None:
    for path in (
        "/v1/reference/pas-categories",
        "/v1/reference/release-types",
        "/v1/reference/provinces",
        "/v1/reference/regencies?province_code=31",
    ):
        assert_problem(await http.get(path), 401, "UNAUTHENTICATED")
