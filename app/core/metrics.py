"""Prometheus metrics (prometheus-client), served at /metrics."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy.pool import Pool, QueuePool

REQUESTS = Counter(
    "rujukan_http_requests_total",
    "HTTP requests by route template and status",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "rujukan_http_request_duration_seconds",
    "HTTP request latency by route template",
    ["method", "route"],
    buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5),
)
INTAKE_OUTCOMES = Counter(
    "rujukan_intake_events_total", "Release events answered, by outcome", ["outcome"]
)

# Webhook relay (set by the process running the relay: `rujukan worker`, or `serve` on SQLite).
OUTBOX_BACKLOG = Gauge(
    "rujukan_outbox_backlog", "Committed outbox events the relay has not fanned out yet"
)
WEBHOOK_DUE = Gauge("rujukan_webhook_deliveries_due", "Webhook deliveries due for an attempt")
WEBHOOK_DELIVERIES = Counter(
    "rujukan_webhook_delivery_attempts_total",
    "Webhook attempts by outcome (delivered, retry, failed, gone, lease_lost) and reason",
    ["outcome", "reason"],
)
WEBHOOK_LATENCY = Histogram(
    "rujukan_webhook_event_to_delivery_seconds",
    "From a change's outbox event to its successful delivery",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600, 21600, 86400),
)

# Connection pool of this process, sampled at each scrape of /metrics (see `observe_pool`).
POOL_SIZE = Gauge("rujukan_db_pool_size", "Connections the pool keeps open (pool_size)")
POOL_CHECKED_OUT = Gauge(
    "rujukan_db_pool_checked_out", "Connections lent to requests or jobs right now"
)
POOL_OVERFLOW = Gauge(
    "rujukan_db_pool_overflow",
    "Connections open beyond pool_size (up to max_overflow); negative while the pool fills",
)
POOL_CHECKED_IN = Gauge("rujukan_db_pool_checked_in", "Idle connections waiting in the pool")


def observe_pool(pool: Pool) -> None:
    """Set the pool gauges from the engine's pool (a QueuePool on both databases)."""
    if not isinstance(pool, QueuePool):  # e.g. a NullPool/StaticPool in a test setup
        return
    POOL_SIZE.set(pool.size())
    POOL_CHECKED_OUT.set(pool.checkedout())
    POOL_OVERFLOW.set(pool.overflow())
    POOL_CHECKED_IN.set(pool.checkedin())
