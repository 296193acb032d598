"""The OpenAPI schemas say exactly what the service accepts (SPEC §1): for each form
Schemathesis found accepted by the schema and refused by the service, the schema now
refuses it too, and the service still answers it with its documented problem."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.conftest import Clients
from tests.factories import make_event
from tests.support.checks import assert_problem


def _parameter(app: Any, path: str, method: str, name: str) -> dict[str, Any]:
    operation = app.openapi()["paths"][path][method]
    (found,) = [p for p in operation["parameters"] if p["name"] == name]
    return dict(found)


def _string_schema(parameter: dict[str, Any]) -> dict[str, Any]:
    schema = dict(parameter["schema"])
    for branch in schema.pop("anyOf", []):
        if branch.get("type") == "string":
            schema = {**branch, **schema}
    return schema


def _schema_accepts(schema: dict[str, Any], value: str) -> bool:
    if len(value) < schema.get("minLength", 0) or len(value) > schema.get("maxLength", 10**9):
        return False
    pattern = schema.get("pattern")
    return pattern is None or re.search(pattern, value) is not None


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("2026-01-31", True),
        ("2026-01-31T10:00:00+07:00", True),
        ("2026-01-31T03:00:00.5Z", True),
        ("0000000000000000000000000000000000000000", False),
        ("", False),
        ("0000-01-01", False),
        ("2026-13-01", False),
        ("2026-01-31T10:00+07:00", False),
        ("20260131", False),
        ("2026-01-31T10:00:00", False),
    ],
)
async def test_created_from_schema_and_service_agree(
    app: Any, http: httpx.AsyncClient, clients: Clients, value: str, valid: bool
) -> None:
    kemensos = await clients.kemensos()
    for name in ("created_from", "created_to"):
        schema = _string_schema(_parameter(app, "/v1/referrals", "get", name))
        assert _schema_accepts(schema, value) is valid
        response = await http.get("/v1/referrals", params={name: value}, headers=kemensos.headers)
        if valid:
            assert response.status_code == 200, response.text
        else:
            body = assert_problem(response, 422, "VALIDATION_FAILED")
            assert [(e["code"], e["parameter"]) for e in body["errors"]] == [("INVALID_DATE", name)]


async def test_a_pattern_valid_day_that_does_not_exist_is_the_documented_invalid_date(
    http: httpx.AsyncClient, clients: Clients
) -> None:
    kemensos = await clients.kemensos()
    response = await http.get(
        "/v1/referrals", params={"created_from": "2026-02-30"}, headers=kemensos.headers
    )
    assert assert_problem(response, 422, "VALIDATION_FAILED")["errors"][0]["code"] == (
        "INVALID_DATE"
    )


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/v1/referrals", "cursor"),
        ("/v1/audit-events", "cursor"),
        ("/v1/referral-events", "after"),
        ("/v1/webhook-subscriptions/{subscription_id}/deliveries", "cursor"),
    ],
)
def test_cursor_parameters_say_what_a_cursor_looks_like(app: Any, path: str, name: str) -> None:
    schema = _string_schema(_parameter(app, path, "get", name))
    assert not _schema_accepts(schema, "")
    assert not _schema_accepts(schema, "not a cursor!")
    assert _schema_accepts(schema, "AbC-_0123456789abcdefghij")


async def test_an_empty_cursor_is_refused_as_the_schema_says(
    http: httpx.AsyncClient, clients: Clients
) -> None:
    kemensos = await clients.kemensos()
    response = await http.get("/v1/referrals", params={"cursor": ""}, headers=kemensos.headers)
    assert_problem(response, 400, "INVALID_CURSOR")


async def test_regencies_province_code_has_its_pattern(
    app: Any, http: httpx.AsyncClient, clients: Clients
) -> None:
    schema = _string_schema(_parameter(app, "/v1/reference/regencies", "get", "province_code"))
    kemensos = await clients.kemensos()
    for value, valid in (("31", True), ("0", False), ("3a", False), ("310", False)):
        assert _schema_accepts(schema, value) is valid
        response = await http.get(
            "/v1/reference/regencies", params={"province_code": value}, headers=kemensos.headers
        )
        assert response.status_code == (200 if valid else 422), response.text
    # Pattern-valid but not a province: the documented UNKNOWN_REGION.
    response = await http.get(
        "/v1/reference/regencies", params={"province_code": "00"}, headers=kemensos.headers
    )
    assert assert_problem(response, 422, "VALIDATION_FAILED")["errors"][0]["code"] == (
        "UNKNOWN_REGION"
    )


def test_if_match_is_required_and_shaped_like_an_etag(app: Any) -> None:
    parameter = _parameter(app, "/v1/referrals/{referral_id}/transitions", "post", "If-Match")
    assert parameter["required"] is True
    schema = parameter["schema"]
    assert _schema_accepts(schema, '"3"') and _schema_accepts(schema, 'W/"3"')
    assert not _schema_accepts(schema, "*")


def test_ids_in_paths_are_uuids_and_sentra_codes_unit_codes(app: Any) -> None:
    paths = app.openapi()["paths"]
    for path, name in (
        ("/v1/referrals/{referral_id}", "referral_id"),
        ("/v1/webhook-subscriptions/{subscription_id}", "subscription_id"),
    ):
        assert _parameter(app, path, "get", name)["schema"]["format"] == "uuid"
    code = _parameter(app, "/v1/sentra/{code}", "get", "code")["schema"]
    assert _schema_accepts(code, "HANDAYANI") and not _schema_accepts(code, "0")
    assert "/v1/sentra/{code}" in paths


def test_event_codes_carry_their_patterns(app: Any) -> None:
    schemas = app.openapi()["components"]["schemas"]
    domicile = schemas["Domicile"]["properties"]
    assert domicile["province_code"]["pattern"] == "^[0-9]{2}$"
    assert domicile["regency_code"]["pattern"] == "^[0-9]{4}$"
    assert domicile["district_code"]["pattern"] == "^[0-9]{6}$"
    assert schemas["Person"]["properties"]["nik"]["pattern"] == "^[0-9]{16}$"


async def test_a_whole_number_written_as_a_float_is_an_integer(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    """JSON Schema's `integer` includes 17.0; a PPKS type so written is accepted as 17."""
    prison = await clients.prison(facility)
    event = make_event(facility, ppks_types=[17.0])
    response = await http.post("/v1/release-events", json=event, headers=prison.headers)
    assert response.status_code == 201, response.text
    event = make_event(facility, ppks_types=[17.5])
    response = await http.post("/v1/release-events", json=event, headers=prison.headers)
    assert assert_problem(response, 422, "VALIDATION_FAILED")["errors"][0]["code"] == (
        "INVALID_TYPE"
    )


