"""Outbound HTTP for `call_api`: one shared client that refuses internal addresses.

The check runs where the connection is made (an httpcore network backend), so it covers
every resolved address, every redirect hop, and cannot be raced by DNS rebinding: the
socket connects to the very address that was checked.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

from runcast.engine.pool_transport import PoolTransport

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class BlockedAddressError(Exception):
    """The destination resolves to an address that `call_api` may not reach."""


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries: mapped, compatible, 6to4 or NAT64."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64 or int(ip) >> 32 == 0:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_blocked(address: str) -> bool:
    """True for loopback, private, link-local, CGNAT, metadata, multicast and reserved IPs,
    including IPv4 ones carried inside IPv6 addresses."""
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(
        address.split("%", 1)[0]
    )
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None and is_blocked(str(embedded)):
            return True
    if isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT:
        return True
    return not ip.is_global or ip.is_multicast


async def _resolve(host: str, port: int) -> list[str]:
    try:
        return [str(ipaddress.ip_address(host.strip("[]")))]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves the host itself, rejects blocked addresses, connects to a checked one."""

    def __init__(self, allow_private: bool, blocked: Callable[[str], bool] = is_blocked) -> None:
        self._inner = httpcore.AnyIOBackend()
        self._allow_private = allow_private
        self._blocked = blocked

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await _resolve(host, port)
        if not self._allow_private:
            blocked = [a for a in addresses if self._blocked(a)]
            if blocked:
                raise BlockedAddressError(
                    f"Refused to call {host}: it resolves to an internal address ({blocked[0]})"
                )
        return await self._inner.connect_tcp(
            addresses[0], port, timeout, local_address, socket_options
        )

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        raise BlockedAddressError("Unix sockets are not reachable from call_api")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


@dataclass
class HttpPolicy:
    """The shared outbound client and whether private networks are allowed."""

    client: httpx.AsyncClient
    allow_private: bool

    async def aclose(self) -> None:
        await self.client.aclose()


def create_http_policy(
    allow_private: bool, blocked: Callable[[str], bool] = is_blocked
) -> HttpPolicy:
    """Build the one shared client used by every `call_api` step."""
    pool = httpcore.AsyncConnectionPool(
        ssl_context=httpx.create_ssl_context(),
        network_backend=GuardedBackend(allow_private, blocked),
        max_connections=200,
        max_keepalive_connections=50,
        keepalive_expiry=30.0,
        retries=0,
    )
    client = httpx.AsyncClient(
        transport=PoolTransport(pool),
        follow_redirects=True,
        max_redirects=5,
        timeout=httpx.Timeout(None),
        headers={"User-Agent": "runcast"},
    )
    return HttpPolicy(client=client, allow_private=allow_private)
