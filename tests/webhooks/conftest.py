"""Fixtures every webhook test module uses: a local receiver, and the API allowed to
subscribe it (its 127.0.0.1 address is private)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.runtime import Runtime
from tests.webhooks.receiver import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as server:
        yield server


@pytest.fixture
def allow_private(services: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    """The API accepts the test's 127.0.0.1 endpoint (RUJUKAN_WEBHOOK_ALLOW_PRIVATE=true)."""
    monkeypatch.setattr(services.settings, "webhook_allow_private", True)
