"""Problems in Bahasa Indonesia through HTTP (SPEC §9), on both databases: a request whose
`Accept-Language` prefers `id` gets `title`, `detail` and `errors[].detail` in Indonesian
with `Content-Language: id`; codes, pointers and everything else are those of the English
answer (`Content-Language: en`). Both carry `Vary: Accept-Language`."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx

from app.core.errors import CATALOGUE
from tests.conftest import Clients
from tests.factories import make_event
from tests.support.checks import assert_problem
from tests.support.referrals import act, new_referral

INDONESIAN = {"Accept-Language": "id-ID,id;q=0.9,en-US;q=0.8,en;q=0.7"}
ENGLISH = {"Accept-Language": "en-US,en;q=0.9"}


def _language(response: httpx.Response, lang: str) -> None:
    assert response.headers["Content-Language"] == lang
    assert "accept-language" in response.headers["Vary"].lower()


def _same_but_texts(english: dict[str, Any], indonesian: dict[str, Any]) -> None:
    """Everything but the texts is the same: codes, pointers, status, type, extensions."""

    def strip(body: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in body.items() if k not in ("title", "detail", "request_id")}
        if "errors" in out:
            out["errors"] = [{k: v for k, v in e.items() if k != "detail"} for e in out["errors"]]
        return out

    assert strip(english) == strip(indonesian)


async def test_unauthenticated_in_both_languages(http: httpx.AsyncClient) -> None:
    english = await http.get("/v1/referrals", headers=ENGLISH)
    indonesian = await http.get("/v1/referrals", headers=INDONESIAN)
    unspecified = await http.get("/v1/referrals")
    en = assert_problem(english, 401, "UNAUTHENTICATED")
    id_ = assert_problem(indonesian, 401, "UNAUTHENTICATED")
    _language(english, "en")
    _language(indonesian, "id")
    _language(unspecified, "en")
    assert en["title"] == "Authentication required"
    assert en["detail"] == "Send `Authorization: Bearer <api key>`."
    assert id_["title"] == "Autentikasi diperlukan"
    assert id_["detail"] == "Kirim `Authorization: Bearer <api key>`."
    assert unspecified.json()["title"] == en["title"]
    _same_but_texts(en, id_)
    # The rest of the answer is the language's too: the authentication challenge is not.
    assert indonesian.headers["WWW-Authenticate"] == english.headers["WWW-Authenticate"]


async def test_q_values_decide(http: httpx.AsyncClient) -> None:
    prefers_id = await http.get("/v1/nope", headers={"Accept-Language": "en;q=0.4, id;q=0.6"})
    refuses_id = await http.get("/v1/nope", headers={"Accept-Language": "id;q=0, en;q=0.1"})
    assert assert_problem(prefers_id, 404, "NOT_FOUND")["title"] == "Tidak ditemukan"
    assert assert_problem(prefers_id, 404, "NOT_FOUND")["detail"] == "Rute ini tidak ada."
    _language(prefers_id, "id")
    assert assert_problem(refuses_id, 404, "NOT_FOUND")["title"] == "Not found"
    _language(refuses_id, "en")


async def test_rule_and_schema_errors_in_indonesian(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison = await clients.prison(facility)
    event = make_event(facility, person__nik="3171011203859999x")
    event["pas_categories"] = ["warga_binaan", "korban_napza_hiv", "lansia_terlantar"]
    event["release"]["bapas_code"] = "BAPAS-JAKTIM"  # bebas_murni: no Bapas
    headers = prison.headers
    english = await http.post("/v1/release-events", json=event, headers={**headers, **ENGLISH})
    indonesian = await http.post(
        "/v1/release-events", json=event, headers={**headers, **INDONESIAN}
    )
    en = assert_problem(english, 422, "VALIDATION_FAILED")
    id_ = assert_problem(indonesian, 422, "VALIDATION_FAILED")
    _language(indonesian, "id")
    _same_but_texts(en, id_)
    details = {e["pointer"]: e["detail"] for e in id_["errors"]}
    assert details == {
        "/person/nik": "16 digit dengan tanggal lahir DDMMYY yang valid (tanggal + 40 untuk "
        "perempuan) dan kode provinsi yang dikenal",
        "/pas_categories/2": "usia saat keluar dari UPT di bawah 60 tahun",
        "/release/bapas_code": "hanya integrasi (PB, CB, CMB) atau asimilasi yang memiliki "
        "Bapas pembimbing",
    }
    assert id_["title"] == "Validasi gagal"
    assert id_["detail"] == "3 kesalahan validasi; lihat errors[]."
    assert en["detail"] == "3 validation error(s); see errors[]."

    # The schema stage: pydantic's own errors, by type.
    broken = make_event(facility)
    broken["person"]["sex"] = "unknown-sex"
    broken["unexpected"] = 1
    del broken["case_ref"]
    response = await http.post("/v1/release-events", json=broken, headers={**headers, **INDONESIAN})
    body = assert_problem(response, 422, "VALIDATION_FAILED")
    by_pointer = {e["pointer"]: (e["code"], e["detail"]) for e in body["errors"]}
    assert by_pointer["/case_ref"] == ("FIELD_REQUIRED", "Field wajib diisi")
    assert by_pointer["/unexpected"] == ("UNKNOWN_FIELD", "Field tambahan tidak diperbolehkan")
    code, detail = by_pointer["/person/sex"]
    assert code == "INVALID_VALUE"
    assert detail.startswith("Nilai harus 'female'") or detail.startswith("Nilai harus 'male'")
    assert " atau " in detail


async def test_a_batch_answers_its_problems_in_indonesian(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison = await clients.prison(facility)
    good = make_event(facility)
    foreign = make_event("LP-NOT-MINE")
    response = await http.post(
        "/v1/release-events/batch",
        json={"events": [good, foreign]},
        headers={**prison.headers, **INDONESIAN},
    )
    assert response.status_code == 207, response.text
    _language(response, "id")
    first, second = response.json()["results"]
    assert first["status"] == 201
    problem = second["problem"]
    assert (problem["code"], problem["title"]) == ("FACILITY_NOT_PERMITTED", "UPT tidak diizinkan")
    assert problem["detail"] == "Klien API ini tidak boleh mengirim event untuk UPT tersebut."
    assert problem["errors"] == [
        {
            "pointer": "/events/1/facility/code",
            "code": "FACILITY_NOT_PERMITTED",
            "detail": "tidak terikat pada klien API ini",
        }
    ]


async def test_a_refused_transition_and_a_query_in_indonesian(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison = await clients.prison(facility)
    kemensos = await clients.kemensos()
    referral_id = await new_referral(http, prison, facility)
    response = await act(http, kemensos, referral_id, "resume", headers=INDONESIAN)
    body = assert_problem(response, 409, "INVALID_TRANSITION")
    assert body["title"] == "Perubahan status tidak sah"
    assert body["detail"] == "`resume` tidak diizinkan dari status `received`"  # portal guide
    assert body["allowed_actions"]  # extensions are the same in every language
    _language(response, "id")

    headers = {**kemensos.headers, **INDONESIAN}
    # The schema stage (pydantic's), then the filters' own checks.
    response = await http.get("/v1/referrals?limit=many", headers=headers)
    body = assert_problem(response, 422, "VALIDATION_FAILED")
    assert [(e["parameter"], e["detail"]) for e in body["errors"]] == [
        ("limit", "Nilai harus berupa bilangan bulat")
    ]
    response = await http.get("/v1/referrals?created_from=yesterday", headers=headers)
    body = assert_problem(response, 422, "VALIDATION_FAILED")
    assert [(e["parameter"], e["detail"]) for e in body["errors"]] == [
        ("created_from", "tanggal (YYYY-MM-DD) atau waktu RFC 3339 dengan offset")
    ]


async def test_the_outer_layer_answers_in_indonesian_too(
    http: httpx.AsyncClient, clients: Clients
) -> None:
    """The body limit is answered by middleware, before any route or handler."""
    kemensos = await clients.kemensos()
    response = await http.post(
        "/v1/clients",
        content=b"{" + b" " * (1024 * 1024 + 1) + b"}",
        headers={**kemensos.headers, **INDONESIAN, "Content-Type": "application/json"},
    )
    body = assert_problem(response, 413, "PAYLOAD_TOO_LARGE")
    assert body["title"] == CATALOGUE["PAYLOAD_TOO_LARGE"].title_id
    assert body["detail"] == "Body dibatasi 1 MiB."
    _language(response, "id")


# -- The Indonesian integration guide ----------------------------------------------------

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "integration-guide.id.md"
_GUIDE_BLOCK = re.compile(r"<!-- guide-problem: (request|response) -->\s*```json\n(.*?)\n```", re.S)


async def test_the_indonesian_guide_shows_what_the_service_answers(
    http: httpx.AsyncClient, clients: Clients
) -> None:
    """The guide's problem in Indonesian (§6) is the service's answer, today: its dates lie
    in the past, and a 422 stores nothing, so it can be posted again and again."""
    blocks = dict(_GUIDE_BLOCK.findall(GUIDE.read_text(encoding="utf-8")))
    request, shown = json.loads(blocks["request"]), json.loads(blocks["response"])
    prison = await clients.prison(request["facility"]["code"])
    response = await http.post(
        "/v1/release-events",
        json=request,
        headers={
            **prison.headers,
            "Accept-Language": "id",
            "X-Request-ID": "sdp-1764000000-4242",
        },
    )
    assert_problem(response, 422, "VALIDATION_FAILED")
    _language(response, "id")
    assert response.json() == shown
