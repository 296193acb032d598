"""The in-process API-key cache (app/auth/service.py): expiry, forgetting, the race barrier."""

from __future__ import annotations

import time
import uuid

import pytest

from app.auth.principal import Principal
from app.auth.roles import Role
from app.auth.service import PrincipalCache


def principal(client_id: uuid.UUID | None = None) -> Principal:
    return Principal(client_id or uuid.uuid4(), "p", Role.prison, frozenset({"*"}), frozenset())


def test_remembers_until_the_ttl_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    cache = PrincipalCache()
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    p = principal()
    cache.put("h", p, 5)
    assert cache.get("h") is p
    now[0] += 5.1
    assert cache.get("h") is None


def test_zero_ttl_caches_nothing() -> None:
    cache = PrincipalCache()
    cache.put("h", principal(), 0)
    assert cache.get("h") is None


def test_forget_drops_every_key_of_the_client_and_bars_it_for_a_while(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cache = PrincipalCache()
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    client = uuid.uuid4()
    other = principal()
    cache.put("current", principal(client), 5)
    cache.put("previous", principal(client), 5)
    cache.put("other", other, 5)
    cache.forget(client)
    assert cache.get("current") is None and cache.get("previous") is None
    assert cache.get("other") is other
    # A lookup that read the row before the change committed must not be cached.
    cache.put("current", principal(client), 5)
    assert cache.get("current") is None
    now[0] += 61
    cache.put("current", principal(client), 5)
    assert cache.get("current") is not None


def test_bounded() -> None:
    cache = PrincipalCache(max_entries=3)
    for i in range(10):
        cache.put(str(i), principal(), 5)
    assert len(cache._entries) <= 3
