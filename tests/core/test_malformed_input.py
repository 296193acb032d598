"""Malformed input (SPEC §1, §3): never a 5xx, always a problem, and never a row written.

Every test here posts for a facility bound to the caller, so had the body been accepted a
referral and an intake record would exist; each one checks that neither does.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from app.intake.models import IntakeRecord
from app.referrals.models import Referral
from app.runtime import Runtime
from tests.conftest import ApiClient, Clients
from tests.factories import make_event, supervised
from tests.support.checks import assert_problem

URL = "/v1/release-events"
PROBLEM_JSON = "application/problem+json"
MIB = 1024 * 1024
JSON_HEADERS = {"Content-Type": "application/json"}

# Fields whose JSON value is a date or timestamp: a wrong type there is INVALID_DATE.
DATE_FIELDS = {
    "/occurred_at",
    "/person/birth_date",
    "/release/date",
    "/release/supervision_end_date",
    "/in_custody_programmes/0/completed_on",
    "/consent/recorded_at",
}
# Enumerations: a string that is not one of the values is INVALID_VALUE.
ENUM_FIELDS = {
    "/event_type",
    "/facility/type",
    "/person/sex",
    "/release/type",
    "/in_custody_programmes/0/kind",
    "/consent/basis",
    "/consent/given_by",
    "/consent/method",
    "/consent/scope/0",
    "/consent/scope/1",
    "/needs/health/disability_types/0",
}


def full_event(facility: str) -> dict[str, Any]:
    """An event with every optional field given (so that every leaf can be broken)."""
    event = supervised(make_event(facility))
    event["person"]["nik_unavailable_reason"] = None
    event["person"]["guardian"] = {"full_name": "Siti", "relationship": "ibu", "phone": "+62811"}
    event["release"]["bapas_code"] = "BAPAS-JAKTIM"
    event["needs"]["health"]["hiv_positive"] = False
    event["needs"]["health"]["disability_types"] = ["fisik"]
    event["in_custody_programmes"][0]["completed_on"] = "2026-06-30"
    return event


def leaves(value: Any, pointer: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, child in value.items():
            yield from leaves(child, f"{pointer}/{key}")
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from leaves(child, f"{pointer}/{index}")
    else:
        yield pointer, value


def set_pointer(doc: Any, pointer: str, value: Any) -> None:
    *parents, last = pointer.lstrip("/").split("/")
    node = doc
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


LEAVES = [p for p, _ in leaves(full_event("LP-TEMPLATE"))]
STRING_LEAVES = [p for p, v in leaves(full_event("LP-TEMPLATE")) if isinstance(v, str)]


async def assert_nothing_written(
    services: Runtime, facility: str, client: ApiClient | None = None
) -> None:
    async with services.db.read_session() as session:
        referrals = await session.scalar(
            select(func.count()).select_from(Referral).where(Referral.facility_code == facility)
        )
        assert referrals == 0
        if client is not None:
            records = await session.scalar(
                select(func.count())
                .select_from(IntakeRecord)
                .where(IntakeRecord.client_id == uuid.UUID(client.client_id))
            )
            assert records == 0


def errors_of(body: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e["code"], e["pointer"]) for e in body.get("errors", [])]


async def post_bytes(
    http: httpx.AsyncClient, client: ApiClient | None, content: Any, **headers: str
) -> httpx.Response:
    sent = {**JSON_HEADERS, **(client.headers if client else {}), **headers}
    return await http.post(URL, content=content, headers=sent)


# -- bodies that are not JSON documents ----------------------------------------------------


def _bodies(facility: str) -> dict[str, bytes]:
    event = make_event(facility)
    text = json.dumps(event)
    return {
        "truncated": text[: len(text) // 2].encode(),
        "truncated_at_end": text[:-1].encode(),
        "raw_nul_in_string": text.replace("Budi", "Bu\x00di").encode(),
        "raw_nul_between_tokens": text.replace(', "case_ref"', ',\x00 "case_ref"').encode(),
        "raw_control_in_string": text.replace("Budi", "Bu\x1bdi").encode(),
        "latin1": text.replace("Budi", "Bédi").encode("latin-1"),
        "invalid_utf8": b'{"event_id": "\xff\xfe"}',
        "utf8_surrogate_bytes": text.replace("Budi", "Bu\ud800di").encode("utf-8", "surrogatepass"),
        "utf16": text.encode("utf-16"),
        "bom": "\ufeff".encode() + text.encode(),
        "nan": text.replace('"napza_history": true', '"napza_history": NaN').encode(),
        "infinity": text.replace('"napza_history": true', '"napza_history": Infinity').encode(),
        "minus_infinity": text.replace(
            '"napza_history": true', '"napza_history": -Infinity'
        ).encode(),
        "float_overflow": text.replace('"napza_history": true', '"napza_history": 1e400').encode(),
        "five_thousand_digits": text.replace(
            '"napza_history": true', '"napza_history": ' + "9" * 5000
        ).encode(),
        "empty": b"",
        "whitespace": b" \n\t ",
        "trailing_garbage": (text + " {}").encode(),
        "single_quotes": text.replace('"', "'").encode(),
        "python_literal": text.replace("true", "True").encode(),
        "comment": ("// event\n" + text).encode(),
        "deep_list_1000": (text[:-1] + ', "deep": ' + "[" * 1000 + "]" * 1000 + "}").encode(),
        "deep_object_1000": ('{"a":' * 1000 + "1" + "}" * 1000).encode(),
        "deep_list_100000": ("[" * 100_000 + "]" * 100_000).encode(),
        "deep_65": ("[" * 65 + "]" * 65).encode(),
    }


BODY_NAMES = list(_bodies("LP-TEMPLATE"))


@pytest.mark.parametrize("name", BODY_NAMES)
async def test_body_that_is_not_a_json_document(
    http: httpx.AsyncClient, clients: Clients, services: Runtime, facility: str, name: str
) -> None:
    prison = await clients.prison(facility)
    response = await post_bytes(http, prison, _bodies(facility)[name])
    body = assert_problem(response, 422, "MALFORMED_JSON")
    assert errors_of(body) == [("MALFORMED_JSON", "")]
    # The detail says where, never echoes the content.
    assert "Budi" not in response.text
    await assert_nothing_written(services, facility, prison)


@pytest.mark.parametrize(
    "document",
    [[], ["event"], "event", 42, 10**30, None, True, 1.5],
    ids=["empty_list", "list", "string", "int", "huge_int", "null", "bool", "float"],
)
async def test_json_that_is_not_an_object(
    http: httpx.AsyncClient, clients: Clients, services: Runtime, facility: str, document: Any
) -> None:
    prison = await clients.prison(facility)
    response = await post_bytes(http, prison, json.dumps(document).encode())
    body = assert_problem(response, 422, "VALIDATION_FAILED")
    assert errors_of(body) == [("INVALID_TYPE", "")]
    await assert_nothing_written(services, facility, prison)


async def test_event_wrapped_in_an_array(
    http: httpx.AsyncClient, clients: Clients, services: Runtime, facility: str
) -> None:
    prison = await clients.prison(facility)
    response = await post_bytes(http, prison, json.dumps([make_event(facility)]).encode())
    body = assert_problem(response, 422, "VALIDATION_FAILED")
    assert errors_of(body) == [("INVALID_TYPE", "")]
    await assert_nothing_written(services, facility, prison)


async def test_nesting_at_the_limit_is_parsed(
    http: httpx.AsyncClient, clients: Clients, services: Runtime, facility: str
) -> None:
    """64 levels parse (and then fail the schema); 65 do not parse."""
    prison = await clients.prison(facility)
    event = make_event(facility)
    text = json.dumps(event)[:-1] + ', "deep": ' + "[" * 63 + "]" * 63 + "}"
    body = assert_problem(await post_bytes(http, prison, text.encode()), 422, "VALIDATION_FAILED")
    assert errors_of(body) == [("UNKNOWN_FIELD", "/deep")]
    text = json.dumps(event)[:-1] + ', "deep": ' + "[" * 64 + "]" * 64 + "}"
    assert_problem(await post_bytes(http, prison, text.encode()), 422, "MALFORMED_JSON")
    await assert_nothing_written(services, facility, prison)


# -- every leaf broken in turn ---------------------------------------------------------------


@pytest.mark.parametrize("pointer", LEAVES)
async def test_huge_integer_in_any_field(
    http: httpx.AsyncClient, clients: Clients, services: Runtime, facility: str, pointer: str
) -> None:
    prison = await clients.prison(facility)
    event = full_event(facility)
    set_pointer(event, pointer, 10**30)
    response = await post_bytes(http, prison, json.dumps(event).encode())
    body = assert_problem(response, 422, "VALIDATION_FAILED")
    if pointer in DATE_FIELDS:
        expected = "INVALID_DATE"
    elif pointer in ENUM_FIELDS:
        expected = "INVALID_VALUE"
    else:
        expected = "INVALID_TYPE"
    assert errors_of(body) == [(expected, pointer)]
    await assert_nothing_written(services, facility, prison)


@pytest.mark.parametrize("pointer", STRING_LEAVES)
async def test_nul_character_in_any_string(
    http: httpx.AsyncClient, clients: Clients, services: Runtime, facility: str, pointer: str
) -> None:
    """`\\u0000` (escaped, so the JSON is valid) is INVALID_TEXT in every text, code and
    identifier; an enumeration value with it is not one of the allowed ones (INVALID_VALUE)
    and a date with it is no date (INVALID_DATE)."""
    prison = await clients.prison(facility)
    event = full_event(facility)
    original = dict(leaves(event))[pointer]
    set_pointer(event, pointer, original[:1] + "\u0000" + original[1:])
    content = json.dumps(event).encode()
    assert b"\\u0000" in content
    response = await post_bytes(http, prison, content)
    body = assert_problem(response, 422, "VALIDATION_FAILED")
    if pointer in ENUM_FIELDS:
        expected = "INVALID_VALUE"
    elif pointer in DATE_FIELDS:
        expected = "INVALID_DATE"  # not a date at all
    else:
        expected = "INVALID_TEXT"
    # The text rule is one of the rules (SPEC §3): reported with what the others find.
    assert errors_of(body) == [(expected, pointer), *NUL_CONSEQUENCES.get(pointer, [])]
    await assert_nothing_written(services, facility, prison)


# What the other rules say when a code is no longer the code it was.
NUL_CONSEQUENCES = {
    "/person/domicile/province_code": [("REGION_MISMATCH", "/person/domicile/regency_code")],
    "/person/domicile/regency_code": [("REGION_MISMATCH", "/person/domicile/district_code")],
    "/pas_categories/0": [("PAS_WARGA_BINAAN_REQUIRED", "/pas_categories")],
}


@pytest.mark.parametrize(
    "pointer", ["/person/nik_unavailable_reason", "/person/full_name", "/needs/summary"]
)
async def test_nul_in_an_optional_string_that_is_otherwise_ignored(
    http: httpx.AsyncClient, clients: Clients, services: Runtime, facility: str, pointer: str
) -> None:
    """A reason given beside a NIK is not checked by any rule; it must still be clean text
    (PostgreSQL cannot even store a NUL in JSON)."""
    prison = await clients.prison(facility)
    event = make_event(facility)
    set_pointer(event, pointer, "unknown\u0000")
    response = await post_bytes(http, prison, json.dumps(event).encode())
    body = assert_problem(response, 422, "VALIDATION_FAILED")
    assert errors_of(body) == [("INVALID_TEXT", pointer)]
    await assert_nothing_written(services, facility, prison)


@pytest.mark.parametrize("pointer", ["/person/full_name", "/case_ref", "/needs/summary"])
async def test_lone_surrogate_escape_is_invalid_text(
    http: httpx.AsyncClient, clients: Clients, services: Runtime, facility: str, pointer: str
) -> None:
    """`"\\ud800"` is valid JSON syntax but no Unicode text: INVALID_TEXT at the field."""
    prison = await clients.prison(facility)
    event = make_event(facility)
    set_pointer(event, pointer, "X-MARK")
    content = json.dumps(event).replace("X-MARK", "X\\ud800MARK").encode()
    response = await post_bytes(http, prison, content)
    body = assert_problem(response, 422, "VALIDATION_FAILED")
    assert errors_of(body) == [("INVALID_TEXT", pointer)]
    await assert_nothing_written(services, facility, prison)


async def test_lone_surrogate_in_a_key(
    http: httpx.AsyncClient, clients: Clients, services: Runtime, facility: str
) -> None:
    prison = await clients.prison(facility)
    content = json.dumps(make_event(facility))[:-1] + ', "k\\udc00": 1}'
    response = await post_bytes(http, prison, content.encode())
    body = assert_problem(response, 422, "VALIDATION_FAILED")
    # The pointer names the key with the unpaired surrogate replaced (it cannot be sent).
    assert errors_of(body) == [("INVALID_TEXT", "/k?")]
    await assert_nothing_written(services, facility, prison)


@pytest.mark.parametrize(
    ("pointer", "value"),
    [
        ("/occurred_at", "0001-01-01T00:00:00+14:00"),
        ("/occurred_at", "9999-12-31T23:59:59-14:00"),
        ("/occurred_at", "9999-12-31T20:00:00Z"),
        ("/occurred_at", "0001-01-01T00:00:00Z"),
        ("/consent/recorded_at", "0001-01-01T00:00:00+14:00"),
        ("/consent/recorded_at", "9999-12-31T23:59:59-14:00"),
    ],
)
async def test_timestamps_at_the_end_of_the_calendar(
    http: httpx.AsyncClient,
    clients: Clients,
    services: Runtime,
    facility: str,
    pointer: str,
    value: str,
) -> None:
    prison = await clients.prison(facility)
    event = make_event(facility)
    set_pointer(event, pointer, value)
    response = await post_bytes(http, prison, json.dumps(event).encode())
    body = assert_problem(response, 422, "VALIDATION_FAILED")
    assert errors_of(body) == [("INVALID_DATE", pointer)]
    await assert_nothing_written(services, facility, prison)


@pytest.mark.parametrize("end", ["9999-12-31", "2200-01-01"])
async def test_supervision_end_far_in_the_future_is_rejected(
    http: httpx.AsyncClient, clients: Clients, services: Runtime, facility: str, end: str
) -> None:
    """A sentinel like 9999-12-31 would make the handover date (and the triage deadline
    after it) meaningless, or unrepresentable."""
    prison = await clients.prison(facility)
    event = supervised(make_event(facility))
    event["release"]["supervision_end_date"] = end
    response = await post_bytes(http, prison, json.dumps(event).encode())
    body = assert_problem(response, 422, "VALIDATION_FAILED")
    assert errors_of(body) == [("INVALID_DATE", "/release/supervision_end_date")]
    await assert_nothing_written(services, facility, prison)


async def test_far_dates_that_are_accepted_can_be_read_back(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison = await clients.prison(facility)
    event = supervised(make_event(facility))
    event["in_custody_programmes"][0]["completed_on"] = "9999-12-31"
    event["consent"]["recorded_at"] = "1900-01-01T00:00:00Z"
    response = await post_bytes(http, prison, json.dumps(event).encode())
    assert response.status_code == 201, response.text
    rid = response.json()["referral"]["id"]
    detail = await http.get(f"/v1/referrals/{rid}", headers=prison.headers)
    assert detail.status_code == 200, detail.text
    listed = await http.get(f"/v1/referrals/{rid}/history", headers=prison.headers)
    assert listed.status_code == 200, listed.text


# -- size, media type, and what wins -----------------------------------------------------------


def padded(event: dict[str, Any], size: int) -> bytes:
    """The event as JSON, padded with whitespace to exactly `size` bytes."""
    text = json.dumps(event).encode()
    assert len(text) <= size
    return text + b" " * (size - len(text))


async def test_body_of_exactly_one_mib_is_accepted(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison = await clients.prison(facility)
    response = await post_bytes(http, prison, padded(make_event(facility), MIB))
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("size", [MIB + 1, 5 * MIB])
async def test_body_over_one_mib_is_413(
    http: httpx.AsyncClient, clients: Clients, services: Runtime, facility: str, size: int
) -> None:
    prison = await clients.prison(facility)
    response = await post_bytes(http, prison, padded(make_event(facility), size))
    assert_problem(response, 413, "PAYLOAD_TOO_LARGE")
    await assert_nothing_written(services, facility, prison)


async def test_chunked_body_over_one_mib_is_413(
    http: httpx.AsyncClient, clients: Clients, services: Runtime, facility: str
) -> None:
    """No Content-Length: the limit is enforced on what arrives."""
    prison = await clients.prison(facility)
    data = padded(make_event(facility), 5 * MIB)

    async def chunks() -> Any:
        for start in range(0, len(data), 64 * 1024):
            yield data[start : start + 64 * 1024]

    response = await post_bytes(http, prison, chunks())
    assert_problem(response, 413, "PAYLOAD_TOO_LARGE")
    await assert_nothing_written(services, facility, prison)


async def test_lying_content_length_header_is_not_trusted(
    http: httpx.AsyncClient, clients: Clients, services: Runtime, facility: str
) -> None:
    prison = await clients.prison(facility)
    data = padded(make_event(facility), 2 * MIB)

    async def chunks() -> Any:
        yield data

    response = await http.post(
        URL,
        content=chunks(),
        headers={**prison.headers, **JSON_HEADERS, "Content-Length": "100"},
    )
    assert response.status_code in (413, 422), response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    await assert_nothing_written(services, facility, prison)


@pytest.mark.parametrize("authorization", [None, "Bearer rjk_unknown"])
async def test_unauthenticated_wins_over_size(
    http: httpx.AsyncClient, services: Runtime, facility: str, authorization: str | None
) -> None:
    headers = {**JSON_HEADERS}
    if authorization:
        headers["Authorization"] = authorization
    data = padded(make_event(facility), 5 * MIB)
    response = await http.post(URL, content=data, headers=headers)
    assert_problem(response, 401, "UNAUTHENTICATED")
    assert "WWW-Authenticate" in response.headers
    await assert_nothing_written(services, facility)


async def test_role_check_wins_over_size(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    kemensos = await clients.kemensos()
    response = await post_bytes(http, kemensos, padded(make_event(facility), 5 * MIB))
    assert_problem(response, 403, "ROLE_NOT_PERMITTED")


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "text/plain; charset=utf-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
        "application/jsonx",
    ],
)
async def test_non_json_content_type_is_415(
    http: httpx.AsyncClient,
    clients: Clients,
    services: Runtime,
    facility: str,
    content_type: str,
) -> None:
    prison = await clients.prison(facility)
    response = await http.post(
        URL,
        content=json.dumps(make_event(facility)).encode(),
        headers={**prison.headers, "Content-Type": content_type},
    )
    assert_problem(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    await assert_nothing_written(services, facility, prison)


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", "Application/JSON", "application/json"]
)
async def test_json_content_types_are_accepted(
    http: httpx.AsyncClient, clients: Clients, facility: str, content_type: str
) -> None:
    prison = await clients.prison(facility)
    response = await http.post(
        URL,
        content=json.dumps(make_event(facility)).encode(),
        headers={**prison.headers, "Content-Type": content_type},
    )
    assert response.status_code == 201, response.text


async def test_unauthenticated_wins_over_media_type(http: httpx.AsyncClient, facility: str) -> None:
    response = await http.post(URL, content=b"hello", headers={"Content-Type": "text/plain"})
    assert_problem(response, 401, "UNAUTHENTICATED")


async def test_size_wins_over_media_type(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison = await clients.prison(facility)
    response = await http.post(
        URL,
        content=b"x" * (2 * MIB),
        headers={**prison.headers, "Content-Type": "text/plain"},
    )
    assert_problem(response, 413, "PAYLOAD_TOO_LARGE")