def test_main_s_new_paths_have_exact_parameters(app: Any) -> None:
    """Aftercare's and the guides' paths (merged after the exactness work) say their forms."""
    from app.ops.guides import _NAME

    for path, method in (
        ("/v1/referrals/{referral_id}/follow-ups", "get"),
        ("/v1/referrals/{referral_id}/follow-ups", "post"),
    ):
        assert _parameter(app, path, method, "referral_id")["schema"]["format"] == "uuid"
    code = _parameter(app, "/v1/sentra/{code}/forecast", "get", "code")["schema"]
    assert _schema_accepts(code, "HANDAYANI") and not _schema_accepts(code, "0")
    name = _parameter(app, "/guides/{name}", "get", "name")["schema"]
    assert name["pattern"] == _NAME.pattern
    assert _schema_accepts(name, "integration-guide.id") and not _schema_accepts(name, "../x")
    for filter_name in ("created_from", "created_to", "q", "nik"):
        listed = _parameter(app, "/v1/referrals", "get", filter_name)["schema"]
        assert _parameter(app, "/v1/referrals/durations", "get", filter_name)["schema"] == listed


@pytest.mark.parametrize(
    ("path", "status"),
    [("/guides/integration-guide.id", 200), ("/guides/no-such-guide", 404), ("/guides/A", 404)],
)
async def test_a_guide_name_outside_its_pattern_names_nothing(
    http: httpx.AsyncClient, path: str, status: int
) -> None:
    response = await http.get(path)
    assert response.status_code == status
    if status == 404:
        assert_problem(response, 404, "NOT_FOUND")


def test_the_new_operations_document_their_refusals_beyond_schema(app: Any) -> None:
    from app.openapi import BEYOND_SCHEMA

    paths = app.openapi()["paths"]
    durations = paths["/v1/referrals/durations"]["get"]
    follow_up = paths["/v1/referrals/{referral_id}/follow-ups"]["post"]
    assert BEYOND_SCHEMA["get_durations"] == BEYOND_SCHEMA["referral_stats"]
    assert "`INVALID_DATE`" in durations["description"]
    assert "`INVALID_VALUE` (`q`)" in durations["description"]
    assert "`INVALID_DATE` (`/done_on`)" in follow_up["description"]


def test_the_fuzz_hook_lets_through_exactly_the_follow_up_s_documented_refusal() -> None:
    """Schema-valid, refused for what the schema cannot say: exactly the documented pair
    (tests/fuzz/hooks.py lets it through by code and pointer)."""
    from tests.fuzz.hooks import _semantic_rejection

    body = {
        "errors": [{"pointer": "/done_on", "code": "INVALID_DATE", "detail": "x"}],
        "code": "VALIDATION_FAILED",
    }
    assert _semantic_rejection("post_follow_up", 422, body)
    body["errors"][0]["pointer"] = "/note"
    assert not _semantic_rejection("post_follow_up", 422, body)
