"""/metrics: request counts by route template and status, latency, and the pool gauges."""

from __future__ import annotations

import uuid

import httpx
from prometheus_client.parser import text_string_to_metric_families

from app.core.config import Settings
from tests.conftest import Clients


async def _samples(http: httpx.AsyncClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def _requests(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float],
    method: str,
    route: str,
    status: int,
) -> float:
    labels = frozenset({("method", method), ("route", route), ("status", str(status))})
    return samples.get(("rujukan_http_requests_total", labels), 0.0)


async def test_requests_are_counted_by_route_template_and_status(
    http: httpx.AsyncClient, clients: Clients
) -> None:
    kemensos = await clients.kemensos()
    before = await _samples(http)

    for _ in range(3):
        ok = await http.get("/v1/reference/pas-categories", headers=kemensos.headers)
        assert ok.status_code == 200
    assert (await http.get("/v1/reference/pas-categories")).status_code == 401
    missing = await http.get(f"/v1/referrals/{uuid.uuid4()}", headers=kemensos.headers)
    assert missing.status_code == 404
    assert (await http.get("/no/such/route")).status_code == 404

    after = await _samples(http)

    def delta(method: str, route: str, status: int) -> float:
        return _requests(after, method, route, status) - _requests(before, method, route, status)

    assert delta("GET", "/v1/reference/pas-categories", 200) == 3
    assert delta("GET", "/v1/reference/pas-categories", 401) == 1
    # The template, never the id: one series per route, not one per referral.
    assert delta("GET", "/v1/referrals/{referral_id}", 404) == 1
    assert not any(
        dict(labels).get("route", "").endswith(missing.url.path.rsplit("/", 1)[1])
        for _, labels in after
    )
    assert delta("GET", "unmatched", 404) == 1

    latency = frozenset({("method", "GET"), ("route", "/v1/reference/pas-categories")})
    count = ("rujukan_http_request_duration_seconds_count", latency)
    assert after[count] - before.get(count, 0.0) == 4


async def test_pool_gauges_are_sampled_at_scrape(
    http: httpx.AsyncClient, settings: Settings, backend: str
) -> None:
    samples = await _samples(http)

    def gauge(name: str) -> float:
        return samples[(name, frozenset())]

    size = gauge("rujukan_db_pool_size")
    if backend == "postgres":
        assert size == settings.db_pool_size
    assert size >= 1
    assert gauge("rujukan_db_pool_checked_out") >= 0
    assert gauge("rujukan_db_pool_checked_in") >= 0
    assert gauge("rujukan_db_pool_overflow") <= settings.db_max_overflow
