"""Shared assertions for API tests: the problem+json shape, and row counts that prove a
request wrote (or did not write) anything."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import func, select

from app.core.errors import PROBLEM_JSON
from app.intake.models import IntakeRecord
from app.referrals.models import Referral
from app.runtime import Runtime
from tests.conftest import ApiClient


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """An RFC 9457 problem with this status and code, the request id, and no trace."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    assert set(body) >= {"type", "title", "status", "detail", "code", "request_id"}
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"] == "urn:rujukan:problem:" + code.lower().replace("_", "-")
    assert body["request_id"] == response.headers["X-Request-ID"]
    assert "Traceback" not in response.text
    return body


async def referral_count(services: Runtime, facility: str) -> int:
    async with services.db.read_session() as session:
        count = await session.scalar(
            select(func.count()).select_from(Referral).where(Referral.facility_code == facility)
        )
    return int(count or 0)


async def intake_count(services: Runtime, client: ApiClient) -> int:
    async with services.db.read_session() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(IntakeRecord)
            .where(IntakeRecord.client_id == uuid.UUID(client.client_id))
        )
    return int(count or 0)
