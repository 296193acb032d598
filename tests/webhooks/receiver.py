"""A webhook endpoint for tests: an HTTP server on 127.0.0.1 in a thread of its own.

Every request is verified with the `standardwebhooks` library against the secrets set
for its path and parsed with the CloudEvents SDK; what arrived is recorded. A `policy`
decides the answer, so a test can fail the first attempts, answer 410 or 429, or hang.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cloudevents.core.bindings.http import HTTPMessage, from_structured_event
from standardwebhooks import Webhook

THIN_DATA_KEYS = {
    "referral_id",
    "status",
    "previous_status",
    "outcome",
    "custody_status",
    "responsible_agency",
    "version",
    "occurred_at",
}


class _BacklogServer(ThreadingHTTPServer):
    # The default listen backlog (5) overflows under two workers' 32 concurrent
    # connections, and a refused connection is a failed attempt the relay retries.
    request_queue_size = 256


@dataclass
class Delivery:
    path: str
    webhook_id: str
    attempt: int  # 1 for the first request with this webhook-id on this path
    answered: int
    verified: bool
    verified_with: list[int]  # indexes of the path's secrets whose signature matched
    signatures: int
    event: dict[str, Any] | None
    received_at: float


# (path, webhook_id, attempt) → (status, extra headers)
Policy = Callable[[str, str, int], tuple[int, dict[str, str]]]


def always_ok(path: str, webhook_id: str, attempt: int) -> tuple[int, dict[str, str]]:
    return 200, {}


@dataclass
class Receiver:
    policy: Policy = always_ok
    secrets: dict[str, list[str]] = field(default_factory=dict)
    deliveries: list[Delivery] = field(default_factory=list)
    delay_seconds: float = 0.0
    _attempts: Counter[tuple[str, str]] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a real endpoint would

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                if len(body) < length:
                    # The sender went away mid-request (a killed worker): no request arrived.
                    self.close_connection = True
                    return
                status, extra = receiver._handle(
                    self.path, {k.lower(): v for k, v in self.headers.items()}, body
                )
                if receiver.delay_seconds:
                    time.sleep(receiver.delay_seconds)
                reply = b"" if status in (204, 304) else b"{}"
                try:
                    self.send_response(status)
                    for name, value in extra.items():
                        self.send_header(name, value)
                    self.send_header("content-type", "application/json")
                    if status not in (204, 304):
                        self.send_header("content-length", str(len(reply)))
                    self.end_headers()
                    self.wfile.write(reply)
                except OSError:
                    pass  # the relay gave up waiting (a timeout test)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = _BacklogServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _handle(
        self, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str]]:
        webhook_id = headers.get("webhook-id", "")
        verified_with: list[int] = []
        for index, secret in enumerate(self.secrets.get(path, [])):
            try:
                Webhook(secret).verify(body, headers)
            except Exception:  # try the next secret
                continue
            verified_with.append(index)
        verified = bool(verified_with)
        event: dict[str, Any] | None = None
        try:
            parsed = from_structured_event(HTTPMessage(headers=headers, body=body))
            data = parsed.get_data()
            if (
                parsed.get_specversion() == "1.0"
                and parsed.get_id() == webhook_id
                and isinstance(data, dict)
                and set(data) >= THIN_DATA_KEYS
                and all(key.endswith("_id") for key in set(data) - THIN_DATA_KEYS)
                and parsed.get_subject() == data["referral_id"]
            ):
                event = json.loads(body)
        except Exception:
            event = None
        with self._lock:
            self._attempts[(path, webhook_id)] += 1
            attempt = self._attempts[(path, webhook_id)]
        status, extra = self.policy(path, webhook_id, attempt) if verified and event else (400, {})
        with self._lock:
            self.deliveries.append(
                Delivery(
                    path,
                    webhook_id,
                    attempt,
                    status,
                    verified,
                    verified_with,
                    len(headers.get("webhook-signature", "").split()),
                    event,
                    time.monotonic(),
                )
            )
        return status, extra

    def snapshot(self, path: str | None = None) -> list[Delivery]:
        with self._lock:
            return [d for d in self.deliveries if path is None or d.path == path]

    def accepted(self, path: str) -> list[Delivery]:
        """Deliveries answered 2xx on `path`."""
        return [d for d in self.snapshot(path) if 200 <= d.answered < 300]


async def eventually(
    condition: Callable[[], bool], *, within: float, interval: float = 0.05
) -> bool:
    """Poll `condition` until it holds or `within` seconds pass (the relay runs meanwhile)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(interval)
    return condition()
