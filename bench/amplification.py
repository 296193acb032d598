"""Error amplification (issue 17): the size of the answer to a hostile body, and how long
`/healthz` waits while the service builds it.

    .venv/bin/python -m bench.amplification            # the issue's three bodies, SQLite

A fresh embedded SQLite database, one prison and one kemensos client, the service with
uvicorn on 127.0.0.1 in this process's thread (tests/livesrv.py). For each body: posted
once on its own connection while a second connection polls `/healthz` back to back; it
prints the body's and the answer's sizes, the request's duration and the longest
`/healthz` wait seen meanwhile. The sizes are the bound the tests hold
(tests/core/test_bounded_errors.py); the times depend on the machine and are reported,
not asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import tempfile
import time
import uuid
from typing import Any

import httpx
import orjson

from app.core.config import Settings
from app.core.migrate import upgrade
from app.main import create_app
from app.runtime import build_runtime
from tests.conftest import Clients
from tests.factories import make_event
from tests.livesrv import LiveServer

KB = 1024


def _members(count: int) -> dict[str, int]:
    return {f"m{i}": 0 for i in range(count)}


def bodies(facility: str) -> list[tuple[str, str, bytes, str]]:
    """(label, path, body, role) of the issue's hostile requests."""
    transition = orjson.dumps({"action": "accept", **_members(85_000)})
    event = make_event(facility)
    event["person"].update(_members(85_000))
    batch = []
    for _ in range(500):
        item = make_event(facility)
        item.update(_members(2_000))
        batch.append(item)
    return [
        (
            "transition, 85,000 unknown members",
            f"/v1/referrals/{uuid.uuid4()}/transitions",
            transition,
            "kemensos",
        ),
        ("event, 85,000 unknown members", "/v1/release-events", orjson.dumps(event), "prison"),
        (
            "batch, 500 items x 2,000 unknown members",
            "/v1/release-events/batch",
            orjson.dumps({"events": batch}),
            "prison",
        ),
    ]


async def _keys(settings: Settings, facility: str) -> dict[str, str]:
    runtime = build_runtime(settings)
    try:
        clients = Clients(runtime)
        prison = await clients.make("prison", facilities=[facility])
        kemensos = await clients.make("kemensos")
    finally:
        await runtime.db.dispose()
    return {"prison": prison.api_key, "kemensos": kemensos.api_key}


async def measure(base_url: str, keys: dict[str, str], facility: str) -> list[dict[str, Any]]:
    out = []
    async with (
        httpx.AsyncClient(base_url=base_url, timeout=120) as poster,
        httpx.AsyncClient(base_url=base_url, timeout=120) as prober,
    ):
        for label, path, body, role in bodies(facility):
            headers = {
                "Authorization": f"Bearer {keys[role]}",
                "Content-Type": "application/json",
                "If-Match": '"1"',
            }
            done = asyncio.Event()
            waits: list[float] = []

            async def probe(done: asyncio.Event, waits: list[float]) -> None:
                while not done.is_set():
                    began = time.perf_counter()
                    await prober.get("/healthz")
                    waits.append(time.perf_counter() - began)
                    await asyncio.sleep(0.005)

            prober_task = asyncio.create_task(probe(done, waits))
            began = time.perf_counter()
            response = await poster.post(path, content=body, headers=headers)
            took = time.perf_counter() - began
            done.set()
            await prober_task
            out.append(
                {
                    "request": label,
                    "body_kb": round(len(body) / KB),
                    "status": response.status_code,
                    "answer_kb": round(len(response.content) / KB, 1),
                    "request_s": round(took, 2),
                    "healthz_max_ms": round(max(waits) * 1000, 1) if waits else None,
                    "healthz_probes": len(waits),
                }
            )
    return out


def main() -> None:
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args()
    facility = "LP-BENCH"
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        upgrade(url)
        settings = Settings(
            database_url=url,
            data_key=base64.b64encode(os.urandom(32)).decode(),  # type: ignore[arg-type]
            rate_limit_per_second=1e6,
            rate_limit_burst=1_000_000,
            run_worker_in_process=False,
        )
        keys = asyncio.run(_keys(settings, facility))
        server = LiveServer(create_app(settings))
        server.start()
        try:
            for row in asyncio.run(measure(server.base_url, keys, facility)):
                print(orjson.dumps(row).decode())
        finally:
            server.stop()


if __name__ == "__main__":
    main()
