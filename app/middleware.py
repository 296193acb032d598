"""The outermost layer of every request: request id, security headers, access log, metrics,
and the last line of defence that turns any unexpected exception into a 500 problem (a 503
with `Retry-After` when the database is unreachable: app/dbfaults.py)."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.context import request_id_var
from app.dbfaults import RETRY_AFTER_SECONDS, is_database_unavailable
from app.errors import PROBLEM_JSON, problem_body
from app.metrics import LATENCY, REQUESTS

log = logging.getLogger("rujukan.http")
_REQUEST_ID_OK = re.compile(r"^[A-Za-z0-9._:/+=@-]{1,128}$")

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Strict-Transport-Security": "max-age=31536000",
}
_DB_UNAVAILABLE = (
    "The database is unreachable. Retry the same request after Retry-After; a release event "
    "may already have been applied, and its retry replays the answer."
)
_API_CSP = "default-src 'none'; frame-ancestors 'none'"
_DOCS_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self' 'unsafe-inline'; worker-src 'self' blob:; frame-ancestors 'none'"
)


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = dict(scope.get("headers") or [])
        given = sent.get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _REQUEST_ID_OK.match(given) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        scope.setdefault("state", {})["request_id"] = request_id
        path: str = scope.get("path", "")
        docs = path in ("/docs", "/redoc") or path.startswith("/static-offline-docs")
        status = 500
        started = False
        began = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                headers = MutableHeaders(scope=message)
                headers["X-Request-ID"] = request_id
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
                headers.setdefault("Content-Security-Policy", _DOCS_CSP if docs else _API_CSP)
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception as exc:
            code, status, detail, headers = "INTERNAL_ERROR", 500, None, []
            if is_database_unavailable(exc):
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
