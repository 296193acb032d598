"""Where webhooks may go: URL rules at subscription time, and an HTTP transport that checks
every address it connects to.

A hostname is checked twice. When the subscription is created (literal addresses,
`localhost`, and what the name resolves to then) and, because DNS answers change, on
every connection: the relay's network backend resolves the name itself, refuses the
connection if any address is not public, and connects to the address it checked, so a
name cannot be re-pointed at a private address between the check and the connect (DNS
rebinding). TLS still verifies the certificate against the hostname.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from app.core.errors import FieldError
from app.core.i18n import Msg, msg

MAX_URL_LENGTH = 2048
_LOCAL_NAMES = ("localhost", "localhost.localdomain")
RESOLVE_TIMEOUT_SECONDS = 2.0


class TargetRefusedError(Exception):
    """The target resolves to a loopback, private, link-local or otherwise non-public address."""


# IPv6 prefixes that carry an IPv4 address in their low 32 bits: a packet to them reaches
# that IPv4 address (through a translator or a tunnel), so it is judged by it. Python 3.11
# calls `::ffff:0:7f00:1` or `64:ff9b::a9fe:a9fe` global.
_EMBEDDING_IPV4 = (
    ipaddress.IPv6Network("::ffff:0:0:0/96"),  # IPv4-translated (SIIT, RFC 2765)
    ipaddress.IPv6Network("64:ff9b::/96"),  # NAT64 well-known prefix (RFC 6052)
    ipaddress.IPv6Network("64:ff9b:1::/48"),  # NAT64 local-use prefix (RFC 8215)
    ipaddress.IPv6Network("::/96"),  # IPv4-compatible (deprecated, RFC 4291)
)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for: mapped, 6to4, Teredo's client,
    translated, NAT64 or IPv4-compatible."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if any(ip in network for network in _EMBEDDING_IPV4):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public_address(address: str) -> bool:
    """Whether `address` is a public unicast address, judging an IPv6 address that embeds
    an IPv4 one (see `_embedded_ipv4`) by both."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            # `::ffff:a.b.c.d` is a.b.c.d itself; the other forms are routed prefixes
            # whose own range is not global either (6to4, Teredo, NAT64 are special use).
            return _is_public(embedded) and (ip.ipv4_mapped is not None or _is_public(ip))
    return _is_public(ip)


def _is_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return ip.is_global and not ip.is_multicast


def _is_local_name(host: str) -> bool:
    host = host.rstrip(".").lower()
    return host in _LOCAL_NAMES or host.endswith(".localhost")


def _literal_address(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return None


async def resolve(host: str, port: int) -> list[str]:
    """The addresses a name resolves to (getaddrinfo in a thread: never blocks the loop)."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def check_url(url: str, *, allow_private: bool) -> list[FieldError]:
    """The problems of a subscription URL (pointer `/url`); empty when it is acceptable.

    A name that does not resolve now is accepted: it is checked again at every delivery.
    """

    def problem(code: str, detail: Msg) -> list[FieldError]:
        return [FieldError(code, detail, pointer="/url")]

    if len(url) > MAX_URL_LENGTH:
        return problem(
            "INVALID_VALUE", msg("at most {max_length} characters", max_length=MAX_URL_LENGTH)
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return problem("INVALID_VALUE", msg("not a valid URL"))
    if parts.scheme not in ("https", "http"):
        return problem("INVALID_VALUE", msg("the scheme must be https or http"))
    host = parts.hostname
    if not host:
        return problem("INVALID_VALUE", msg("the URL has no host"))
    if parts.username is not None or parts.password is not None:
        return problem(
            "INVALID_VALUE", msg("credentials in the URL are not accepted; verify the signature")
        )
    if parts.fragment:
        return problem("INVALID_VALUE", msg("the URL must not have a fragment"))
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        return problem(
            "INVALID_VALUE", msg("the URL must not contain spaces or control characters")
        )
    if allow_private:
        return []
    refused = problem(
        "URL_NOT_ALLOWED",
        msg("the target is a loopback, private, link-local or otherwise non-public address"),
    )
    literal = _literal_address(host)
    if literal is not None:
        return [] if is_public_address(literal) else refused
    if _is_local_name(host):
        return refused
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT_SECONDS):
            addresses = await resolve(host, port)
    except (OSError, TimeoutError, UnicodeError):
        return []
    if any(not is_public_address(a) for a in addresses):
        return refused
    return []


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves, checks and connects to the checked address (see the module docstring)."""

    def __init__(self, *, allow_private: bool) -> None:
        self.allow_private = allow_private
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        literal = _literal_address(host)
        if literal is not None:
            addresses = [literal]
        else:
            try:
                async with asyncio.timeout(timeout):
                    addresses = await resolve(host, port)
            except TimeoutError as exc:
                raise httpcore.ConnectTimeout("name resolution timed out") from exc
            except OSError as exc:
                raise httpcore.ConnectError("name resolution failed") from exc
        if not self.allow_private and (
            _is_local_name(host) or any(not is_public_address(a) for a in addresses)
        ):
            raise TargetRefusedError()
        last: Exception = httpcore.ConnectError("no address")
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise TargetRefusedError()

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(self, stream: Any) -> None:
        self._stream = stream

    async def __aiter__(self) -> Any:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        if hasattr(self._stream, "aclose"):
            await self._stream.aclose()


class GuardedTransport(httpx.AsyncBaseTransport):
    """An httpx transport over an httpcore pool that connects through `GuardedBackend`.

    Network errors surface as httpcore exceptions (and `TargetRefusedError`); the relay maps
    them to its own fixed vocabulary. No proxy from the environment is ever used.
    """

    def __init__(self, *, allow_private: bool, max_connections: int) -> None:
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=30.0,
            network_backend=GuardedBackend(allow_private=allow_private),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.AsyncByteStream)
        response = await self._pool.handle_async_request(
            httpcore.Request(
                method=request.method,
                url=httpcore.URL(
                    scheme=request.url.raw_scheme,
                    host=request.url.raw_host,
                    port=request.url.port,
                    target=request.url.raw_path,
                ),
                headers=request.headers.raw,
                content=request.stream,
                extensions=request.extensions,
            )
        )
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response.stream),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()
