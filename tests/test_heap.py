"""Full garbage collections wait for a moment without requests, and the C heap's free pages go
back to the system now and then (gateway/heap.py).

With thousands of turns waiting on a slow core, CPython started a full collection every second
or two of a burst, each a 100-180 ms pause of every webhook answer. The gateway takes them over:
they run when no request has come for a while, and at the latest every few minutes."""

from __future__ import annotations

import asyncio
import gc
import itertools
import platform
from typing import Any

import pytest

from gateway import heap
from gateway.heap import REQUESTS, FullCollections, HeapTrim
from tests.auxil import updates
from tests.auxil.harness import Harness

# Wall-clock windows: `make test` runs these alone, not beside the parallel workers.
pytestmark = pytest.mark.timing


def _full_collections() -> tuple[list[float], Any]:
    """A list that gets the loop time of each generation-2 collection, and its callback."""
    seen: list[float] = []

    def callback(phase: str, info: dict[str, Any]) -> None:
        if phase == "stop" and info["generation"] == 2:
            seen.append(asyncio.get_event_loop().time())

    gc.callbacks.append(callback)
    return seen, callback


async def test_cpython_no_longer_starts_full_collections_once_serving(harness: Harness) -> None:
    assert gc.get_threshold()[2] == heap.NEVER
    response = await harness.post_update(updates.message("hello", chat_id=5))
    assert response.status == 200
    assert REQUESTS.quiet_for() < 1.0  # the request was seen by the clock


async def test_a_full_collection_waits_while_requests_keep_coming(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(heap, "MIN_INTERVAL_S", 0.3)
    monkeypatch.setattr(heap, "QUIET_S", 0.4)
    seen, callback = _full_collections()
    try:
        busy_until = asyncio.get_event_loop().time() + 1.5
        while asyncio.get_event_loop().time() < busy_until:  # a request every 0.1 s
            response = await harness.post_update(updates.message("busy", chat_id=6))
            assert response.status == 200
            await asyncio.sleep(0.1)
        assert seen == []  # due since 0.3 s, but never quiet for 0.4 s
        await asyncio.sleep(1.2)  # quiet now
        assert len(seen) >= 1
        assert seen[0] >= busy_until + 0.3  # after the quiet moment, not during the requests
    finally:
        gc.callbacks.remove(callback)


def test_when_a_full_collection_is_due(monkeypatch: pytest.MonkeyPatch) -> None:
    quiet = {"for": 0.0}
    collections = FullCollections(lambda: quiet["for"])
    # A round start: `start + 300 - start` is not 300 for every clock reading (a CI run's
    # monotonic clock gave 299.99999999999...).
    start = collections._last = 1000.0
    assert not collections.due(start + heap.MIN_INTERVAL_S - 1)  # too soon, however quiet
    quiet["for"] = heap.QUIET_S
    assert not collections.due(start + heap.MIN_INTERVAL_S - 1)
    assert collections.due(start + heap.MIN_INTERVAL_S)  # quiet long enough
    quiet["for"] = heap.QUIET_S / 2
    assert not collections.due(start + heap.MIN_INTERVAL_S)  # requests keep coming...
    assert collections.due(start + heap.MAX_INTERVAL_S)  # ...but not for ever


async def test_cpython_gets_its_full_collections_back_when_they_stop() -> None:
    """Only a process that runs `FullCollections` turns CPython's own off (a one-shot command
    that merely froze its heap keeps them)."""
    before = gc.get_threshold()
    collections = FullCollections(lambda: 0.0)
    collections.start()
    try:
        assert gc.get_threshold()[2] == heap.NEVER
    finally:
        await collections.stop()
    assert gc.get_threshold() == before


def test_malloc_trim_is_found_where_the_c_library_is_glibc() -> None:
    trim = heap.malloc_trim()
    if platform.libc_ver()[0] != "glibc":
        assert trim is None
        return
    assert trim is not None
    assert trim() in (0, 1)  # 1: memory was given back


async def test_the_c_heap_is_trimmed_every_interval_until_stopped() -> None:
    calls: list[float] = []
    trimming = HeapTrim(lambda: calls.append(asyncio.get_event_loop().time()), interval=0.05)
    trimming.start()
    await asyncio.sleep(0.32)
    await trimming.stop()
    assert 4 <= len(calls) <= 7
    assert all(later - earlier >= 0.04 for earlier, later in itertools.pairwise(calls))
    stopped = len(calls)
    await asyncio.sleep(0.15)
    assert len(calls) == stopped


async def test_without_malloc_trim_nothing_is_started(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(heap, "malloc_trim", lambda: None)
    trimming = HeapTrim(interval=0.01)
    trimming.start()
    assert not any(task.get_name() == "heap-trim" for task in asyncio.all_tasks())
    await trimming.stop()


async def test_a_serving_gateway_trims_its_heap(harness: Harness) -> None:
    names = {task.get_name() for task in asyncio.all_tasks()}
    assert "heap-trim" in names


async def test_an_interval_of_zero_turns_trimming_off() -> None:
    calls: list[int] = []
    trimming = HeapTrim(lambda: calls.append(1), interval=0)
    trimming.start()
    await asyncio.sleep(0.05)
    assert calls == []
    assert not any(task.get_name() == "heap-trim" for task in asyncio.all_tasks())
    await trimming.stop()
