"""`X-Request-ID` (SPEC §1): echoed when the client sent a usable one, on every response.

Usable: 1-128 printable ASCII characters (0x20-0x7E) once leading and trailing spaces are
stripped. Anything else is replaced by a generated id (32 hex digits).
"""

from __future__ import annotations

import re

import httpx
import pytest

from tests.conftest import Clients
from tests.support.checks import assert_problem

GENERATED = re.compile(r"^[0-9a-f]{32}$")
PRINTABLE = "".join(chr(c) for c in range(0x20, 0x7F))


@pytest.mark.parametrize(
    ("sent", "echoed"),
    [
        ("abc def", "abc def"),
        ("x" * 128, "x" * 128),
        ("  padded id  ", "padded id"),
        ('{"json": "ish"}, <tag> & 100%', '{"json": "ish"}, <tag> & 100%'),
        (PRINTABLE[:128], PRINTABLE[:128].strip(" ")),
        ("sdp-2026/11/20:000123", "sdp-2026/11/20:000123"),
    ],
)
async def test_printable_ascii_ids_are_echoed(
    http: httpx.AsyncClient, clients: Clients, sent: str, echoed: str
) -> None:
    kemensos = await clients.kemensos()
    ok = await http.get(
        "/v1/reference/provinces", headers={**kemensos.headers, "X-Request-ID": sent}
    )
    assert ok.status_code == 200
    assert ok.headers["X-Request-ID"] == echoed
    problem = await http.get("/v1/nope", headers={"X-Request-ID": sent})
    assert assert_problem(problem, 404, "NOT_FOUND")["request_id"] == echoed


@pytest.mark.parametrize(
    "sent",
    [
        b"x" * 129,
        b"  " + b"y" * 129,
        b"",
        b"   ",
        b"tab\there",
        b"nul\x00",
        b"del\x7f",
        b"bell\x07",
        "caf\u00e9".encode(),
        "caf\u00e9".encode("latin-1"),
        "\u65e5\u672c".encode(),
    ],
)
async def test_other_ids_are_replaced(http: httpx.AsyncClient, sent: bytes) -> None:
    response = await http.get("/v1/nope", headers=[(b"X-Request-ID", sent)])
    replaced = response.headers["X-Request-ID"]
    assert GENERATED.match(replaced), replaced
    assert assert_problem(response, 404, "NOT_FOUND")["request_id"] == replaced


async def test_echoed_id_with_spaces_reaches_the_audit_log(
    http: httpx.AsyncClient, clients: Clients
) -> None:
    admin = await clients.make("admin")
    created = await http.post(
        "/v1/clients",
        json={"name": "req id", "role": "kemensos"},
        headers={**admin.headers, "X-Request-ID": "ticket 42 / run #7"},
    )
    assert created.status_code == 201, created.text
    page = await http.get(
        "/v1/audit-events", params={"client_id": admin.client_id}, headers=admin.headers
    )
    assert [i["request_id"] for i in page.json()["items"]] == ["ticket 42 / run #7"]
