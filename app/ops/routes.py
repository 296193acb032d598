"""Operations endpoints outside /v1, without authentication: health, readiness, metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from app.core.dbfaults import RETRY_AFTER_SECONDS
from app.core.deps import DatabaseDep
from app.core.errors import PROBLEM_JSON, ProblemError
from app.core.i18n import msg
from app.core.metrics import observe_pool
from app.core.migrate import head_revision

router = APIRouter(tags=["Operations"])

_UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {
        "description": "SERVICE_UNAVAILABLE: the database is unreachable or behind",
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
}


@router.get(
    "/healthz",
    summary="The process is up",
    description="Liveness: answers 200 as long as the process serves HTTP. It does not touch "
    "the database, so a database outage never makes an orchestrator restart every replica.",
)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Database reachable and schema at head",
    description="Readiness: 200 `{status, schema}` when the database answers and its Alembic "
    "revision is this release's head; else 503 `SERVICE_UNAVAILABLE` (route no traffic here "
    "yet: run `rujukan db upgrade`, or wait for the database).",
    responses=_UNAVAILABLE,
)
async def readyz(db: DatabaseDep) -> dict[str, str | None]:
    head = head_revision()
    try:
        async with db.read_session() as session:
            await session.execute(text("SELECT 1"))
    except Exception:
        raise ProblemError(
            "SERVICE_UNAVAILABLE",
            msg("The database is unreachable."),
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        ) from None
    try:
        async with db.read_session() as session:
            current = (
                await session.execute(text("SELECT version_num FROM alembic_version"))
            ).scalar_one_or_none()
    except Exception:  # no alembic_version table: never migrated
        current = None
    if current != head:
        raise ProblemError(
            "SERVICE_UNAVAILABLE",
            msg(
                "The database schema is at {current}, not at head {head}: run `rujukan db "
                "upgrade`.",
                current=current or "-",
                head=head,
            ),
        )
    return {"status": "ready", "schema": head}


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    description="Prometheus text format: `rujukan_http_requests_total` and "
    "`rujukan_http_request_duration_seconds` by method, route template and status; "
    "`rujukan_intake_events_total` by outcome; the connection pool of this process "
    "(`rujukan_db_pool_size`, `_checked_out`, `_checked_in`, `_overflow`, sampled at each "
    "scrape); and the Python process collectors. Each process keeps its own counters: scrape "
    "every replica.",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text"}},
)
async def metrics(db: DatabaseDep) -> Response:
    observe_pool(db.engine.pool)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
