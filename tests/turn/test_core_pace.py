"""The worker's batches wait for company in proportion to how long the core takes: the core
client keeps the typical time of its calls, the runtime's linger follows it
(gateway/storage/batching.py)."""

from __future__ import annotations

import asyncio

from gateway.dev.mock_core import MockCore
from gateway.metrics import Metrics
from gateway.storage import batching
from gateway.turn.core_client import TYPICAL_WEIGHT, CoreClient, CoreRequest
from tests.auxil import updates
from tests.auxil.harness import Harness


def _request(base_url: str, n: int) -> CoreRequest:
    return CoreRequest(
        base_url=base_url,
        api_key=None,
        idempotency_key=f"pace-{n}",
        model="m",
        user="u",
        input=f"hello {n}",
        previous_response_id=None,
        metadata={},
    )


async def test_the_client_keeps_the_typical_time_of_its_calls() -> None:
    core = MockCore()
    core.controls.delay_seconds = 0.3
    url = await core.start()
    client = CoreClient(Metrics(), timeout=5, attempts=1)
    try:
        assert client.typical_seconds == 0.0
        calls = (client.create_response(_request(url, n)) for n in range(4))
        results = await asyncio.gather(*calls)
        assert [r.status for r in results] == [200] * 4
        # Each call weighs TYPICAL_WEIGHT: four 0.3 s calls from 0 give 0.3 x (1 - 0.95^4).
        floor = 0.3 * (1 - (1 - TYPICAL_WEIGHT) ** 4)
        assert floor <= client.typical_seconds < floor + 0.05
    finally:
        await client.close()
        await core.stop()


async def test_the_runtimes_batches_linger_with_the_cores_time(harness: Harness) -> None:
    """Wired through: a core taking seconds makes the finished turns' writes and both claim
    loops wait up to `LINGER_CAP_S` for company, and the turns still go through."""
    runtime = harness.runtime
    assert runtime is not None
    assert runtime.linger() == 0.0  # a fast core: no linger
    runtime.core.typical_seconds = 3.0
    assert runtime.linger() == batching.LINGER_CAP_S
    assert runtime.inbox_loop.debounce is runtime.linger
    assert runtime.outbox_loop.debounce is runtime.linger
    assert runtime.pipeline.writer._batches.linger is runtime.linger
    for n in range(3):
        resp = await harness.post_update(updates.message(f"hi {n}", chat_id=700 + n))
        assert resp.status == 200
    await harness.telegram.wait_for("sendMessage", count=3)
