"""The outermost layer of every request: request id, security headers, access log, metrics,
and the last line of defence that turns any unexpected exception into a 500 problem (a 503
with `Retry-After` when the database is unreachable: app/dbfaults.py). Inside it, the body
size limit of every route that does not enforce its own (`BodyLimitMiddleware`)."""

from __future__ import annotations

import json
import logging
import time
import uuid

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.context import request_id_var
from app.core.dbfaults import RETRY_AFTER_SECONDS, is_database_unavailable, is_schema_missing
from app.core.errors import PROBLEM_JSON, problem_body
from app.core.http import MIB
from app.core.i18n import Msg, language_var, msg, negotiate
from app.core.metrics import LATENCY, REQUESTS

log = logging.getLogger("rujukan.http")
BODY_LIMIT = MIB
# These read their body themselves (app/intake/routes.py `IntakeRoute`), after authentication: the
# intake check order is 401 before 413 (SPEC §3), and the batch allows 10 MiB.
SELF_LIMITED_PATHS = frozenset({"/v1/release-events", "/v1/release-events/batch"})
REQUEST_ID_MAX = 128

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Strict-Transport-Security": "max-age=31536000",
}
_DB_UNAVAILABLE = msg(
    "The database is unreachable. Retry the same request after Retry-After; a release event "
    "may already have been applied, and its retry replays the answer."
)
_SCHEMA_MISSING = msg(
    "The database is not migrated to this release's schema: the operator runs `rujukan db "
    "upgrade` (see /readyz). Retry the same request later."
)
_API_CSP = "default-src 'none'; frame-ancestors 'none'"
_DOCS_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self' 'unsafe-inline'; worker-src 'self' blob:; frame-ancestors 'none'"
)


def _encoded(headers: dict[str, str]) -> tuple[tuple[bytes, bytes], ...]:
    return tuple((name.lower().encode(), value.encode()) for name, value in headers.items())


# Added to every response that does not set them itself (encoded once, not per response).
_API_HEADERS = _encoded({**SECURITY_HEADERS, "Content-Security-Policy": _API_CSP})
_DOCS_HEADERS = _encoded({**SECURITY_HEADERS, "Content-Security-Policy": _DOCS_CSP})


_PROBLEM_TYPE = PROBLEM_JSON.encode()


