"""The edge every `/v1` route goes through (SPEC §1): the caller authenticated and its
role checked before the body is read, the body read strictly, refusals audited.

`ApiRoute` is the route class of every `/v1` router. Before FastAPI reads the body it
authenticates the key (401, 429), checks the roles the route declares with
`require_role` (403) and, for a route that takes a body, reads it (413 where the route
limits its own body, 415, 422 `MALFORMED_JSON`); then FastAPI validates the body as the
endpoint's typed parameter (422) and runs the endpoint. A route class that audits its
refusals names the audit action in `refusal_action` (SPEC §8: intake and transitions are
audited refused or not); the problem handler writes the refusal's row (`audit_refusal`)
after the request's unit of work rolled back, in a transaction of its own.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, ClassVar

from fastapi import Depends, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from app.auth.principal import Principal
from app.auth.roles import Role
from app.auth.service import cached_principal, principal_for_key
from app.core import audit
from app.core.clock import utcnow
from app.core.db import Database
from app.core.errors import MAX_ERRORS, FieldError, ProblemError, validation_failed
from app.core.http import JsonRequest
from app.core.i18n import msg
from app.core.ratelimit import RateLimiter, retry_after_header
from app.core.validation import body_model, prune_unknown

ACTOR_PATTERN = r"^[^\x00-\x1f\x7f]{1,128}$"
_ACTOR_OK = re.compile(ACTOR_PATTERN)
# C0 controls, DEL and C1 controls: no identifier, code or search term holds one, and a NUL
# reaching PostgreSQL is a driver error, not an answer.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
WWW_AUTHENTICATE = 'Bearer realm="rujukan"'


async def authenticate(request: Request) -> Principal:
    """The caller of the request's API key (401 without a usable one, 429 over its rate
    limit or when its address failed too often), with its `X-Actor` (422 when malformed)."""
    state = request.app.state
    failures: RateLimiter = state.auth_failures
    address = request.client.host if request.client is not None else ""
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    key = key.strip()
    usable = scheme.lower() == "bearer" and key.startswith("rjk_") and len(key) <= 200
    ttl: float = state.settings.auth_cache_seconds
    principal = cached_principal(key) if usable and ttl > 0 else None
    if principal is None:
        # SPEC §1: an address that failed too often is refused before its key costs a
        # lookup; a key this process knows (cached) still passes.
        wait = failures.wait(address)
        if wait is not None:
            raise ProblemError(
                "RATE_LIMITED",
                msg("Too many failed authentications from this address."),
                headers={"Retry-After": retry_after_header(wait)},
            )
    if not usable:
        failures.acquire(address)
        raise ProblemError(
            "UNAUTHENTICATED",
            msg("Send `Authorization: Bearer <api key>`."),
            headers={"WWW-Authenticate": WWW_AUTHENTICATE},
        )
    if principal is None:
        db: Database = state.db
        # Before the request's unit of work exists: a short read of its own.
        async with db.read_session() as session:
            principal = await principal_for_key(session, key, utcnow(), cache_seconds=ttl)
    if principal is None:
        failures.acquire(address)
        raise ProblemError(
            "UNAUTHENTICATED",
            msg("The API key is unknown, revoked or expired."),
            headers={"WWW-Authenticate": WWW_AUTHENTICATE + ', error="invalid_token"'},
        )
    limiter: RateLimiter = state.rate_limiter
    wait = limiter.acquire(principal.client_id)
    if wait is not None:
        raise ProblemError("RATE_LIMITED", headers={"Retry-After": retry_after_header(wait)})
    actor = request.headers.get("x-actor")
    if actor is not None:
        if not _ACTOR_OK.match(actor):
            raise validation_failed(
                [
                    FieldError(
                        "INVALID_TEXT",
                        msg("X-Actor: 1-128 characters, no control characters"),
                        parameter="X-Actor",
                    )
                ]
            )
        principal = principal.with_actor(actor)
    return principal


def require_role(*roles: Role) -> Callable[[Request], Coroutine[Any, Any, Principal]]:
    """A dependency for the caller, open to `roles` only: `ApiRoute` checks them before
    the body is read (403 `ROLE_NOT_PERMITTED`)."""

    async def dependency(request: Request) -> Principal:
        return current_principal(request)

    dependency.roles = frozenset(roles)  # type: ignore[attr-defined]
    return dependency


def current_principal(request: Request) -> Principal:
    principal = getattr(request.state, "principal", None)
    if not isinstance(principal, Principal):  # pragma: no cover - ApiRoute sets it first
        raise AssertionError("an authenticated route without ApiRoute")
    return principal


async def _principal(request: Request) -> Principal:
    return current_principal(request)


# Any authenticated caller; what it may do is the service's to decide.
PrincipalDep = Annotated[Principal, Depends(_principal)]


def _declared_roles(dependant: Dependant) -> frozenset[Role] | None:
    """The roles of the `require_role` dependencies a route declares (all must hold)."""
    found: frozenset[Role] | None = None
    for sub in dependant.dependencies:
        roles = getattr(sub.call, "roles", None)
        if roles is not None:
            found = roles if found is None else found & roles
        deeper = _declared_roles(sub)
        if deeper is not None:
            found = deeper if found is None else found & deeper
    return found


class ApiRoute(APIRoute):
    """The route class of every `/v1` router (see the module's docstring)."""

    # Bytes this route reads at most, after authentication (413); None: the app-wide
    # limit of `BodyLimitMiddleware`, checked before anything else.
    body_limit: ClassVar[int | None] = None

    def refusal_action(self, body: Any) -> str | None:
        """The audit action of a refused request (`body` as parsed, None if it was not
        JSON); None: refusals of this route are not audited."""
        return None

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        roles = _declared_roles(self.dependant)
        takes_body = self.body_field is not None
        strict_model = (
            body_model(self.body_field.field_info.annotation, self.body_field.field_info.metadata)
            if self.body_field is not None
            else None
        )

        async def app(request: Request) -> Response:
            request = JsonRequest(request.scope, request.receive, limit=self.body_limit)
            principal = await authenticate(request)
            request.state.principal = principal
            try:
                if roles is not None and principal.role not in roles:
                    raise ProblemError(
                        "ROLE_NOT_PERMITTED",
                        msg("This operation is open to: {roles}.", roles=", ".join(sorted(roles))),
                    )
                _check_parameters(request)
                if takes_body:
                    parsed = await request.json()
                    if strict_model is not None:
                        # Bounded work for a body of many unknown members (SPEC §1).
                        pruned, omitted = prune_unknown(parsed, strict_model)
                        if omitted:
                            request.prune(pruned)
                            request.state.errors_omitted = omitted
                return await handler(request)
            except (ProblemError, RequestValidationError):
                action = self.refusal_action(request.parsed)
                if action is not None:
                    request.state.refusal_action = action
                raise

        return app


def _check_parameters(request: Request) -> None:
    """SPEC §1: a path segment with a control character names nothing (404); a query
    parameter with one is malformed (422, each such parameter named once)."""
    if any(_CONTROL.search(value) for value in request.path_params.values()):
        raise ProblemError("NOT_FOUND", msg("No resource has this identifier."))
    named: list[str] = []
    for name, value in request.query_params.multi_items():
        if (_CONTROL.search(name) or _CONTROL.search(value)) and name not in named:
            named.append(name)
    if named:
        raise validation_failed(
            [
                FieldError(
                    "INVALID_TEXT", msg("control characters are not allowed"), parameter=name
                )
                for name in named[:MAX_ERRORS]
            ]
        )


async def audit_refusal(request: Request, code: str) -> None:
    """The audit row of a refused request whose route audits refusals (`refusal_action`).
    Called by the problem handlers (app/main.py): after the request's unit of work has
    rolled back and released its connection (and, on SQLite, the write lock)."""
    action: str | None = getattr(request.state, "refusal_action", None)
    principal = getattr(request.state, "principal", None)
    if action is None or not isinstance(principal, Principal):
        return
    db: Database = request.app.state.db
    referral_id = _uuid_or_none(request.path_params.get("referral_id"))
    await audit.record_apart(db, [audit.row(principal, action, code, referral_id=referral_id)])


def _uuid_or_none(value: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value is not None else None
    except ValueError:
        return None
