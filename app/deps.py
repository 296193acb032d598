"""FastAPI dependencies: services, the authenticated principal, role checks, the clock."""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from pydantic import BaseModel, ValidationError

from app.auth.principal import Principal
from app.auth.roles import Role
from app.auth.service import cached_principal, principal_for_key
from app.context import AppServices
from app.core.clock import Clock
from app.core.errors import FieldError, ProblemError, validation_failed
from app.core.http import MIB, read_json
from app.core.ratelimit import retry_after_header
from app.core.validation import body_errors

_ACTOR_OK = re.compile(r"^[^\x00-\x1f\x7f]{1,128}$")
WWW_AUTHENTICATE = 'Bearer realm="rujukan"'


# Dependencies are `async def` even when they do not await: FastAPI runs a plain `def`
# dependency in the thread pool, a thread hop on every request.
async def get_services(request: Request) -> AppServices:
    services: AppServices = request.app.state.services
    return services


ServicesDep = Annotated[AppServices, Depends(get_services)]


async def get_clock(services: ServicesDep) -> Clock:
    return Clock(now=datetime.now(UTC), tz=services.settings.tz)


ClockDep = Annotated[Clock, Depends(get_clock)]


async def authenticate(request: Request, services: ServicesDep) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key.startswith("rjk_") or len(key) > 200:
        raise ProblemError(
            "UNAUTHENTICATED",
            "Send `Authorization: Bearer <api key>`.",
            headers={"WWW-Authenticate": WWW_AUTHENTICATE},
        )
    ttl = services.settings.auth_cache_seconds
    principal = cached_principal(key) if ttl > 0 else None
    if principal is None:
        async with services.db.read_session() as session:
            principal = await principal_for_key(session, key, datetime.now(UTC), cache_seconds=ttl)
    if principal is None:
        raise ProblemError(
            "UNAUTHENTICATED",
            "The API key is unknown, revoked or expired.",
            headers={"WWW-Authenticate": WWW_AUTHENTICATE + ', error="invalid_token"'},
        )
    wait = services.rate_limiter.acquire(principal.client_id)
    if wait is not None:
        raise ProblemError("RATE_LIMITED", headers={"Retry-After": retry_after_header(wait)})
    actor = request.headers.get("x-actor")
    if actor is not None:
        if not _ACTOR_OK.match(actor):
            raise validation_failed(
                [
                    FieldError(
                        "INVALID_TEXT",
                        "X-Actor: 1-128 characters, no control characters",
                        parameter="X-Actor",
                    )
                ]
            )
        principal = Principal(
            principal.client_id,
            principal.name,
            principal.role,
            principal.facility_codes,
            principal.sentra_codes,
            actor,
        )
    request.state.principal = principal
    return principal


PrincipalDep = Annotated[Principal, Depends(authenticate)]


def require_role(*roles: Role) -> Callable[..., Coroutine[Any, Any, Principal]]:
    async def dependency(principal: PrincipalDep) -> Principal:
        if principal.role not in roles:
            raise ProblemError(
                "ROLE_NOT_PERMITTED",
                f"This operation is open to: {', '.join(r.value for r in roles)}.",
            )
        return principal

    return dependency


M = TypeVar("M", bound=BaseModel)


def body_of(model: type[M]) -> Callable[[Request], Coroutine[Any, Any, M]]:
    """A dependency that reads the JSON body and validates it as `model`.

    For routes that declare no FastAPI body parameter: FastAPI parses a body parameter
    before any dependency runs, so a body that is not JSON would be answered (422) before
    the key is even looked at (401 first, SPEC §1). Declared after the principal, this
    runs after authentication and the route's role check. The body is read like a release
    event's (app/http.py: 1 MiB, 415 for a non-JSON media type, 422 `MALFORMED_JSON` for
    anything that is not one JSON document) and validated in Python mode as FastAPI would
    (strict bodies: unknown fields rejected), with the same `errors[]` codes and pointers.
    Document the body with `responses.model_body(model, ...)` as `openapi_extra`.
    """

    async def dependency(request: Request) -> M:
        raw = await read_json(request, MIB)
        request.state.json_body = raw
        try:
            return model.model_validate(raw)
        except ValidationError as exc:
            raise validation_failed(body_errors(exc.errors())) from None

    return dependency


def parsed_body(request: Request) -> Any:
    """The JSON a `body_of` dependency parsed for this request (None if none was)."""
    return getattr(request.state, "json_body", None)
