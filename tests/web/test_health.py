"""Readiness names the builds: the gateway's own version, and the core's as it last reported it
(a background probe of `GET {core}/health`, then the headers of real turns), never waiting for
the core."""

from __future__ import annotations

from importlib import metadata
from typing import Any

from tests.auxil import updates
from tests.auxil.harness import Harness, eventually

VERSION = metadata.version("channel-gateway")


async def _ready(harness: Harness) -> dict[str, Any]:
    assert harness.http is not None
    async with harness.http.get(f"{harness.base_url}/health/ready") as resp:
        assert resp.status == 200
        body: dict[str, Any] = await resp.json()
        return body


async def test_readiness_carries_the_gateway_and_core_builds(harness: Harness) -> None:
    first = await _ready(harness)
    assert first["status"] == "ok" and first["database"] == "ok"
    assert first["gateway"]["version"] == VERSION
    assert "commit" in first["gateway"]
    assert first["core"] == "unknown"  # not asked yet: readiness started a probe, did not wait

    async def probed() -> Any:
        core = (await _ready(harness))["core"]
        return core if isinstance(core, dict) else None

    core = await eventually(probed)
    assert core["version"] == harness.core.version and core["build"] == "mock"
    assert core["source"] == "health"

    # At most one probe a minute: a change in the core shows only once a real answer says it.
    harness.core.version, harness.core.build = "9.9.9", "abc123"
    assert (await _ready(harness))["core"]["version"] == core["version"]
    await harness.post_update(updates.message("hello"))
    await harness.telegram.wait_for("sendMessage", 1)
    after_turn = (await _ready(harness))["core"]
    assert after_turn["version"] == "9.9.9" and after_turn["build"] == "abc123"
    assert after_turn["source"] == "response header"

    assert harness.http is not None
    async with harness.http.get(f"{harness.base_url}/metrics") as resp:
        text = await resp.text()
    assert (
        f'gateway_build_info{{commit="{first["gateway"]["commit"] or ""}",version="{VERSION}"}} 1.0'
        in text
    )


async def test_readiness_stays_ok_when_the_core_says_nothing_or_is_down(harness: Harness) -> None:
    harness.core.version = harness.core.build = None
    assert (await _ready(harness))["core"] == "unknown"
    await harness.core.stop()
    for _ in range(3):
        ready = await _ready(harness)
        assert ready["status"] == "ok" and ready["core"] == "unknown"
