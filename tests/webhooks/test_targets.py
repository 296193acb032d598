"""The private-address guard (SPEC §7) against IPv6 forms that embed an IPv4 address:
IPv4-mapped, IPv4-translated, 6to4, Teredo, NAT64 and IPv4-compatible. Each is judged by
the IPv4 address it reaches, when the subscription is made and at every connection."""

from __future__ import annotations

import pytest

from app.webhooks import targets
from app.webhooks.targets import check_url, is_public_address

# Each reaches a loopback, link-local (cloud metadata) or private IPv4 address.
EMBEDDING_PRIVATE = [
    "::ffff:127.0.0.1",  # mapped
    "::ffff:0:7f00:1",  # translated (SIIT) 127.0.0.1
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
    "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "64:ff9b:1::a00:1",  # NAT64 local-use of 10.0.0.1
    "::127.0.0.1",  # IPv4-compatible
    "::a00:1",  # IPv4-compatible 10.0.0.1
    "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, client 127.0.0.1
]
EMBEDDING_PUBLIC = ["::ffff:93.184.216.34", "64:ff9b::5db8:d822", "2002:5db8:d822::1"]


@pytest.mark.parametrize("address", EMBEDDING_PRIVATE)
def test_an_ipv6_address_embedding_a_private_ipv4_one_is_not_public(address: str) -> None:
    assert is_public_address(address) is False


@pytest.mark.parametrize("address", EMBEDDING_PUBLIC)
def test_an_ipv6_address_embedding_a_public_ipv4_one_is_public(address: str) -> None:
    assert is_public_address(address) is True


@pytest.mark.parametrize("address", EMBEDDING_PRIVATE)
async def test_subscribing_to_such_a_literal_is_refused(address: str) -> None:
    refused = await check_url(f"http://[{address}]/hook", allow_private=False)
    assert [(e.code, e.pointer) for e in refused] == [("URL_NOT_ALLOWED", "/url")]
    assert await check_url(f"http://[{address}]/hook", allow_private=True) == []


@pytest.mark.parametrize("address", EMBEDDING_PRIVATE)
async def test_a_name_resolving_to_such_an_address_is_refused_when_subscribing(
    monkeypatch: pytest.MonkeyPatch, address: str
) -> None:
    async def fake_resolve(host: str, port: int) -> list[str]:
        return [address]

    monkeypatch.setattr(targets, "resolve", fake_resolve)
    refused = await check_url("https://hooks.example/x", allow_private=False)
    assert [e.code for e in refused] == ["URL_NOT_ALLOWED"]


@pytest.mark.parametrize("address", EMBEDDING_PRIVATE)
async def test_delivery_refuses_to_connect_to_such_an_address(
    monkeypatch: pytest.MonkeyPatch, address: str
) -> None:
    """At delivery: the literal in the URL, and a name re-pointed at it after subscribing."""

    async def fake_resolve(host: str, port: int) -> list[str]:
        return ["93.184.216.34", address]

    monkeypatch.setattr(targets, "resolve", fake_resolve)
    backend = targets.GuardedBackend(allow_private=False)
    with pytest.raises(targets.TargetRefusedError):
        await backend.connect_tcp(address, 443, timeout=1)
    with pytest.raises(targets.TargetRefusedError):
        await backend.connect_tcp("rebound.example", 443, timeout=1)