def _language_headers(lang: str, headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """A problem's texts are in the negotiated language (SPEC §9): say which, and that a
    cache must key it by `Accept-Language`. A batch's 207 sets these itself."""
    if any(name == b"content-language" for name, _ in headers):
        return []
    vary = [value for name, value in headers if name == b"vary"]
    out = [(b"content-language", lang.encode())]
    if not any(b"accept-language" in value.lower() for value in vary):
        out.append((b"vary", b"Accept-Language"))
    return out


# Ours: asgi-correlation-id is one more layer and contextvar, and logs a warning per bad id.
def request_id_from(given: bytes | None) -> str:
    """The client's `X-Request-ID` when usable, else a fresh one.

    Usable: after stripping leading and trailing spaces, 1-128 printable ASCII characters
    (0x20-0x7E). Anything else (empty, longer, control characters, non-ASCII) is replaced:
    the id goes into a response header and into JSON logs.
    """
    if given is not None:
        text = given.strip(b" ")
        if 0 < len(text) <= REQUEST_ID_MAX and all(0x20 <= b <= 0x7E for b in text):
            return text.decode("ascii")
    return uuid.uuid4().hex


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = dict(scope.get("headers") or [])
        request_id = request_id_from(sent.get(b"x-request-id"))
        token = request_id_var.set(request_id)
        # The language of problem texts (SPEC §9); read by `problem_body` when it renders.
        lang = negotiate(sent.get(b"accept-language", b"").decode("latin-1"))
        lang_token = language_var.set(lang)
        scope.setdefault("state", {})["request_id"] = request_id
        path: str = scope.get("path", "")
        docs = path in ("/docs", "/redoc") or path.startswith(("/static-offline-docs", "/guides"))
        status = 500
        started = False
        began = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                raw: list[tuple[bytes, bytes]] = [
                    (name, value)
                    for name, value in message.get("headers", ())
                    if name.lower() != b"x-request-id"
                ]
                present = {name.lower() for name, _ in raw}
                raw.append((b"x-request-id", request_id.encode()))
                defaults = _DOCS_HEADERS if docs else _API_HEADERS
                raw.extend(pair for pair in defaults if pair[0] not in present)
                if (b"content-type", _PROBLEM_TYPE) in raw:
                    raw.extend(_language_headers(lang, raw))
                message["headers"] = raw
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception as exc:
            code, status, headers = "INTERNAL_ERROR", 500, []
            detail: Msg | None = None
            if is_schema_missing(exc):
                log.warning("database schema missing: %s", type(exc).__name__)
                code, status, detail = "SERVICE_UNAVAILABLE", 503, _SCHEMA_MISSING
                headers = [(b"retry-after", str(RETRY_AFTER_SECONDS).encode())]
            elif is_database_unavailable(exc):
                # Not a bug: the database is away. A 503 tells the client to retry.
                log.warning("database unavailable: %s", type(exc).__name__)
                code, status, detail = "SERVICE_UNAVAILABLE", 503, _DB_UNAVAILABLE
                headers = [(b"retry-after", str(RETRY_AFTER_SECONDS).encode())]
            else:
                log.error("unhandled error", exc_info=True)
            if not started:
                body = json.dumps(problem_body(code, status, detail, request_id)).encode()
                await send_wrapper(
                    {
                        "type": "http.response.start",
                        "status": status,
                        "headers": [
                            (b"content-type", PROBLEM_JSON.encode()),
                            (b"content-length", str(len(body)).encode()),
                            *headers,
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
        finally:
            elapsed = time.perf_counter() - began
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            # Ours: prometheus-fastapi-instrumentator labels `handler`, groups status (2xx).
            REQUESTS.labels(method, template, str(status)).inc()
            LATENCY.labels(method, template).observe(elapsed)
            principal = getattr(scope.get("state", {}).get("principal"), "client_id", None)
            log.info(
                "request",
                extra={
                    "fields": {
                        "method": method,
                        "route": template,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                        "client_id": str(principal) if principal else None,
                    }
                },
            )
            request_id_var.reset(token)
            language_var.reset(lang_token)


class _BodyTooLarge(HTTPException):
    """Raised from `receive` to stop the app reading; the middleware answers the 413."""

    def __init__(self) -> None:
        super().__init__(status_code=413)


async def _send_too_large(scope: Scope, send: Send, limit: int) -> None:
    request_id = scope.get("state", {}).get("request_id") or request_id_var.get()
    detail = msg("The body is limited to {mib} MiB.", mib=limit // MIB)
    body = json.dumps(problem_body("PAYLOAD_TOO_LARGE", 413, detail, request_id)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", PROBLEM_JSON.encode()),
                (b"content-length", str(len(body)).encode()),
                # The rest of the body is never read: the connection cannot be reused.
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    """413 `PAYLOAD_TOO_LARGE` for a request body over `limit` bytes (SPEC §1), on every
    path but `SELF_LIMITED_PATHS`.

    A declared `Content-Length` over the limit is answered at once, before the app runs and
    without reading the body. Otherwise (chunked, or a length that lies) the bytes are
    counted as the app reads them: the message that crosses the limit is not passed on, the
    app is stopped, and whatever it would have answered is replaced by the 413. At most
    `limit` bytes plus one ASGI message are ever held. Sits inside
    `RequestContextMiddleware`, so the 413 carries `X-Request-ID` and the security headers.
    """

    def __init__(self, app: ASGIApp, limit: int = BODY_LIMIT) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path", "") in SELF_LIMITED_PATHS:
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > self.limit:
            await _send_too_large(scope, send, self.limit)
            return
        received = 0
        exceeded = False
        started = False
        answered = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            if exceeded:
                raise _BodyTooLarge()
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    exceeded = True
                    raise _BodyTooLarge()
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started, answered
            if exceeded and not started:
                # The app's own answer to the interrupted read (whatever it made of the
                # exception) is replaced by the one 413.
                if not answered:
                    answered = True
                    await _send_too_large(scope, send, self.limit)
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not exceeded or started:
                raise
        if exceeded and not started and not answered:
            await _send_too_large(scope, send, self.limit)
