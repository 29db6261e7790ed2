"""The SSRF guard's address rules (no traffic: addresses are only classified, names only resolved)."""

from __future__ import annotations

import ipaddress

import pytest

from services.notifications import targets

REFUSED_ALWAYS = [
    "169.254.169.254",  # cloud metadata service
    "10.0.0.1",
    "172.16.0.1",
    "192.168.1.1",
    "100.64.0.1",  # carrier-grade NAT
    "0.0.0.0",
    "224.0.0.1",
    "fe80::1",
    "fc00::1",
    "::",
    "ff02::1",
    "::ffff:10.0.0.1",  # IPv4-mapped private
    "::ffff:169.254.169.254",
    "192.0.2.1",  # documentation: not global
]
LOOPBACK = ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"]


@pytest.mark.parametrize("address", REFUSED_ALWAYS)
@pytest.mark.parametrize("allow_loopback", [False, True])
def test_non_public_addresses_are_refused_even_with_loopback_allowed(address: str, allow_loopback: bool) -> None:
    assert targets.refusal(ipaddress.ip_address(address), allow_loopback) is not None


@pytest.mark.parametrize("address", LOOPBACK)
def test_loopback_only_with_the_development_setting(address: str) -> None:
    assert targets.refusal(ipaddress.ip_address(address), allow_loopback=False) == "a loopback address"
    assert targets.refusal(ipaddress.ip_address(address), allow_loopback=True) is None


@pytest.mark.parametrize("address", ["8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert targets.refusal(ipaddress.ip_address(address), allow_loopback=False) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://127.0.0.1:5432/",
        "http://localhost:5432/",  # a name: resolved, then refused for what it resolves to
        "http://[::1]:8003/hook",
        "http://10.0.0.1/hook",
        "ftp://8.8.8.8/hook",
    ],
)
async def test_check_refuses_without_connecting(url: str) -> None:
    with pytest.raises(targets.UnsafeTarget):
        await targets.check(url, allow_loopback=False)


async def test_check_admits_loopback_names_only_when_allowed() -> None:
    await targets.check("http://localhost:9/hook", allow_loopback=True)
    with pytest.raises(targets.UnsafeTarget, match="link-local"):
        await targets.check("http://169.254.169.254/", allow_loopback=True)
