"""The relay's rules without a server: backoff, Retry-After, outcomes, targets, signatures."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, insert, select
from standardwebhooks import Webhook

from app.auth.principal import Principal
from app.auth.roles import Role
from app.core.config import Settings
from app.referrals.models import OutboxEvent
from app.webhooks.delivery import Attempt, Result, backoff_delay, next_state, parse_retry_after
from app.webhooks.outbox import visible_to
from app.webhooks.signing import new_secret, signed_headers
from app.webhooks.targets import check_url, is_public_address

NOW = datetime(2026, 11, 30, 4, 0, tzinfo=UTC)


def test_backoff_is_full_jitter_under_an_exponential_ceiling() -> None:
    rng = random.Random(7)
    for attempts, ceiling in ((1, 5), (2, 10), (3, 20), (10, 2560), (40, 21600)):
        delays = [backoff_delay(attempts, 5, 21600, rng) for _ in range(500)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.9  # spread over the whole range: full jitter
        assert min(delays) < ceiling * 0.1


def test_retry_after_seconds_and_http_dates() -> None:
    assert parse_retry_after("120", NOW) == 120
    assert parse_retry_after(" 0 ", NOW) == 0
    assert parse_retry_after("Mon, 30 Nov 2026 04:01:00 GMT", NOW) == 60
    assert parse_retry_after("Mon, 30 Nov 2026 03:00:00 GMT", NOW) == 0  # in the past
    assert parse_retry_after("soon", NOW) is None
    assert parse_retry_after("-5", NOW) is None
    assert parse_retry_after(None, NOW) is None


SETTINGS = Settings(
    database_url="sqlite+aiosqlite:///:memory:",
    webhook_backoff_base_seconds=5,
    webhook_backoff_max_seconds=3600,
    webhook_retry_window_seconds=3 * 86400,
)


def plan(
    attempt: Attempt, result: Result, now: datetime
) -> tuple[dict[str, object], str, str | None]:
    return next_state(attempt, result, now, SETTINGS, random.Random(1))


def _attempt(attempts: int = 1, scheduled_at: datetime = NOW) -> Attempt:
    return Attempt(
        delivery_id=uuid.uuid4(),
        lease_token=uuid.uuid4(),
        subscription_id=uuid.uuid4(),
        url="https://93.184.216.34/hook",
        secrets=(new_secret(),),
        webhook_id=str(uuid.uuid4()),
        body="{}",
        occurred_at=NOW,
        scheduled_at=scheduled_at,
        attempts=attempts,
    )


@pytest.mark.parametrize("code", [200, 201, 202, 204, 299])
def test_any_2xx_delivers(code: int) -> None:
    values, outcome, disable = plan(_attempt(), Result(code), NOW)
    assert values["status"] == "delivered" and outcome == "delivered" and disable is None


def test_gone_fails_and_disables_at_once() -> None:
    values, outcome, disable = plan(_attempt(), Result(410), NOW)
    assert (values["status"], values["last_error"], outcome, disable) == (
        "failed",
        "gone",
        "gone",
        "gone",
    )


@pytest.mark.parametrize(
    "result",
    [Result(500), Result(404), Result(301), Result(None, "timeout"), Result(None, "connect_error")],
)
def test_other_answers_are_retried_within_the_window(result: Result) -> None:
    now = NOW + timedelta(hours=1)
    values, outcome, disable = plan(_attempt(attempts=4), result, now)
    assert values["status"] == "pending" and outcome == "retry" and disable is None
    next_at = values["next_attempt_at"]
    assert isinstance(next_at, datetime)
    assert now <= next_at <= now + timedelta(seconds=5 * 2**3)
    assert values["last_error"] == (result.error or "http_status")


def test_the_last_retry_falls_on_the_window_end_then_the_subscription_is_disabled() -> None:
    end = NOW + timedelta(days=3)
    values, _, _ = plan(_attempt(attempts=30), Result(500), end - timedelta(seconds=1))
    assert values["next_attempt_at"] <= end
    values, outcome, disable = plan(_attempt(attempts=31), Result(500), end)
    assert (values["status"], outcome, disable) == ("failed", "failed", "retries_exhausted")


@pytest.mark.parametrize("code", [429, 503])
def test_retry_after_overrides_backoff(code: int) -> None:
    values, _, _ = plan(_attempt(), Result(code, None, 600), NOW)
    assert values["next_attempt_at"] == NOW + timedelta(seconds=600)
    # ... but not past the end of the retry window.
    values, _, _ = plan(_attempt(), Result(code, None, 10 * 86400), NOW)
    assert values["next_attempt_at"] == NOW + timedelta(days=3)


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
        ("127.0.0.1", False),
        ("10.0.0.1", False),
        ("172.31.255.255", False),
        ("192.168.0.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("::1", False),
        ("fe80::1%eth0", False),
        ("fc00::1", False),
        ("::ffff:10.0.0.1", False),
        ("not an address", False),
    ],
)
def test_public_addresses(address: str, public: bool) -> None:
    assert is_public_address(address) is public


async def test_private_targets_pass_only_when_allowed() -> None:
    assert await check_url("http://127.0.0.1:9/x", allow_private=True) == []
    refused = await check_url("http://127.0.0.1:9/x", allow_private=False)
    assert [(e.code, e.pointer) for e in refused] == [("URL_NOT_ALLOWED", "/url")]
    assert await check_url("https://93.184.216.34/x", allow_private=False) == []
    # A name that does not resolve now is checked again at every connection.
    assert await check_url("https://no-such-host.invalid/x", allow_private=False) == []


def test_two_signatures_during_rotation_each_verify() -> None:
    old, new = new_secret(), new_secret()
    body = '{"specversion":"1.0"}'
    headers = signed_headers((new, old), "msg-1", body, datetime.now(UTC))
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        assert Webhook(secret).verify(body, headers) == {"specversion": "1.0"}
    with pytest.raises(Exception, match="signature"):
        Webhook(new_secret()).verify(body, headers)


def test_visibility_in_sql_matches_may_read() -> None:
    """`visible_to` (the feed's SQL) and `Principal.may_read` (the relay's check) agree."""
    engine = create_engine("sqlite://")
    OutboxEvent.__table__.create(engine)  # type: ignore[attr-defined]
    codes = [("LP-A", None), ("LP-A", "S-1"), ("LP-B", "S-1"), ("LP-B", "S-2"), ("LP-C", None)]
    with engine.begin() as conn:
        conn.execute(
            insert(OutboxEvent),
            [
                {
                    "event_id": uuid.uuid4(),
                    "type": "referral.created",
                    "referral_id": uuid.uuid4(),
                    "facility_code": facility,
                    "sentra_code": sentra,
                    "data": {},
                    "occurred_at": NOW,
                }
                for facility, sentra in codes
            ],
        )
    principals = [
        (Role.kemensos, [], []),
        (Role.prison, ["LP-A"], []),
        (Role.prison, ["LP-A", "LP-B"], []),
        (Role.prison, ["*"], []),
        (Role.prison, [], []),
        (Role.sentra, [], ["S-1"]),
        (Role.sentra, [], ["*"]),
        (Role.sentra, [], []),
        (Role.auditor, [], []),
        (Role.admin, [], []),
    ]
    with engine.connect() as conn:
        for role, facilities, sentra in principals:
            principal = Principal(uuid.uuid4(), "t", role, frozenset(facilities), frozenset(sentra))
            found = {
                (r.facility_code, r.sentra_code)
                for r in conn.execute(
                    select(OutboxEvent.facility_code, OutboxEvent.sentra_code).where(
                        visible_to(principal)
                    )
                )
            }
            expected = {(f, s) for f, s in codes if principal.may_read(f, s)}
            assert found == expected, (role, facilities, sentra)


async def test_the_network_backend_refuses_names_resolving_to_private_addresses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from app.webhooks import targets

    async def fake_resolve(host: str, port: int) -> list[str]:
        return ["93.184.216.34", "10.0.0.7"]  # one bad address is enough to refuse

    monkeypatch.setattr(targets, "resolve", fake_resolve)
    backend = targets.GuardedBackend(allow_private=False)
    with pytest.raises(targets.TargetRefusedError):
        await backend.connect_tcp("rebinding.example", 443, timeout=1)
    with pytest.raises(targets.TargetRefusedError):
        await backend.connect_tcp("127.0.0.1", 443, timeout=1)
    with pytest.raises(targets.TargetRefusedError):
        await backend.connect_unix_socket("/var/run/docker.sock")
