"""Wildcards that are not versions or bindings: `If-Match: *` is no version (428, SPEC §1);
a sentra client is never bound to `*` (SPEC §2), however it is made or stored."""

from __future__ import annotations

import datetime as dt
import uuid

import httpx
import pytest
from sqlalchemy import create_engine, insert, select

from app.auth.principal import Principal
from app.auth.roles import Role
from app.core.errors import ProblemError
from app.referrals.models import OutboxEvent
from app.webhooks.outbox import visible_to
from tests.conftest import Clients
from tests.support.checks import assert_problem
from tests.support.referrals import new_referral


@pytest.mark.parametrize("value", ["*", " * ", ""])
async def test_if_match_star_is_a_missing_precondition(
    http: httpx.AsyncClient, clients: Clients, facility: str, value: str
) -> None:
    prison = await clients.prison(facility)
    kemensos = await clients.kemensos()
    referral_id = await new_referral(http, prison, facility)
    response = await http.post(
        f"/v1/referrals/{referral_id}/transitions",
        json={"action": "accept"},
        headers={**kemensos.headers, "If-Match": value},
    )
    assert_problem(response, 428, "PRECONDITION_REQUIRED")
    detail = await http.get(f"/v1/referrals/{referral_id}", headers=kemensos.headers)
    assert detail.json()["status"] == "received"
    assert detail.headers["ETag"] == '"1"'


async def test_a_sentra_client_bound_to_star_is_refused_by_the_api(
    http: httpx.AsyncClient, clients: Clients
) -> None:
    admin = await clients.make("admin")
    for codes in (["*"], ["S-ONE", "*"]):
        response = await http.post(
            "/v1/clients",
            json={"name": "Sentra semua", "role": "sentra", "sentra_codes": codes},
            headers=admin.headers,
        )
        body = assert_problem(response, 422, "VALIDATION_FAILED")
        assert {e["pointer"] for e in body["errors"]} <= {
            "/sentra_codes",
            "/sentra_codes/0",
            "/sentra_codes/1",
        }


async def test_a_sentra_client_bound_to_star_is_refused_by_the_service(clients: Clients) -> None:
    """The path under the API, the CLI and the demo: no `*` reaches the database."""
    with pytest.raises(ProblemError) as refused:
        await clients.make("sentra", sentra=["*"])
    assert [(e.code, e.pointer) for e in refused.value.errors] == [
        ("INVALID_VALUE", "/sentra_codes")
    ]


def test_a_stored_star_makes_a_sentra_read_nothing() -> None:
    """A client stored with `*` before this rule reads no referral, in Python or in SQL."""
    principal = Principal(uuid.uuid4(), "t", Role.sentra, frozenset(), frozenset({"*"}))
    assert not principal.may_read("LP-A", "S-1")
    assert not principal.may_read("LP-A", None)
    engine = create_engine("sqlite://")
    OutboxEvent.__table__.create(engine)  # type: ignore[attr-defined]
    with engine.begin() as conn:
        conn.execute(
            insert(OutboxEvent),
            [
                {
                    "event_id": uuid.uuid4(),
                    "type": "referral.created",
                    "referral_id": uuid.uuid4(),
                    "facility_code": "LP-A",
                    "sentra_code": sentra,
                    "data": {},
                    "occurred_at": dt.datetime(2026, 12, 1, tzinfo=dt.UTC),
                }
                for sentra in ("S-1", "S-2", None)
            ],
        )
        seen = conn.execute(select(OutboxEvent.sentra_code).where(visible_to(principal))).all()
    assert seen == []
