"""A real uvicorn server for tests that need real HTTP and real concurrency.

The server runs in a background thread with its own event loop, so it must not share the
test session's `Runtime` (an async engine belongs to one loop): by default it builds a
fresh app with `create_app(settings)`, which gets its own engine and pool on the same
database and disposes them when the server shuts down.

    async with live_server(settings) as base_url:
        async with httpx.AsyncClient(base_url=base_url) as client:
            ...

Start-up and shutdown are bounded: a server that is not serving within `start_timeout`
seconds, or not stopped within `stop_timeout`, fails the test instead of hanging it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import uvicorn

from app.core.config import Settings
from app.main import create_app


class LiveServer:
    def __init__(self, app: Any, *, host: str = "127.0.0.1") -> None:
        self.host = host
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, 0))  # a free port, held by us: no race with other tests
        self.port: int = self._socket.getsockname()[1]
        config = uvicorn.Config(
            app,
            log_level="warning",
            lifespan="on",
            access_log=False,
            timeout_graceful_shutdown=5,
            limit_concurrency=None,
            backlog=1024,
        )
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name=f"uvicorn-{self.port}", daemon=True)
        self._error: BaseException | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _run(self) -> None:
        try:
            self.server.run(sockets=[self._socket])
        except BaseException as exc:  # reported by start()/stop()
            self._error = exc

    def start(self, timeout: float = 15.0) -> None:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if self._error is not None or not self._thread.is_alive():
                raise RuntimeError(f"uvicorn failed to start: {self._error!r}")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"uvicorn not serving after {timeout}s")
            time.sleep(0.02)
        with httpx.Client(base_url=self.base_url, timeout=timeout) as client:
            response = client.get("/healthz")
            response.raise_for_status()

    def stop(self, timeout: float = 15.0) -> None:
        self.server.should_exit = True
        self._thread.join(timeout)
        if self._thread.is_alive():
            self.server.force_exit = True
            self._thread.join(5)
        with contextlib.suppress(OSError):
            self._socket.close()
        if self._thread.is_alive():
            raise TimeoutError(f"uvicorn did not stop within {timeout}s")
        if self._error is not None and not isinstance(self._error, SystemExit):
            raise RuntimeError(f"uvicorn failed: {self._error!r}")


@contextlib.asynccontextmanager
async def live_server(
    settings: Settings,
    *,
    app_factory: Callable[[], Any] | None = None,
    start_timeout: float = 15.0,
    stop_timeout: float = 15.0,
) -> AsyncIterator[str]:
    """Serve a fresh app (or `app_factory()`) on 127.0.0.1 and a free port; yield its URL."""
    app = app_factory() if app_factory is not None else create_app(settings)
    server = LiveServer(app)
    await asyncio.to_thread(server.start, start_timeout)
    try:
        yield server.base_url
    finally:
        await asyncio.to_thread(server.stop, stop_timeout)
