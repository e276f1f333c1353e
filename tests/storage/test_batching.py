"""Group commit: batching, per-item results and failures, bounded flushes, loop hops."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from gateway.storage import batching
from gateway.storage.batching import GroupCommit


class Recorder:
    """A flush that records its batches; `gate` (when set) holds every write until released."""

    def __init__(self, gate: asyncio.Event | None = None) -> None:
        self.batches: list[list[int]] = []
        self.gate = gate
        self.in_flight = 0
        self.max_in_flight = 0

    async def flush(self, batch: list[int]) -> Sequence[int | BaseException]:
        self.batches.append(list(batch))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.gate is not None:
                await self.gate.wait()
            else:
                await asyncio.sleep(0)
        finally:
            self.in_flight -= 1
        return [ValueError(f"odd {item}") if item < 0 else item * 10 for item in batch]


async def test_submissions_of_one_iteration_share_one_write() -> None:
    recorder = Recorder()
    commits = GroupCommit("t", recorder.flush, max_in_flight=2)
    results = await asyncio.gather(*(commits.submit(i) for i in range(50)))
    assert results == [i * 10 for i in range(50)]
    assert recorder.batches == [list(range(50))]
    await commits.close()


async def test_results_follow_items_and_one_failure_fails_only_its_item() -> None:
    commits = GroupCommit("t", Recorder().flush)
    assert await commits.submit_many([3, 1, 2]) == [30, 10, 20]
    outcomes = await asyncio.gather(
        commits.submit(1), commits.submit(-1), commits.submit(2), return_exceptions=True
    )
    assert outcomes[0] == 10 and outcomes[2] == 20
    assert isinstance(outcomes[1], ValueError)
    with pytest.raises(ValueError):
        await commits.submit_many([4, -4])
    await commits.close()


async def test_a_failed_write_fails_its_whole_batch_and_the_next_one_works() -> None:
    calls = 0

    async def flaky(batch: list[int]) -> list[int]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("database away")
        return batch

    commits = GroupCommit("t", flaky)
    outcomes = await asyncio.gather(*(commits.submit(i) for i in range(3)), return_exceptions=True)
    assert all(isinstance(o, ConnectionError) for o in outcomes)
    assert await commits.submit(7) == 7
    await commits.close()


async def test_writes_in_flight_are_bounded_and_the_backlog_is_batched() -> None:
    gate = asyncio.Event()
    recorder = Recorder(gate)
    commits = GroupCommit("t", recorder.flush, max_batch=100, max_in_flight=2)
    waiters = []
    for i in range(5):  # five loop iterations, one item each: two writes start, three queue
        waiters.append(asyncio.create_task(commits.submit(i)))
        await asyncio.sleep(0)
        await asyncio.sleep(0)
    waiters += [asyncio.create_task(commits.submit(i)) for i in range(5, 250)]
    await asyncio.sleep(0.01)
    assert recorder.max_in_flight == 2
    assert recorder.batches == [[0], [1]]
    gate.set()
    assert await asyncio.gather(*waiters) == [i * 10 for i in range(250)]
    assert recorder.max_in_flight == 2
    rest = [item for batch in recorder.batches[2:] for item in batch]
    assert sorted(rest) == list(range(2, 250))
    assert all(len(batch) <= 100 for batch in recorder.batches)
    assert len(recorder.batches) <= 2 + 3  # the backlog went in few, full batches
    await commits.close()


async def test_a_cancelled_caller_does_not_disturb_the_others() -> None:
    gate = asyncio.Event()
    commits = GroupCommit("t", Recorder(gate).flush)
    first = asyncio.create_task(commits.submit(1))
    second = asyncio.create_task(commits.submit(2))
    await asyncio.sleep(0.01)
    first.cancel()
    gate.set()
    assert await second == 20
    with pytest.raises(asyncio.CancelledError):
        await first
    assert await commits.submit(3) == 30
    await commits.close()


async def test_a_lone_item_reaches_the_write_in_one_loop_iteration() -> None:
    """The submitting call starts the flusher itself: the write begins in the next iteration."""
    started = asyncio.Event()

    async def flush(batch: list[int]) -> list[int]:
        started.set()
        return batch

    commits = GroupCommit("t", flush)
    task = asyncio.create_task(commits.submit(1))
    await asyncio.sleep(0)  # iteration 1: the caller submits
    await asyncio.sleep(0)  # iteration 2: the flusher runs
    assert started.is_set()
    assert await task == 1
    await commits.close()


async def test_close_waits_for_queued_and_running_writes() -> None:
    gate = asyncio.Event()
    recorder = Recorder(gate)
    commits = GroupCommit("t", recorder.flush, max_in_flight=1)
    waiters = [asyncio.create_task(commits.submit(i)) for i in range(3)]
    await asyncio.sleep(0.01)
    closing = asyncio.create_task(commits.close())
    await asyncio.sleep(0.01)
    assert not closing.done()
    gate.set()
    await closing
    assert [w.result() for w in waiters] == [0, 10, 20]


async def test_a_trickle_lingers_so_its_items_share_a_write() -> None:
    """With a linger the worker's batches wait for company while they come one by one: items
    20 ms apart, a 150 ms linger: the first is written at once (nothing came before it), the
    next ones together."""
    recorder = Recorder()
    commits = GroupCommit("t", recorder.flush, linger=lambda: 0.15)
    loop = asyncio.get_running_loop()
    started = loop.time()
    first = await commits.submit(0)
    assert (first, loop.time() - started < 0.1) == (0, True)  # no wait after a quiet spell
    tasks = []
    for n in range(1, 5):
        tasks.append(asyncio.create_task(commits.submit(n)))
        await asyncio.sleep(0.02)
    assert await asyncio.gather(*tasks) == [10, 20, 30, 40]
    assert recorder.batches == [[0], [1, 2, 3, 4]]
    await commits.close()


async def test_without_a_linger_or_under_a_flood_nothing_waits() -> None:
    """No linger: every item is written as it comes, as before. A linger, but the previous
    batch was full enough (`LINGER_BELOW`): the next one is not held back either."""
    plain = Recorder()
    commits = GroupCommit("t", plain.flush)
    for n in range(3):
        await commits.submit(n)
    assert plain.batches == [[0], [1], [2]]
    await commits.close()

    flood = Recorder()
    commits = GroupCommit("t", flood.flush, linger=lambda: 5.0)
    first = list(range(batching.LINGER_BELOW))
    await asyncio.wait_for(asyncio.gather(*(commits.submit(n) for n in first)), 1)
    await asyncio.wait_for(commits.submit(100), 1)  # a 5 s linger would time out here
    assert flood.batches == [first, [100]]
    await commits.close()


def test_the_linger_is_a_small_share_of_the_cores_typical_time() -> None:
    typical = {"seconds": 0.0}
    linger = batching.linger_following(lambda: typical["seconds"])
    expected = {0.0: 0.0, 0.05: 0.0, 0.5: 0.005, 2.0: 0.02, 30.0: batching.LINGER_CAP_S}
    for seconds, wanted in expected.items():
        typical["seconds"] = seconds
        assert linger() == pytest.approx(wanted), seconds


async def test_the_backlog_counts_items_queued_and_being_written_until_they_are_done() -> None:
    gate = asyncio.Event()
    commits = GroupCommit("t", Recorder(gate).flush, max_batch=2, max_in_flight=1)
    assert commits.backlog == 0
    waiting = [asyncio.create_task(commits.submit(i)) for i in range(5)]
    await asyncio.sleep(0.01)
    assert commits.backlog == 5  # two in the transaction, three queued behind it
    gate.set()
    assert await asyncio.gather(*waiting) == [0, 10, 20, 30, 40]
    assert commits.backlog == 0
    await commits.close()


async def test_a_failed_write_leaves_no_backlog_behind() -> None:
    async def broken(batch: list[int]) -> Sequence[int]:
        raise RuntimeError("database away")

    commits = GroupCommit("t", broken)
    with pytest.raises(RuntimeError):
        await commits.submit(1)
    assert commits.backlog == 0
    await commits.close()


async def test_it_counts_what_it_wrote_recently(monkeypatch: pytest.MonkeyPatch) -> None:
    loop = asyncio.get_running_loop()
    now = [1000.0]
    monkeypatch.setattr(loop, "time", lambda: now[0])
    commits = GroupCommit("t", Recorder().flush)
    assert commits.written_within(1.0) == 0
    await commits.submit_many([1, 2, 3])
    now[0] += 0.5
    await commits.submit(4)
    assert commits.written_within(0.1) == 1
    assert commits.written_within(1.0) == 4
    now[0] += batching.WRITTEN_HORIZON_S  # the first batch leaves the window, 4 is at its edge
    assert commits.written_within(batching.WRITTEN_HORIZON_S) == 1
    await commits.submit(5)
    assert commits.written_within(0.1) == 1
    assert [items for _, items in commits._written] == [1, 1]  # the first batch pruned
    await commits.close()
