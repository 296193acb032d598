"""The bare-stack baseline of the intake benchmark: Starlette + asyncpg, no framework on top.

    RUJUKAN_BASELINE_DSN=postgresql://... RUJUKAN_BASELINE_CLIENT_ID=<uuid> \\
        .venv/bin/python -m uvicorn bench.baseline:app --port 8001

It does the durable writes of one release event the way the service does, in one
transaction on the same migrated schema: the idempotency row (unique (client, event_id),
ON CONFLICT DO NOTHING, replay when it exists), the referral upsert on (facility_code,
case_ref), a history row, an outbox row, an audit row, then the stored answer. No
authentication, validation, rules or encryption: what is left is the floor the service's
own work sits on. `bench/intake.py` starts it; nothing else uses it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

CLAIM = """
INSERT INTO intake_records
    (client_id, event_id, body_sha256, event_type, occurred_at, status_code, response, created_at)
VALUES ($1, $2, $3, $4, $5, 0, '{}', $6)
ON CONFLICT (client_id, event_id) DO NOTHING RETURNING id
"""
STORED = "SELECT status_code, response FROM intake_records WHERE client_id = $1 AND event_id = $2"
UPSERT = """
INSERT INTO referrals AS r
    (id, facility_code, case_ref, origin_client_id, status, custody_status, version,
     full_name, name_search, birth_date, sex, province_code, regency_code, district_code,
     release_type, release_date, handover_date, case_data, sensitive_data,
     data_quality_flags, last_event_at, created_at, updated_at)
VALUES ($1, $2, $3, $4, 'received', $5, 1, $6::varchar, lower($6::varchar), $7, $8, $9, $10, $11,
        $12, $13, $13, $14, $15, '[]', $16, $17, $17)
ON CONFLICT (facility_code, case_ref) DO UPDATE SET
    case_data = EXCLUDED.case_data, sensitive_data = EXCLUDED.sensitive_data,
    custody_status = EXCLUDED.custody_status, version = r.version + 1,
    last_event_at = EXCLUDED.last_event_at, updated_at = EXCLUDED.updated_at
RETURNING id, status, custody_status, version, (xmax = 0) AS created
"""
HISTORY = """
INSERT INTO referral_history
    (referral_id, at, event_type, event_id, event_outcome, to_status, custody_status,
     client_id, changed_fields)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, '[]')
"""
OUTBOX = """
INSERT INTO outbox_events (event_id, type, referral_id, facility_code, data, occurred_at)
VALUES ($1, $2, $3, $4, $5, $6)
"""
AUDIT = """
INSERT INTO audit_events (at, client_id, action, referral_id, outcome)
VALUES ($1, $2, 'release_event.receive', $3, $4)
"""
ANSWER = """
UPDATE intake_records SET status_code = $2, response = $3, outcome = $4, referral_id = $5
WHERE id = $1
"""


class Baseline:
    def __init__(self, dsn: str, client_id: uuid.UUID) -> None:
        self.dsn = dsn
        self.client_id = client_id
        self.pool: asyncpg.Pool | None = None

    async def start(self) -> None:
        self.pool = await asyncpg.create_pool(self.dsn, min_size=2, max_size=10)

    async def stop(self) -> None:
        if self.pool is not None:
            await self.pool.close()

    async def receive(self, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        assert self.pool is not None
        digest = hashlib.sha256(
            json.dumps(event, sort_keys=True, separators=(",", ":")).encode()
        ).hexdigest()
        now = dt.datetime.now(dt.UTC)
        occurred = dt.datetime.fromisoformat(event["occurred_at"])
        person = event["person"]
        domicile = person["domicile"]
        release = event["release"]
        async with self.pool.acquire() as conn, conn.transaction():
            claimed = await conn.fetchval(
                CLAIM,
                self.client_id,
                event["event_id"],
                digest,
                event["event_type"],
                occurred,
                now,
            )
            if claimed is None:
                stored = await conn.fetchrow(STORED, self.client_id, event["event_id"])
                return int(stored["status_code"]), json.loads(stored["response"])
            custody = "released" if event["event_type"] == "release.completed" else "in_custody"
            row = await conn.fetchrow(
                UPSERT,
                uuid.uuid4(),
                event["facility"]["code"],
                event["case_ref"],
                self.client_id,
                custody,
                person["full_name"],
                dt.date.fromisoformat(person["birth_date"]),
                person["sex"],
                domicile["province_code"],
                domicile.get("regency_code"),
                domicile.get("district_code"),
                release["type"],
                dt.date.fromisoformat(release["date"]),
                json.dumps(event),
                json.dumps(person),
                occurred,
                now,
            )
            outcome = "created" if row["created"] else "updated"
            referral_id = row["id"]
            await conn.execute(
                HISTORY,
                referral_id,
                now,
                event["event_type"],
                event["event_id"],
                outcome,
                row["status"],
                row["custody_status"],
                self.client_id,
            )
            data = {"referral_id": str(referral_id), "status": row["status"]}
            await conn.execute(
                OUTBOX,
                uuid.uuid4(),
                f"referral.{outcome}",
                referral_id,
                event["facility"]["code"],
                json.dumps(data),
                now,
            )
            await conn.execute(AUDIT, now, self.client_id, referral_id, outcome)
            body = {
                "event_id": event["event_id"],
                "outcome": outcome,
                "referral": {
                    "id": str(referral_id),
                    "status": row["status"],
                    "custody_status": row["custody_status"],
                    "version": row["version"],
                },
                "warnings": [],
            }
            status = 201 if row["created"] else 200
            await conn.execute(ANSWER, claimed, status, json.dumps(body), outcome, referral_id)
        return status, body


def create_app(baseline: Baseline) -> Starlette:
    async def one(request: Request) -> JSONResponse:
        status, body = await baseline.receive(json.loads(await request.body()))
        return JSONResponse(body, status_code=status)

    async def batch(request: Request) -> JSONResponse:
        results = []
        for index, event in enumerate(json.loads(await request.body())["events"]):
            status, body = await baseline.receive(event)  # one transaction per item
            results.append({"index": index, "status": status, "outcome": body["outcome"]})
        return JSONResponse({"results": results}, status_code=207)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await baseline.start()
        yield
        await baseline.stop()

    return Starlette(
        routes=[
            Route("/events", one, methods=["POST"]),
            Route("/events/batch", batch, methods=["POST"]),
        ],
        lifespan=lifespan,
    )


def app_factory() -> Starlette:
    return create_app(
        Baseline(
            os.environ["RUJUKAN_BASELINE_DSN"],
            uuid.UUID(os.environ["RUJUKAN_BASELINE_CLIENT_ID"]),
        )
    )
