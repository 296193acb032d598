"""A referral with its parties, for the rehabilitation record's API tests."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.core.audit import AuditEvent
from app.referrals.models import OutboxEvent, ReferralHistory
from app.runtime import Runtime
from tests.conftest import ApiClient, Clients
from tests.factories import make_event, supervised
from tests.support.referrals import PATHS, drive, post_event, sentra_code


@dataclass
class Case:
    """A supervised release of `facility`, supervised by `bapas_code`, and its parties:
    the originating prison, Kemensos, the sentra it is assigned to, the Bapas; and others
    bound elsewhere."""

    http: httpx.AsyncClient
    services: Runtime
    clients: Clients
    facility: str
    sentra_code: str
    bapas_code: str
    prison: ApiClient
    kemensos: ApiClient
    sentra: ApiClient
    bapas: ApiClient
    other_prison: ApiClient
    other_sentra: ApiClient
    other_bapas: ApiClient
    auditor: ApiClient

    def by(self, role: str) -> ApiClient:
        return {
            "prison": self.prison,
            "kemensos": self.kemensos,
            "sentra": self.sentra,
            "bapas": self.bapas,
            "other_prison": self.other_prison,
            "other_sentra": self.other_sentra,
            "other_bapas": self.other_bapas,
            "auditor": self.auditor,
        }[role]

    async def referral(self, state: str = "in_service") -> str:
        event = supervised(make_event(self.facility))
        event["release"]["bapas_code"] = self.bapas_code
        referral_id = await post_event(self.http, self.prison, event)
        steps = PATHS[state]
        if state == "closed":
            steps = ["accept", "assign", "start_service"]
        await drive(self.http, self.kemensos, referral_id, steps, self.sentra_code)
        if state == "closed":
            closed = await self.close(referral_id, outcome="unreachable")
            assert closed.status_code == 200, closed.text
        return referral_id

    async def etag(self, referral_id: str) -> str:
        got = await self.http.get(f"/v1/referrals/{referral_id}", headers=self.kemensos.headers)
        assert got.status_code == 200, got.text
        return got.headers["ETag"]

    async def close(
        self, referral_id: str, *, outcome: str = "completed", **fields: Any
    ) -> httpx.Response:
        return await self.http.post(
            f"/v1/referrals/{referral_id}/transitions",
            json={"action": "close", "outcome": outcome, **fields},
            headers={**self.kemensos.headers, "If-Match": await self.etag(referral_id)},
        )

    async def post(
        self, referral_id: str, path: str, body: Any, role: str = "kemensos", **headers: str
    ) -> httpx.Response:
        return await self.http.post(
            f"/v1/referrals/{referral_id}/{path}",
            json=body,
            headers={**self.by(role).headers, **headers},
        )

    async def get(self, referral_id: str, path: str, role: str = "kemensos") -> httpx.Response:
        return await self.http.get(
            f"/v1/referrals/{referral_id}/{path}", headers=self.by(role).headers
        )

    async def put_plan(
        self, referral_id: str, body: Any, if_match: str | None = None, role: str = "kemensos"
    ) -> httpx.Response:
        headers = dict(self.by(role).headers)
        if if_match is not None:
            headers["If-Match"] = if_match
        return await self.http.put(f"/v1/referrals/{referral_id}/plan", json=body, headers=headers)

    async def outbox(self, referral_id: str) -> list[OutboxEvent]:
        async with self.services.db.read_session() as session:
            rows = await session.execute(
                select(OutboxEvent)
                .where(OutboxEvent.referral_id == uuid.UUID(referral_id))
                .order_by(OutboxEvent.id)
            )
            return list(rows.scalars())

    async def history(self, referral_id: str) -> list[ReferralHistory]:
        async with self.services.db.read_session() as session:
            rows = await session.execute(
                select(ReferralHistory)
                .where(ReferralHistory.referral_id == uuid.UUID(referral_id))
                .order_by(ReferralHistory.id)
            )
            return list(rows.scalars())

    async def audit(self, referral_id: str) -> list[tuple[str, str]]:
        async with self.services.db.read_session() as session:
            rows = await session.execute(
                select(AuditEvent.action, AuditEvent.outcome)
                .where(AuditEvent.referral_id == uuid.UUID(referral_id))
                .order_by(AuditEvent.id)
            )
            return [(a, o) for a, o in rows.all()]


@pytest.fixture
async def case(http: httpx.AsyncClient, services: Runtime, clients: Clients, facility: str) -> Case:
    code, other = sentra_code(), sentra_code()
    await clients.add_sentra(code)
    await clients.add_sentra(other)
    bapas = f"BAPAS-{uuid.uuid4().hex[:6].upper()}"
    return Case(
        http=http,
        services=services,
        clients=clients,
        facility=facility,
        sentra_code=code,
        bapas_code=bapas,
        prison=await clients.prison(facility),
        kemensos=await clients.kemensos(),
        sentra=await clients.sentra(code),
        bapas=await clients.bapas(bapas),
        other_prison=await clients.prison(f"LP-{uuid.uuid4().hex[:6].upper()}"),
        other_sentra=await clients.sentra(other),
        other_bapas=await clients.bapas(f"BAPAS-{uuid.uuid4().hex[:6].upper()}"),
        auditor=await clients.make("auditor"),
    )


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=7))).date()


def at(**delta: float) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(**delta)).isoformat()


ASSESSMENT: dict[str, Any] = {
    "assessed_on": "2026-01-01",
    "needs": [
        {"component": "hidup_layak", "level": "high", "note": "Belum punya KTP-el."},
        {"component": "vokasional_kewirausahaan", "level": "medium"},
    ],
    "identity_documents": {"ktp": "missing", "kk": "has", "akta_lahir": "unknown"},
    "summary": "Kooperatif.",
}
PLAN: dict[str, Any] = {
    "goals": [
        {"component": "hidup_layak", "description": "KTP-el terbit", "due_on": "2027-01-31"},
        {"component": "vokasional_kewirausahaan", "description": "Pelatihan montir"},
    ]
}
APPOINTMENT: dict[str, Any] = {
    "location": {"kind": "sentra", "detail": "Ruang layanan 2"},
    "purpose": "Asesmen lanjutan",
}
