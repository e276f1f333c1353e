"""The URL guard (`gateway.netguard`): address kinds, URL policies, and the connector that checks
every address at connect time (real HTTP to a loopback server)."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

from gateway.netguard import (
    OPERATOR,
    Reach,
    RefusedAddress,
    app_policy,
    check_saved,
    classify,
    failure_class,
    guarded_connector,
    status_class,
)

PUBLIC = ["8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8", "93.184.215.14"]
PRIVATE = [
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "127.0.0.1",
    "127.8.9.10",
    "100.64.0.1",  # CGNAT
    "::1",
    "fd12:3456::1",  # unique local
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
]
FORBIDDEN = [
    "169.254.169.254",  # AWS / GCP / Azure IMDS
    "169.254.170.2",  # ECS task metadata
    "169.254.1.1",  # link-local
    "fd00:ec2::254",  # AWS IMDS over IPv6 (in the unique-local range)
    "100.100.100.200",  # Alibaba (in CGNAT)
    "168.63.129.16",  # Azure wire server (a public address)
    "0.0.0.0",
    "0.1.2.3",
    "::",
    "fe80::1",
    "fe80::1%eth0",
    "224.0.0.1",
    "ff02::1",
    "255.255.255.255",
    "240.0.0.1",
    "::ffff:169.254.169.254",  # IPv4-mapped
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
]


@pytest.mark.parametrize(
    ("address", "kind"),
    [(a, Reach.PUBLIC) for a in PUBLIC]
    + [(a, Reach.PRIVATE) for a in PRIVATE]
    + [(a, Reach.FORBIDDEN) for a in FORBIDDEN],
)
def test_every_address_has_a_kind(address: str, kind: Reach) -> None:
    assert classify(address) is kind


def test_app_urls_need_https_and_a_public_address_unless_allowed() -> None:
    strict = app_policy(False, "")
    assert strict.check_url("https://93.184.215.14/hook") == "93.184.215.14"
    for url in (
        "http://93.184.215.14/hook",
        "https://127.0.0.1/hook",
        "https://[::1]:8443/hook",
        "https://10.0.0.7/hook",
        "https://169.254.169.254/latest/meta-data",
        "ftp://93.184.215.14/",
    ):
        with pytest.raises(RefusedAddress):
            strict.check_url(url)
    relaxed = app_policy(True, "")
    assert relaxed.check_url("http://127.0.0.1:9/hook") == "127.0.0.1"
    with pytest.raises(RefusedAddress, match="never called"):
        relaxed.check_url("http://169.254.169.254/")
    named = app_policy(False, " Hooks.Internal. , other.test")
    named.check_address("hooks.internal", "10.0.0.5")
    with pytest.raises(RefusedAddress):
        named.check_address("else.internal", "10.0.0.5")
    with pytest.raises(RefusedAddress):  # a named host still never reaches metadata
        named.check_address("hooks.internal", "169.254.169.254")
    with pytest.raises(RefusedAddress, match="https"):
        named.check_url("http://hooks.internal/x")


def test_operator_urls_may_be_private_never_metadata() -> None:
    OPERATOR.check_url("http://10.0.0.5:8787")
    OPERATOR.check_url("http://core.internal:8787")
    for url in ("http://169.254.169.254", "http://[fd00:ec2::254]/", "http://100.100.100.200"):
        with pytest.raises(RefusedAddress):
            OPERATOR.check_url(url)


def _resolving_to(*addresses: str) -> Any:
    async def resolve(host: str) -> list[str]:
        return list(addresses)

    return resolve


async def test_save_time_check_resolves_the_host() -> None:
    strict = app_policy(False, "")
    await check_saved("https://hooks.example.test/x", strict, resolve=_resolving_to("8.8.8.8"))
    with pytest.raises(RefusedAddress, match="private"):
        mixed = _resolving_to("8.8.8.8", "10.0.0.1")  # one bad record is enough
        await check_saved("https://hooks.example.test/x", strict, resolve=mixed)
    with pytest.raises(RefusedAddress, match="does not resolve"):
        await check_saved("https://hooks.example.test/x", strict, resolve=_resolving_to())
    # An operator URL that does not resolve here may still resolve where the gateway runs.
    await check_saved("http://core.internal", OPERATOR, resolve=_resolving_to())
    with pytest.raises(RefusedAddress, match="never called"):
        metadata = _resolving_to("169.254.169.254")
        await check_saved("http://metadata.google.internal", OPERATOR, resolve=metadata)
    await check_saved("https://localhost/x", app_policy(False, "localhost"))  # the real resolver


class _Rebound(AbstractResolver):
    """A name that resolved to a public address when saved now resolves to loopback."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            {
                "hostname": host,
                "host": "127.0.0.1",
                "port": port,
                "family": socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
        ]

    async def close(self) -> None:
        pass


@pytest_asyncio.fixture
async def server() -> AsyncIterator[tuple[str, list[str]]]:
    hits: list[str] = []

    async def hit(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", hit)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"{runner.addresses[0][1]}", hits
    await runner.cleanup()


async def test_connector_refuses_a_name_that_now_resolves_to_a_private_address(
    server: tuple[str, list[str]],
) -> None:
    port, hits = server
    strict = app_policy(False, "")
    connector = guarded_connector(strict, resolver=_Rebound())
    async with aiohttp.ClientSession(connector=connector) as http:
        with pytest.raises(aiohttp.ClientConnectorError) as caught:
            await http.get(f"http://hooks.example.test:{port}/x")
        assert failure_class(caught.value) == "refused_address"
        # Written as an address, the host is never given to a resolver: checked all the same.
        with pytest.raises(aiohttp.ClientConnectorError) as caught:
            await http.get(f"http://127.0.0.1:{port}/y")
        assert failure_class(caught.value) == "refused_address"
    assert hits == []
    # The operator policy lets the same private address through.
    connector = guarded_connector(resolver=_Rebound())
    async with (
        aiohttp.ClientSession(connector=connector) as http,
        http.get(f"http://core.example.test:{port}/z") as resp,
    ):
        assert resp.status == 200
    assert hits == ["/z"]


async def test_connector_refuses_metadata_addresses_before_connecting() -> None:
    async with aiohttp.ClientSession(connector=guarded_connector()) as http:
        for url in ("http://169.254.169.254/latest/meta-data/", "http://[::ffff:a9fe:a9fe]/"):
            with pytest.raises(aiohttp.ClientConnectorError) as caught:
                await http.get(url)
            assert failure_class(caught.value) == "refused_address"


def test_stored_error_classes() -> None:
    assert [status_class(s) for s in (301, 302, 404, 429, 500, 503)] == [
        "redirect",
        "redirect",
        "http_4xx",
        "http_4xx",
        "http_5xx",
        "http_5xx",
    ]
    assert failure_class(TimeoutError()) == "timeout"
    assert failure_class(aiohttp.ServerDisconnectedError()) == "disconnected"
