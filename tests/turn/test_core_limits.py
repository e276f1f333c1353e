"""The per-project limit on concurrent core calls (gateway/turn/core_limits.py), alone: at most
`limit` bodies run at once, in arrival order; a project-wide 429 halves the limit once per
interval; answered calls raise it back to the ceiling; a caller cancelled in the queue (or just
after its turn came) loses no slot."""

from __future__ import annotations

import asyncio

import pytest

from gateway.turn import core_limits
from gateway.turn.core_limits import AdaptiveLimit, CoreLimits


async def _run(limit: AdaptiveLimit, order: list[int], n: int, peak: list[int]) -> None:
    async with limit.slot():
        order.append(n)
        peak[0] = max(peak[0], limit.in_flight)
        await asyncio.sleep(0.01)


async def test_at_most_limit_bodies_run_at_once_in_arrival_order() -> None:
    limit = AdaptiveLimit(3)
    order: list[int] = []
    peak = [0]
    await asyncio.gather(*(_run(limit, order, n, peak) for n in range(20)))
    assert order == list(range(20))
    assert peak[0] == 3
    assert limit.in_flight == 0


def test_a_storm_halves_the_limit_once_per_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr(core_limits.time, "monotonic", lambda: now[0])
    limit = AdaptiveLimit(64)
    for _ in range(50):  # the calls in flight when the first 429 came back: one signal
        limit.limited()
    assert limit.limit == 32
    now[0] += core_limits.DECREASE_INTERVAL_SECONDS
    limit.limited()
    assert limit.limit == 16
    for _ in range(10):
        now[0] += core_limits.DECREASE_INTERVAL_SECONDS
        limit.limited()
    assert limit.limit == 1  # never zero: one call still probes the core
    for _ in range(100):
        limit.answered()
    assert limit.limit == 64  # back up to the ceiling, never past it


async def test_a_raised_limit_lets_waiting_callers_in_at_once() -> None:
    limit = AdaptiveLimit(4)
    limit.limit = 1
    started = asyncio.Event()
    release = asyncio.Event()
    running: list[int] = []

    async def call(n: int) -> None:
        async with limit.slot():
            running.append(n)
            started.set()
            await release.wait()

    tasks = [asyncio.create_task(call(n)) for n in range(4)]
    await started.wait()
    await asyncio.sleep(0)
    assert running == [0]
    limit.answered()
    limit.answered()
    await asyncio.sleep(0)
    assert running == [0, 1, 2]
    release.set()
    await asyncio.gather(*tasks)
    assert limit.in_flight == 0


async def test_cancelled_waiters_lose_no_slot() -> None:
    limit = AdaptiveLimit(1)
    gate = asyncio.Event()

    async def hold() -> None:
        async with limit.slot():
            await gate.wait()

    holder = asyncio.create_task(hold())
    await asyncio.sleep(0)
    waiting = [asyncio.create_task(hold()) for _ in range(3)]
    await asyncio.sleep(0)
    waiting[0].cancel()  # cancelled while queued
    gate.set()
    await asyncio.sleep(0)  # the holder leaves; the slot is handed to waiting[1]
    waiting[1].cancel()  # cancelled after the slot was handed to it, before it ran
    await asyncio.gather(holder, *waiting, return_exceptions=True)
    assert limit.in_flight == 0
    async with asyncio.timeout(1):
        async with limit.slot():
            assert limit.in_flight == 1


def test_a_changed_setting_applies_to_the_projects_limit() -> None:
    limits = CoreLimits()
    first = limits.of(1, 100)
    assert limits.of(1, 100) is first
    assert limits.of(1, 10).limit == 10
    assert limits.of(2, 5).limit == 5
    assert limits.snapshot() == {1: (10, 0), 2: (5, 0)}
