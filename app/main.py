"""create_app(): routers, middleware, problem handlers, lifespan."""

from __future__ import annotations

import contextlib
import functools
import gc
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from app import __version__
from app.aftercare.routes import router as aftercare_router
from app.audit.routes import router as audit_router
from app.audit.routes import seals_router as audit_seals_router
from app.audit.seals import public_key_text
from app.auth.deps import audit_refusal
from app.clients.routes import router as clients_router
from app.core.config import Settings, get_settings
from app.core.errors import FieldError, ProblemError, validation_failed
from app.core.http import problem_response
from app.core.i18n import msg
from app.core.logging import configure_logging
from app.core.middleware import BodyLimitMiddleware, RequestContextMiddleware
from app.core.validation import request_errors
from app.intake.routes import router as intake_router
from app.intake.service import Intake
from app.openapi import build_openapi
from app.ops.guides import router as guides_router
from app.ops.routes import router as ops_router
from app.reference.regions import load_regions
from app.reference.routes import router as reference_router
from app.reference.sentra_routes import router as sentra_router
from app.referrals.routes import router as referrals_router
from app.rehab.routes import router as rehab_router
from app.rights.routes import rectifications as rectifications_router
from app.rights.routes import subjects as subjects_router
from app.rights.routes import withdrawals as withdrawals_router
from app.runtime import Runtime, audit_key_of, build_runtime, sealer_of
from app.webhooks.routes import deliveries as webhook_deliveries_router
from app.webhooks.routes import feed as feed_router
from app.webhooks.routes import subscriptions as webhook_subscriptions_router
from app.webhooks.worker import in_process as relay_in_process

# How long shutdown waits for intake groups still being written (app/intake/groups.py).
SHUTDOWN_GROUPS_SECONDS = 20.0


def _problem_response(
    request: Request, problem: ProblemError | None = None, **kwargs: Any
) -> JSONResponse:
    if problem is None:
        problem = ProblemError(**kwargs)
    return problem_response(problem, getattr(request.state, "request_id", None))


async def _on_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ProblemError)
    if 400 <= exc.status < 500:
        await audit_refusal(request, exc.code)
    return _problem_response(request, exc)


async def _on_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    await audit_refusal(request, "VALIDATION_FAILED")
    errors = request_errors(exc.errors())
    omitted: int = getattr(request.state, "errors_omitted", 0)
    return _problem_response(request, validation_failed(errors, omitted=omitted))


def _allowed_methods(request: Request) -> str:
    """Every method the path answers to (Starlette's 405 names only the first matching
    route's): the documented operations of each path template the path matches, matched
    by Starlette's own path compiler."""
    methods: set[str] = set()
    paths: dict[str, dict[str, Any]] = request.app.openapi().get("paths", {})
    for template, operations in paths.items():
        regex, _, _ = compile_path(template)
        if regex.match(request.url.path):
            methods |= {method.upper() for method in operations}
    return ", ".join(sorted(methods))


async def _on_http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers or {})
    if exc.status_code == 404:
        return _problem_response(request, code="NOT_FOUND", detail=msg("No such route."))
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
            errors=[FieldError("MALFORMED_JSON", msg("the body could not be parsed"), pointer="")],
        )
    if exc.status_code == 413:
        return _problem_response(request, code="PAYLOAD_TOO_LARGE")
    return _problem_response(request, code="INTERNAL_ERROR", status=exc.status_code)


def create_app(settings: Settings | None = None, *, runtime: Runtime | None = None) -> FastAPI:
    settings = settings or get_settings()
    runtime = runtime or build_runtime(settings)

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
            # The worker (webhook relay, audit seals), if settings say so (the embedded
            # default).
            async with relay_in_process(
                runtime.db, runtime.cipher, settings, sealer=sealer_of(runtime)
            ):
                yield
        finally:
            await runtime.intake_groups.wait_idle(grace_seconds=SHUTDOWN_GROUPS_SECONDS)
            await runtime.db.dispose()

    app = FastAPIOffline(
        title="Rujukan",
        version=__version__,
        lifespan=lifespan,
        openapi_url="/openapi.json",
        # A body without Content-Type is read as JSON (app/core/http.py: 415 for others).
        strict_content_type=False,
        # Operation ids are the route functions' names (`post_event`, `get_referral`).
        generate_unique_id_function=lambda route: route.name,
        # SPEC §1: no redirects. Starlette's slash redirect builds its `Location` from the
        # caller's `Host` header (an open redirect, before authentication).
        redirect_slashes=False,
    )
    state = app.state
    state.settings = settings
    state.db = runtime.db
    state.cipher = runtime.cipher
    state.cursors = runtime.cursors
    # Resolved at the first read of the seals: `serve` checks the key at start (preflight);
    # an app built without one (tests of other things) still serves everything else.
    state.audit_public_key = functools.cache(
        lambda: public_key_text(audit_key_of(runtime).public_key())
    )
    state.rate_limiter = runtime.rate_limiter
    state.auth_failures = runtime.auth_failures
    state.sentra_coverage = runtime.sentra_coverage
    state.intake = Intake(runtime.db, runtime.cipher, runtime.intake_groups)
    # The last added runs first: the request context wraps the body limit, so a 413 carries
    # the request id and the security headers.
    app.add_middleware(BodyLimitMiddleware)
    app.add_middleware(RequestContextMiddleware)
    app.add_exception_handler(ProblemError, _on_problem)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    for router in (
        intake_router,
        aftercare_router,  # before /v1/referrals/{referral_id}: /v1/referrals/durations
        referrals_router,
        rehab_router,
        reference_router,
        sentra_router,
        clients_router,
        audit_router,
        audit_seals_router,
        subjects_router,
        rectifications_router,
        withdrawals_router,
        webhook_subscriptions_router,
        webhook_deliveries_router,
        feed_router,
        ops_router,
        guides_router,
    ):
        app.include_router(router)
    app.openapi = lambda: build_openapi(app)  # type: ignore[method-assign]
    return app


def app_factory() -> FastAPI:
    """For `uvicorn --factory app.main:app_factory`."""
    settings = get_settings()
    configure_logging(settings.log_level)
    return create_app(settings)
