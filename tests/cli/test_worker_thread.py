"""`serve`'s worker on a thread of its own (gateway/cli/worker_thread.py).

Webhooks are acknowledged while the worker's event loop is busy, the turns they stored are
answered once it is free again, wake-ups do not pile up, and while the worker is behind the web
thread gives way after each request that handed it work."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from gateway.cli import worker_thread
from gateway.cli.worker_thread import WorkerThread, start_beside
from gateway.dev.fake_telegram import FakeTelegram
from gateway.dev.mock_core import MockCore
from gateway.metrics import Metrics
from tests.auxil import updates
from tests.auxil.harness import Harness, settings_for


@pytest_asyncio.fixture
async def web_and_worker(db_url: str) -> AsyncIterator[tuple[Harness, WorkerThread]]:
    """The web app on the test's loop (no loops of its own) and its worker on a thread, wired
    as `gateway serve` wires them."""
    interval = sys.getswitchinterval()
    h = Harness(db_url, FakeTelegram(), MockCore())
    # No polling: the worker's loop is only blocked while it holds no transaction (SQLite's
    # one writer would hold the webhooks' inserts for as long; wake-ups start every claim).
    await h.start(run_worker=False, poll_interval_seconds=30.0)
    assert h.runtime is not None
    worker = await start_beside(h.runtime, grace=5.0)
    await asyncio.sleep(0.3)  # its first claims are done
    try:
        yield h, worker
    finally:
        await asyncio.to_thread(worker.stop)
        await h.stop()
        sys.setswitchinterval(interval)


def _busy_python(seconds: float) -> None:
    """Holds the worker's event loop (not its thread's sleep: Python code, as turn work is)."""
    until = time.perf_counter() + seconds
    while time.perf_counter() < until:
        sum(range(200))


def _block_worker_loop(worker: WorkerThread, seconds: float) -> None:
    loop = worker._loop
    assert loop is not None
    loop.call_soon_threadsafe(_busy_python, seconds)


async def test_the_worker_runs_on_its_own_thread_and_answers(
    web_and_worker: tuple[Harness, WorkerThread],
) -> None:
    h, _ = web_and_worker
    assert "gateway-worker" in {thread.name for thread in threading.enumerate()}
    assert h.runtime is not None and not h.runtime.loops_running  # the web runs no loops
    response = await h.post_update(updates.message("hello", chat_id=41))
    assert response.status == 200
    await h.telegram.wait_for("sendMessage", 1)
    assert len(h.telegram.sent_texts(41)) == 1


async def test_webhooks_are_acknowledged_while_the_workers_loop_is_busy(
    web_and_worker: tuple[Harness, WorkerThread],
) -> None:
    h, worker = web_and_worker
    _block_worker_loop(worker, 1.5)
    await asyncio.sleep(0.05)  # the block has started
    started = time.monotonic()
    for n in range(3):
        response = await h.post_update(updates.message(f"during {n}", chat_id=50 + n))
        assert response.status == 200
    acknowledged = time.monotonic() - started
    assert acknowledged < 0.75, acknowledged  # not behind the worker's 1.5 s
    assert h.telegram.calls_to("sendMessage") == []  # the worker has not run yet
    await h.telegram.wait_for("sendMessage", 3, timeout=15.0)
    await asyncio.sleep(0.3)
    for n in range(3):  # each stored turn answered once, after the worker's loop was free
        assert len(h.telegram.sent_texts(50 + n)) == 1


async def test_wake_ups_do_not_pile_up_while_the_worker_is_busy(
    web_and_worker: tuple[Harness, WorkerThread],
) -> None:
    _, worker = web_and_worker
    runtime = worker._runtime
    assert runtime is not None
    calls: list[str] = []
    real = runtime.wake_worker

    def counted() -> None:
        calls.append(threading.current_thread().name)
        real()

    runtime.wake_worker = counted  # type: ignore[method-assign]
    _block_worker_loop(worker, 0.5)
    await asyncio.sleep(0.05)
    for _ in range(50):
        worker.wake("wake_worker")
    await asyncio.sleep(0.8)
    assert calls == ["gateway-worker"]  # one wake-up for the fifty, on the worker's thread
    worker.wake("wake_worker")
    await asyncio.sleep(0.2)
    assert len(calls) == 2  # and the next one is not lost


async def _pause_after_wake(worker: WorkerThread) -> float:
    """How long the web loop is held, right after a request handed the worker work."""
    started = time.perf_counter()
    worker.wake("wake_worker")
    assert time.perf_counter() - started < worker_thread.YIELD_SECONDS  # not inside the request
    await asyncio.sleep(0)  # the next step of this loop comes after the pause, if any
    return time.perf_counter() - started


async def test_the_web_gives_way_only_while_the_worker_is_behind(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(worker_thread, "YIELD_SECONDS", 0.05)
    settings = settings_for("sqlite+aiosqlite:///unused.db", "http://t", "http://c")
    worker = WorkerThread(settings, Metrics(), grace=1.0)  # not started: only the policy
    assert not worker.behind
    assert await _pause_after_wake(worker) < 0.04
    worker._behind_until = time.monotonic() + 0.5  # its probe just woke late
    assert worker.behind
    assert await _pause_after_wake(worker) >= 0.05
    worker._behind_until = time.monotonic() - 0.01
    assert await _pause_after_wake(worker) < 0.04


async def test_the_lag_probe_sees_a_busy_worker_loop(
    web_and_worker: tuple[Harness, WorkerThread],
) -> None:
    _, worker = web_and_worker
    await asyncio.sleep(0.1)
    assert not worker.behind
    _block_worker_loop(worker, 0.3)
    seen_behind = False
    deadline = time.monotonic() + 2.0
    while not seen_behind and time.monotonic() < deadline:
        seen_behind = worker.behind  # once the probe that waited through the block reports
        await asyncio.sleep(0.005)
    assert seen_behind
    await asyncio.sleep(worker_thread.BEHIND_HOLD_SECONDS + 0.2)
    assert not worker.behind  # and it recovers once the loop keeps time again
