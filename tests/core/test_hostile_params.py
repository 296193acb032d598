"""Hostile paths and parameters (SPEC §1): a NUL or other control character in a query
parameter is a 422 naming the parameter, in a path segment a 404; never a 500. No
redirects: a trailing slash is a 404, whatever the `Host` header says."""

from __future__ import annotations

import httpx
import pytest

from app.core.errors import MAX_ERRORS, FieldError, validation_failed
from app.core.i18n import Lang, Msg, msg
from tests.conftest import Clients
from tests.support.checks import assert_problem


@pytest.mark.parametrize(
    "path",
    [
        "/v1/sentra/%00",
        "/v1/sentra/A%00B",
        "/v1/sentra/%1B",
        "/v1/referrals/%00",
        "/v1/clients/%00/rotate-key",
        "/v1/webhook-subscriptions/%00",
    ],
)
async def test_a_control_character_in_a_path_segment_is_a_404(
    http: httpx.AsyncClient, clients: Clients, path: str
) -> None:
    admin = await clients.make("admin")
    kemensos = await clients.kemensos()
    for caller in (admin, kemensos):
        method = "POST" if path.endswith("rotate-key") else "GET"
        response = await http.request(method, path, headers=caller.headers)
        assert response.status_code in (403, 404), response.text
        if response.status_code == 404:
            assert_problem(response, 404, response.json()["code"])


@pytest.mark.parametrize(
    ("role", "path", "parameter"),
    [
        ("auditor", "/v1/audit-events?action=%00", "action"),
        ("auditor", "/v1/audit-events?action=referral.read%00", "action"),
        ("auditor", "/v1/audit-events?cursor=%00", "cursor"),
        ("kemensos", "/v1/referral-events?after=%00", "after"),
        ("admin", "/v1/clients?x%00y=1", "x\x00y"),
        ("kemensos", "/v1/referrals?q=Budi%00", "q"),
        ("kemensos", "/v1/referrals?facility_code=%00", "facility_code"),
        ("kemensos", "/v1/referrals?nik=%00", "nik"),
        ("kemensos", "/v1/referrals/stats?facility_code=LP%1F", "facility_code"),
        ("kemensos", "/v1/referrals?cursor=%7F", "cursor"),
    ],
)
async def test_a_control_character_in_a_query_parameter_is_a_422(
    http: httpx.AsyncClient, clients: Clients, role: str, path: str, parameter: str
) -> None:
    caller = await clients.make(role)
    response = await http.get(path, headers=caller.headers)
    body = assert_problem(response, 422, "VALIDATION_FAILED")
    assert {e.get("parameter") for e in body["errors"]} == {parameter}


@pytest.mark.parametrize(
    "path", ["/v1/referrals/", "/v1/sentra/", "/v1/audit-events/", "/v1/webhook-subscriptions/"]
)
async def test_a_trailing_slash_is_a_404_and_never_a_redirect(
    http: httpx.AsyncClient, clients: Clients, path: str
) -> None:
    kemensos = await clients.kemensos()
    for headers in ({"Host": "evil.example"}, {"Host": "evil.example", **kemensos.headers}):
        response = await http.get(path, headers=headers)
        assert_problem(response, 404, "NOT_FOUND")
        assert "location" not in response.headers


@pytest.mark.parametrize("lang", ["en", "id"])
def test_a_problem_lists_at_most_fifty_errors_and_counts_the_rest(lang: Lang) -> None:
    errors = [FieldError("UNKNOWN_FIELD", msg("x"), pointer=f"/m{i}") for i in range(85_000)]
    body = validation_failed(errors).body("rid", lang)
    assert len(body["errors"]) == MAX_ERRORS == 50
    assert body["errors_omitted"] == 84_950
    assert body["errors"][0]["pointer"] == "/m0"
    # The count in the detail is of every error, listed or not, in either language.
    assert "85000" in body["detail"]
    assert ("kesalahan validasi" in body["detail"]) is (lang == "id")


@pytest.mark.parametrize("lang", ["en", "id"])
def test_an_entry_is_small_whatever_the_member_name(lang: Lang) -> None:
    long = Msg("x" * 10_000, indonesian="y" * 10_000)
    body = validation_failed([FieldError("UNKNOWN_FIELD", long, pointer="/" + "a" * 20_000)])
    entry = body.body(None, lang)["errors"][0]
    assert len(entry["pointer"]) <= 256
    assert len(entry["detail"]) <= 300
    assert entry["detail"].startswith("y" if lang == "id" else "x")
    assert entry["pointer"].startswith("/aaaa")
