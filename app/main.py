"""create_app(): routers, middleware, problem handlers, lifespan, the OpenAPI document."""

from __future__ import annotations

import contextlib
import gc
import re
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException

from app import __version__
from app.audit.routes import router as audit_router
from app.clients.routes import router as clients_router
from app.context import AppServices
from app.core.config import Settings, get_settings
from app.core.crypto import DataCipher
from app.core.db import Database
from app.core.errors import CATALOGUE, PROBLEM_JSON, FieldError, ProblemError, problem_body
from app.core.logging import configure_logging
from app.core.middleware import BodyLimitMiddleware, RequestContextMiddleware
from app.core.openapi import Problem
from app.core.ratelimit import RateLimiter
from app.core.validation import request_errors
from app.intake.groups import GroupCommit
from app.intake.routes import router as intake_router
from app.intake.schemas import ReleaseEvent
from app.openapi import CONVENTIONS, TAGS
from app.openapi import enrich as enrich_openapi
from app.ops.routes import router as ops_router
from app.reference.regions import load_regions
from app.reference.routes import router as reference_router
from app.reference.sentra_routes import router as sentra_router
from app.referrals.routes import router as referrals_router
from app.webhooks.relay import in_process as relay_in_process
from app.webhooks.routes import deliveries as webhook_deliveries_router
from app.webhooks.routes import feed as feed_router
from app.webhooks.routes import subscriptions as webhook_subscriptions_router

DESCRIPTION = """\
Rujukan is the interagency referral service between the prisons of the Directorate General
of Corrections (Imipas) and the Ministry of Social Affairs (Kemensos). Prison systems post
**release events**; Rujukan validates each handover against the 12 PAS target categories and
keeps one **referral** per custody episode, which Kemensos moves through its lifecycle.

**Authentication**: `Authorization: Bearer rjk_…` on every `/v1` call. Optional `X-Actor`
(≤128 chars) names the person behind a portal call. Every response carries `X-Request-ID`.

**Errors** are RFC 9457 `application/problem+json` with a stable `code`; field errors carry
a JSON `pointer` into the body (or `parameter` for a query parameter).

**Retries**: release events are idempotent by `event_id`. On a timeout, a connection error,
a 5xx or a 429, resend the *same body* under the *same* `event_id` with exponential backoff
(honour `Retry-After`); never change the body under an id that may have been answered.

**Concurrent edits**: a referral's `ETag` is its version; lifecycle transitions need
`If-Match` (428 without it, 412 when the referral changed since it was read).

Guides for prison systems, the portal and operators are in the repository's `docs/`.
"""


# How long shutdown waits for intake groups still being written (app/intake/groups.py).
SHUTDOWN_GROUPS_SECONDS = 20.0


def _problem_response(
    request: Request, problem: ProblemError | None = None, **kwargs: Any
) -> JSONResponse:
    request_id = getattr(request.state, "request_id", None)
    if problem is None:
        problem = ProblemError(**kwargs)
    return JSONResponse(
        problem.body(request_id),
        status_code=problem.status,
        headers=problem.headers or None,
        media_type=PROBLEM_JSON,
    )


async def _on_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ProblemError)
    return _problem_response(request, exc)


async def _on_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # Only parameters (query, path, header) reach here: no route declares a FastAPI body
    # parameter; bodies are read by `app.http.read_json` (MALFORMED_JSON is its answer).
    errors = request_errors(exc.errors())
    return _problem_response(
        request,
        code="VALIDATION_FAILED",
        detail=f"{len(errors)} validation error(s); see errors[].",
        errors=errors,
    )


def _allowed_methods(request: Request) -> str:
    """Every method the path answers to: Starlette names only the first matching route's."""
    path = request.url.path
    paths: dict[str, dict[str, Any]] = request.app.openapi().get("paths", {})
    for template, operations in sorted(paths.items(), key=lambda item: item[0].count("{")):
        pieces = re.split(r"\{[^}/]+\}", template)
        if re.fullmatch("[^/]+".join(re.escape(piece) for piece in pieces), path):
            return ", ".join(sorted(method.upper() for method in operations))
    return ""


async def _on_http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers or {})
    if exc.status_code == 404:
        return _problem_response(request, code="NOT_FOUND", detail="No such route.")
    if exc.status_code == 405:
        return _problem_response(
            request,
            code="METHOD_NOT_ALLOWED",
            headers={"Allow": _allowed_methods(request) or headers.get("Allow", "")},
        )
    if exc.status_code == 400:  # FastAPI: a body it could not parse
        return _problem_response(
            request,
            code="MALFORMED_JSON",
            errors=[FieldError("MALFORMED_JSON", "the body could not be parsed", pointer="")],
        )
    if exc.status_code == 413:
        return _problem_response(request, code="PAYLOAD_TOO_LARGE")
    return _problem_response(request, code="INTERNAL_ERROR", status=exc.status_code)


