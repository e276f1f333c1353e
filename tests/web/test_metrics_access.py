"""Who may read /metrics: a bearer token (GATEWAY_METRICS_TOKEN), a port of its own
(GATEWAY_METRICS_PORT), or, with neither set, anyone who reaches the public port."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest_asyncio

from gateway.dev.fake_telegram import FakeTelegram
from gateway.dev.mock_core import MockCore
from tests.auxil.harness import Harness, free_port

METRICS_TOKEN = "metrics-token-for-tests-0123456789"


@pytest_asyncio.fixture
async def guarded(db_url: str) -> AsyncIterator[Harness]:
    h = Harness(db_url, FakeTelegram(), MockCore())
    await h.start(metrics_token=METRICS_TOKEN)
    try:
        yield h
    finally:
        await h.stop()


async def _get(http: aiohttp.ClientSession, url: str, auth: str | None = None) -> tuple[int, str]:
    headers = {"Authorization": auth} if auth is not None else {}
    async with http.get(url, headers=headers) as resp:
        return resp.status, await resp.text()


async def test_metrics_need_the_bearer_token_when_one_is_set(guarded: Harness) -> None:
    assert guarded.http is not None
    url = f"{guarded.base_url}/metrics"
    for auth in (
        None,
        "",
        "Bearer",
        "Bearer wrong-token",
        f"Bearer {METRICS_TOKEN[:-1]}",
        f"Basic {METRICS_TOKEN}",
        METRICS_TOKEN,
    ):
        status, body = await _get(guarded.http, url, auth)
        assert status == 401, auth
        assert "gateway_" not in body and METRICS_TOKEN not in body
    status, body = await _get(guarded.http, url, f"Bearer {METRICS_TOKEN}")
    assert status == 200
    assert "gateway_webhooks_total" in body
    # Health stays open to load balancers.
    assert (await _get(guarded.http, f"{guarded.base_url}/health/live"))[0] == 200


async def test_metrics_on_their_own_port_leave_the_public_one(db_url: str) -> None:
    port = free_port()
    h = Harness(db_url, FakeTelegram(), MockCore())
    await h.start(metrics_port=port, metrics_token=METRICS_TOKEN)
    try:
        assert h.http is not None
        auth = f"Bearer {METRICS_TOKEN}"
        assert (await _get(h.http, f"{h.base_url}/metrics", auth))[0] == 404
        assert (await _get(h.http, f"{h.base_url}/health/ready"))[0] == 200
        apart = f"http://127.0.0.1:{port}/metrics"
        assert (await _get(h.http, apart))[0] == 401
        status, body = await _get(h.http, apart, auth)
        assert status == 200 and "gateway_build_info" in body
    finally:
        await h.stop()
    async with aiohttp.ClientSession() as http:  # the second listener stopped with the app
        try:
            await _get(http, f"http://127.0.0.1:{port}/metrics")
        except aiohttp.ClientConnectionError:
            pass
        else:
            raise AssertionError("the metrics port still answers after shutdown")
