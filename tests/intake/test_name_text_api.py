"""Names read as what they are (SPEC §3, `INVALID_TEXT`): a person's, a guardian's or a
facility's name holds no bidi control or other format character and is not blank."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.runtime import Runtime
from tests.conftest import Clients
from tests.factories import make_event
from tests.support.checks import assert_problem, referral_count

HOSTILE_NAMES = [
    "Budi \u202eosotnaS",  # right-to-left override: displays as "Budi Santoso"
    "Budi\u2066 Santoso\u2069",  # isolates
    "Budi\u200bSantoso",  # zero-width space
    "Budi\u200d Santoso",  # zero-width joiner
    "\u2060Budi",  # word joiner
    "\ufeffBudi",  # byte order mark
    "\u200b",  # nothing visible
    "   ",  # blank
    "\u3000\u00a0",  # blank, other spaces
]


def _guarded(event: dict[str, Any]) -> dict[str, Any]:
    event["person"]["guardian"] = {"full_name": "Siti Aminah", "relationship": "ibu"}
    return event


@pytest.mark.parametrize("name", HOSTILE_NAMES)
@pytest.mark.parametrize(
    "pointer", ["/person/full_name", "/person/guardian/full_name", "/facility/name"]
)
async def test_a_name_with_format_characters_or_blank_is_invalid_text(
    http: httpx.AsyncClient,
    clients: Clients,
    services: Runtime,
    facility: str,
    name: str,
    pointer: str,
) -> None:
    prison = await clients.prison(facility)
    event = _guarded(make_event(facility))
    *parents, last = pointer.strip("/").split("/")
    node = event
    for part in parents:
        node = node[part]
    node[last] = name
    response = await http.post("/v1/release-events", json=event, headers=prison.headers)
    body = assert_problem(response, 422, "VALIDATION_FAILED")
    assert [(e["code"], e["pointer"]) for e in body["errors"]] == [("INVALID_TEXT", pointer)]
    assert await referral_count(services, facility) == 0


async def test_names_in_other_scripts_and_with_marks_are_accepted(
    http: httpx.AsyncClient, clients: Clients, facility: str
) -> None:
    prison = await clients.prison(facility)
    for name in ("Nyoman Ṡuarsa", "I Gusti Ngurah Rai", "O'Neil bin Abdul-Rahman", "ꦧꦸꦝꦶ"):
        response = await http.post(
            "/v1/release-events",
            json=make_event(facility, person__full_name=name),
            headers=prison.headers,
        )
        assert response.status_code == 201, response.text