def _catalogue_markdown() -> str:
    lines = [
        "## Error catalogue",
        "",
        "| code | status | meaning |",
        "|---|---|---|",
    ]
    for code, entry in CATALOGUE.items():
        status = str(entry.status) if entry.status else "in `errors[]`/`warnings[]`"
        lines.append(f"| `{code}` | {status} | {entry.meaning} |")
    return "\n".join(lines)


def build_openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title="Rujukan",
        version=__version__,
        description=DESCRIPTION + "\n" + CONVENTIONS + "\n" + _catalogue_markdown(),
        routes=app.routes,
        tags=TAGS,  # app/openapi_docs.py: one text per router tag
    )
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for model in (ReleaseEvent, Problem):
        definition = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, sub in definition.pop("$defs", {}).items():
            schemas.setdefault(name, sub)
        schemas[model.__name__] = definition
    schemas["ReleaseEventBatch"] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["events"],
        "properties": {
            "events": {
                "type": "array",
                "minItems": 1,
                "maxItems": 500,
                # Any value: each item is validated as a `ReleaseEvent` on its own and a bad
                # one fails only its own result (`status` 422), never the whole batch.
                "items": {
                    "description": "A `ReleaseEvent` (see that schema); validated on its "
                    "own, so an invalid item is answered in its own result."
                },
            }
        },
    }
    components["securitySchemes"] = {
        "apiKey": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "rjk_…",
            "description": "Client API key, shown once at creation.",
        }
    }
    for path, operations in schema.get("paths", {}).items():
        if path.startswith("/v1/"):
            for operation in operations.values():
                operation["security"] = [{"apiKey": []}]
    enrich_openapi(schema)
    app.openapi_schema = schema
    return schema


def build_services(settings: Settings) -> AppServices:
    return AppServices(
        settings=settings,
        db=Database(settings),
        cipher=DataCipher(settings.resolve_data_key(), settings.resolve_previous_keys()),
        rate_limiter=RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst),
        intake_groups=GroupCommit(
            max_events=settings.intake_group_max_events,
            max_in_flight=settings.intake_group_in_flight,
        ),
    )


def create_app(settings: Settings | None = None, *, services: AppServices | None = None) -> FastAPI:
    settings = settings or get_settings()
    services = services or build_services(settings)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # On SIGTERM uvicorn stops accepting, lets in-flight requests finish (up to
        # `timeout_graceful_shutdown`, app/cli.py), then exits this block: the pool goes last.
        # What start-up built (routes, schemas, the OpenAPI document, region tables, the
        # ORM's metadata) lives as long as the process: out of the cyclic collector's
        # sight, so that a full collection scans only what requests made. Before, each
        # full collection paused every request in flight for ~100 ms (bench/intake.py).
        load_regions()
        app.openapi()
        gc.freeze()
        try:
            async with relay_in_process(services):  # the webhook relay, if settings say so
                yield
        finally:
            await services.intake_groups.wait_idle(grace_seconds=SHUTDOWN_GROUPS_SECONDS)
            await services.db.dispose()

    app = FastAPIOffline(
        title="Rujukan",
        version=__version__,
        lifespan=lifespan,
        openapi_url="/openapi.json",
    )
    app.state.services = services
    # The last added runs first: the request context wraps the body limit, so a 413 carries
    # the request id and the security headers.
    app.add_middleware(BodyLimitMiddleware)
    app.add_middleware(RequestContextMiddleware)
    app.add_exception_handler(ProblemError, _on_problem)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    app.include_router(intake_router)
    app.include_router(referrals_router)
    app.include_router(reference_router)
    app.include_router(sentra_router)
    app.include_router(clients_router)
    app.include_router(audit_router)
    app.include_router(webhook_subscriptions_router)
    app.include_router(webhook_deliveries_router)
    app.include_router(feed_router)
    app.include_router(ops_router)
    app.openapi = lambda: build_openapi(app)  # type: ignore[method-assign]
    return app


def app_factory() -> FastAPI:
    """For `uvicorn --factory app.main:app_factory`."""
    settings = get_settings()
    configure_logging(settings.log_level)
    return create_app(settings)


__all__ = ["create_app", "problem_body"]
