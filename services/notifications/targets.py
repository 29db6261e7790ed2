"""Where a webhook may be sent (SSRF guard): only to public internet addresses.

A subscriber chooses the URL, and the notifications service then makes requests to it from
inside our network. Without a guard, `http://169.254.169.254/…` (a cloud's metadata service,
credentials included), `http://127.0.0.1:5432/` or `http://10.0.0.1/admin` would turn it into a
proxy into places only it can reach. So a webhook host must be, and resolve only to, globally
routable addresses: no private, loopback, link-local, multicast, unspecified or otherwise
reserved one (IPv4-mapped IPv6 forms included). The check runs when the subscription is made and
again before every delivery, because what a name resolves to can change after it was accepted.

`allow_loopback` (WEBHOOK_ALLOW_LOOPBACK, for tests and `make run`, whose receivers listen on
127.0.0.1) admits loopback addresses, and only those. The standard library's `ipaddress` knows the
IANA special-purpose registries, so no hand-written table of ranges is needed here.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
RESOLVE_TIMEOUT_S = 5.0


class UnsafeTarget(Exception):
    """The URL's host is, or resolves to, an address webhooks must not be sent to."""


def refusal(address: IPAddress, allow_loopback: bool) -> str | None:
    """Why `address` is refused, or None when a webhook may go there."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:
        return None if allow_loopback else "a loopback address"
    for kind, flag in (
        ("an unspecified address", address.is_unspecified),
        ("a link-local address", address.is_link_local),
        ("a multicast address", address.is_multicast),
        ("a private address", address.is_private),
        ("a reserved address", address.is_reserved),
        ("not a public address", not address.is_global),
    ):
        if flag:
            return kind
    return None


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to (an IP literal is its own answer)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT_S):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, TimeoutError) as exc:
        raise UnsafeTarget(f"the host {host} cannot be resolved ({type(exc).__name__})") from exc
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


async def check(url: str, allow_loopback: bool) -> None:
    """Raise UnsafeTarget unless `url` is http(s) and its host resolves only to allowed addresses."""
    parsed = httpx.URL(url)
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise UnsafeTarget("a webhook URL must be http:// or https:// with a host")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    addresses = await resolve(parsed.host, port)
    if not addresses:
        raise UnsafeTarget(f"the host {parsed.host} resolves to no address")
    for address in addresses:
        if (why := refusal(address, allow_loopback)) is not None:
            shown = parsed.host if str(address) == parsed.host else f"{parsed.host} ({address})"
            raise UnsafeTarget(f"webhooks are not sent to {why}: {shown}")
