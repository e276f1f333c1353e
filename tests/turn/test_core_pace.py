"""The worker's batches wait for company in proportion to how long the core takes: the core
client keeps the typical time of its calls, the runtime's linger follows it
(gateway/storage/batching.py)."""

from __future__ import annotations

import asyncio

from gateway import runtime as runtime_module
from gateway.dev.mock_core import MockCore
from gateway.metrics import Metrics
from gateway.storage import batching, worker
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
        assert client.current_wait_seconds() is None  # nothing known of the core yet
        calls = (client.create_response(_request(url, n)) for n in range(4))
        results = await asyncio.gather(*calls)
        assert [r.status for r in results] == [200] * 4
        # Seeded by the first call, not averaged up from 0 (which would give 0.3 x (1 - 0.95^4)
        # = 0.06 s: a core answering in 0.3 s would look five times faster than it is).
        assert client.timed_calls == 4
        assert 0.3 <= client.typical_seconds < 0.35
        # Later calls weigh TYPICAL_WEIGHT each: one 1.3 s call moves it by a twentieth of 1 s.
        core.controls.delay_seconds = 1.3
        before = client.typical_seconds
        await client.create_response(_request(url, 5))
        moved = client.typical_seconds - before
        assert TYPICAL_WEIGHT * 0.95 <= moved < TYPICAL_WEIGHT * 1.1
    finally:
        await client.close()
        await core.stop()


async def test_a_call_still_out_counts_once_it_is_older_than_the_typical_time() -> None:
    """A core that turns slow shows in `current_wait_seconds` before its first slow answer."""
    core = MockCore()
    core.controls.delay_seconds = 0.0
    url = await core.start()
    client = CoreClient(Metrics(), timeout=5, attempts=1)
    try:
        await client.create_response(_request(url, 0))
        fast = client.current_wait_seconds()
        assert fast is not None and fast < 0.2
        core.controls.delay_seconds = 1.0
        call = asyncio.create_task(client.create_response(_request(url, 1)))
        await asyncio.sleep(0.6)
        out_for = client.current_wait_seconds()
        assert out_for is not None and 0.55 <= out_for < 1.0
        assert (await call).status == 200
        after = client.current_wait_seconds()
        assert after is not None and after < 0.2  # back to the average: no call out
    finally:
        await client.close()
        await core.stop()


async def test_a_failed_call_is_not_left_counted_as_out() -> None:
    client = CoreClient(Metrics(), timeout=1, attempts=1)
    try:
        result = await client.create_response(_request("http://127.0.0.1:9", 0))
        assert result.status is None  # nothing listens there
        assert client._outstanding == {}
        assert client.timed_calls == 1
    finally:
        await client.close()


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


async def test_the_turns_claims_are_small_only_while_turns_finish_fast_against_a_fast_core(
    harness: Harness,
) -> None:
    """Wired through: the inbox loop claims `CLAIM_BATCH_MAX` rows at a time while nothing is
    known of the core, while turns finish slower than `FAST_FINISHING` and against a core
    answering in seconds; `FAST_CORE_CLAIM_BATCH` while turns finish fast against a fast core."""
    runtime = harness.runtime
    assert runtime is not None
    writer = runtime.pipeline.writer
    core = runtime.core
    turns, seconds = runtime_module.FAST_FINISHING
    written = [0]
    writer.written_within = lambda within: written[0] if within == seconds else -1  # type: ignore[method-assign]
    assert runtime.inbox_loop.batch() == worker.CLAIM_BATCH_MAX
    written[0] = turns
    core.timed_calls, core.typical_seconds = 0, 0.0
    assert runtime.inbox_loop.batch() == worker.CLAIM_BATCH_MAX  # no answer yet: unknown
    core.timed_calls, core.typical_seconds = 1, 0.01
    assert runtime.inbox_loop.batch() == worker.FAST_CORE_CLAIM_BATCH
    core.typical_seconds = 3.0
    assert runtime.inbox_loop.batch() == worker.CLAIM_BATCH_MAX
    core.typical_seconds = 0.01
    written[0] = turns - 1  # moderate traffic: the next burst may meet a core turned slow
    assert runtime.inbox_loop.batch() == worker.CLAIM_BATCH_MAX
    assert runtime.outbox_loop.batch() == worker.CLAIM_BATCH_MAX  # sends: unchanged
    del writer.written_within
    # Real turns are counted by the writer.
    for n in range(3):
        resp = await harness.post_update(updates.message(f"hi {n}", chat_id=710 + n))
        assert resp.status == 200
    await harness.telegram.wait_for("sendMessage", count=3)
    assert writer.written_within(batching.WRITTEN_HORIZON_S) == 3
