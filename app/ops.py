"""Operations endpoints outside /v1, without authentication: health, readiness, metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from app.deps import ServicesDep
from app.errors import ProblemError
from app.migrate import head_revision

router = APIRouter(tags=["Operations"])


@router.get("/healthz", summary="The process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Database reachable and schema at head")
async def readyz(services: ServicesDep) -> dict[str, str | None]:
    try:
        async with services.db.read_session() as session:
            current = (
                await session.execute(text("SELECT version_num FROM alembic_version"))
            ).scalar_one_or_none()
    except Exception:
        raise ProblemError("SERVICE_UNAVAILABLE", "The database is unreachable.") from None
    head = head_revision()
    if current != head:
        raise ProblemError("SERVICE_UNAVAILABLE", "The database schema is not at head.")
    return {"status": "ready", "schema": head}


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
