"""Refuse connections to private addresses, checked at the moment of connecting.

Every TCP connection the studio opens goes through `GuardedBackend.connect_tcp`: the host name
is resolved there, the address is checked, and the socket is opened to *that* address. So the
check covers the address actually connected to (no DNS-rebinding gap) and every redirect hop,
because each hop opens its own connection. TLS still verifies the original host name.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

import httpcore
import httpx

from errors import BlockedAddressError

__all__ = ["AddressPolicy", "GuardedBackend", "guarded_transport", "is_public_address"]

Resolver = Callable[[str, int], Awaitable[list[str]]]


def is_public_address(ip: str) -> bool:
    """True for a globally routable unicast address (IPv4 or IPv6)."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        addr = addr.ipv4_mapped
    return not (
        addr.is_private
        or addr.is_loopback
        or addr.is_link_local
        or addr.is_multicast
        or addr.is_reserved
        or addr.is_unspecified
        or not addr.is_global
    )


@dataclass(frozen=True)
class AddressPolicy:
    """Which destinations may be reached.

    `allow_private` lifts the check entirely (I2V_ALLOW_PRIVATE_URLS=1, local testing only).
    `trusted_origins` are (host, port) pairs the operator configured, such as a provider base URL
    pointed at a local emulator; only those exact origins skip the check.
    """

    allow_private: bool = False
    trusted_origins: frozenset[tuple[str, int]] = field(default_factory=frozenset)

    def with_origins(self, urls: Iterable[str]) -> AddressPolicy:
        origins = set(self.trusted_origins)
        for url in urls:
            parsed = httpx.URL(url)
            if parsed.host:
                origins.add((parsed.host, parsed.port or _default_port(parsed.scheme)))
        return AddressPolicy(self.allow_private, frozenset(origins))

    def is_trusted(self, host: str, port: int) -> bool:
        return self.allow_private or (host.strip("[]"), port) in self.trusted_origins


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


async def _system_resolve(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
    return [info[4][0] for info in infos if info[0] in (socket.AF_INET, socket.AF_INET6)]


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend that checks each resolved address before connecting."""

    def __init__(self, policy: AddressPolicy, resolver: Resolver | None = None) -> None:
        self.policy = policy
        self._resolve = resolver or _system_resolve
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        if self.policy.is_trusted(host, port):
            target = host
        else:
            target = await self._checked_address(host, port)
        return await self._inner.connect_tcp(
            target, port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )

    async def _checked_address(self, host: str, port: int) -> str:
        addresses = await self._resolve(host.strip("[]"), port)
        if not addresses:
            raise httpcore.ConnectError(f"cannot resolve {host}")
        blocked = [a for a in addresses if not is_public_address(a)]
        if blocked:
            # Refuse if any record is private: a name that mixes public and private records is
            # exactly what a rebinding attack looks like.
            raise BlockedAddressError(
                f"{host} resolves to a private, loopback, link-local or reserved address "
                f"({blocked[0]}); only public addresses are allowed."
            )
        return addresses[0]

    async def connect_unix_socket(self, *args, **kwargs):  # pragma: no cover - never used
        raise BlockedAddressError("unix sockets are not allowed")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def guarded_transport(
    policy: AddressPolicy,
    *,
    resolver: Resolver | None = None,
    limits: httpx.Limits | None = None,
) -> httpx.AsyncHTTPTransport:
    """An httpx transport whose every connection passes the address check."""
    limits = limits or httpx.Limits(max_connections=500, max_keepalive_connections=100)
    transport = httpx.AsyncHTTPTransport(limits=limits)
    # httpx has no public hook for the network backend, so rebuild its pool with ours.
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=httpx.create_ssl_context(),
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=GuardedBackend(policy, resolver),
    )
    return transport
