"""`gateway serve`'s event loop: the web's callbacks first, the worker's in bounded slices, no
one starved, each side first in, first out (gateway/fair_loop.py)."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import socket
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from gateway import fair_loop

# Wall-clock windows: `make test` runs these alone, not beside the parallel workers.
pytestmark = pytest.mark.timing


def _web_context() -> contextvars.Context:
    context = contextvars.copy_context()
    context.run(fair_loop.serve_first)
    return context


def _busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def _run(loop: asyncio.AbstractEventLoop, main: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    try:
        return loop.run_until_complete(main())
    finally:
        loop.close()


def test_the_loop_is_fair_on_this_python() -> None:
    loop = fair_loop.new_event_loop()
    try:
        assert fair_loop.is_fair(loop)
        assert not fair_loop.is_fair(asyncio.new_event_loop())
    finally:
        loop.close()


def test_web_callbacks_run_first_and_each_side_keeps_its_order() -> None:
    loop = fair_loop.new_event_loop()
    web = _web_context()
    ran: list[str] = []
    for n in range(3):
        loop.call_soon(ran.append, f"worker{n}")
        loop.call_soon(ran.append, f"web{n}", context=web)
    loop.call_soon(loop.stop)
    loop.run_forever()
    loop.close()
    assert ran == ["web0", "web1", "web2", "worker0", "worker1", "worker2"]


def test_a_plain_loop_runs_them_in_arrival_order() -> None:
    """The control for the test above: the order comes from the fair loop."""
    loop = asyncio.new_event_loop()
    web = _web_context()
    ran: list[str] = []
    for n in range(2):
        loop.call_soon(ran.append, f"worker{n}")
        loop.call_soon(ran.append, f"web{n}", context=web)
    loop.call_soon(loop.stop)
    loop.run_forever()
    loop.close()
    assert ran == ["worker0", "web0", "worker1", "web1"]


async def _web_steps_while_worker_busy(steps: int) -> tuple[float, int]:
    """A web task takes `steps` I/O-free steps while 20 worker tasks each burn 1 ms per step:
    (seconds the web task took, worker steps done meanwhile)."""
    stop = False
    worker_steps = 0

    async def worker_task() -> None:
        nonlocal worker_steps
        while not stop:
            _busy(0.001)
            worker_steps += 1
            await asyncio.sleep(0)

    async def web_task() -> float:
        started = time.perf_counter()
        for _ in range(steps):
            await asyncio.sleep(0)
        return time.perf_counter() - started

    workers = [asyncio.create_task(worker_task()) for _ in range(20)]
    await asyncio.sleep(0.05)  # the worker is in full swing
    done_before = worker_steps
    web = _web_context()
    took = await asyncio.get_running_loop().create_task(web_task(), context=web)
    done = worker_steps - done_before
    stop = True
    await asyncio.gather(*workers)
    return took, done


def test_a_request_does_not_wait_behind_the_whole_worker() -> None:
    fair, fair_done = _run(fair_loop.new_event_loop(), lambda: _web_steps_while_worker_busy(10))
    plain, _ = _run(asyncio.new_event_loop(), lambda: _web_steps_while_worker_busy(10))
    # Plain: each step waits a whole iteration (20 ms of worker steps); fair: at most a slice.
    assert plain > 0.1
    assert fair < plain / 4
    assert fair_done >= 1  # the worker kept going meanwhile


def _slice_with_a_request_arriving(loop: asyncio.AbstractEventLoop) -> list[str]:
    """One iteration: a web callback of 5 ms (the worker's slice may then take 30), then 20
    worker callbacks of 1 ms; the 4th makes a web socket readable. What ran, in order, in that
    iteration."""
    web = _web_context()
    ours, theirs = socket.socketpair()
    ran: list[str] = []

    def read() -> None:
        ours.recv(16)
        ran.append("web-read")

    try:
        ours.setblocking(False)
        web.run(loop.add_reader, ours.fileno(), read)
        loop.call_soon(_busy, 0.005, context=web)
        for n in range(20):
            loop.call_soon(lambda n=n: (_busy(0.001), ran.append(f"worker{n}")))
            if n == 3:
                loop.call_soon(theirs.send, b"x")
        loop.call_soon(loop.stop)
        loop.run_forever()
        loop.remove_reader(ours.fileno())
    finally:
        ours.close()
        theirs.close()
        loop.close()
    return ran


def test_a_request_arriving_during_the_workers_slice_is_served_before_the_rest_of_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The loop peeks at its sockets during the worker's slice: the web's socket that became
    ready is read at once, not after the slice (then the next poll)."""
    ran = _slice_with_a_request_arriving(fair_loop.new_event_loop())
    assert "web-read" in ran
    assert ran.index("web-read") <= ran.index("worker5")
    assert ran[-1] == "worker19"  # the slice then goes on

    monkeypatch.setattr(fair_loop, "PEEK_S", float("inf"))  # the control: no peeking
    assert "web-read" not in _slice_with_a_request_arriving(fair_loop.new_event_loop())


def test_a_socket_peeked_at_but_not_yet_served_is_served_once() -> None:
    """A peek found two web sockets ready but the iteration had room for one callback more: the
    other's callback waits first in line, and the loop's next poll, which reports its socket
    again, does not queue it a second time."""
    loop = fair_loop.new_event_loop()
    web = _web_context()
    pairs = {name: socket.socketpair() for name in ("a", "b")}
    ran: list[str] = []

    def read(name: str) -> None:
        ran.append(name)
        with contextlib.suppress(BlockingIOError):
            pairs[name][0].recv(16)

    def worker0() -> None:
        for _, theirs in pairs.values():
            theirs.send(b"x")
        _busy(0.001)  # past PEEK_S: the next step peeks
        ran.append("worker0")

    try:
        for name, (ours, _) in pairs.items():
            ours.setblocking(False)
            web.run(loop.add_reader, ours.fileno(), read, name)
        loop.call_soon(worker0)
        loop.call_soon(ran.append, "worker1")
        loop.call_later(0.05, loop.stop)
        loop.run_forever()
        for ours, _ in pairs.values():
            loop.remove_reader(ours.fileno())
    finally:
        for pair in pairs.values():
            for sock in pair:
                sock.close()
        loop.close()
    # Iteration 1 had room for two: worker0, then the first peeked socket; the second socket
    # came first in iteration 2, before the worker's callback left over from iteration 1.
    assert ran == ["worker0", "a", "b", "worker1"]


async def _shares(web_tasks: int, worker_tasks: int, seconds: float) -> tuple[float, float]:
    """Both sides burn 1 ms per step, as many tasks each as asked: each side's share of the
    time (web, worker)."""
    stop = False
    spent = {"web": 0.0, "worker": 0.0}

    async def spin(side: str) -> None:
        while not stop:
            started = time.perf_counter()
            _busy(0.001)
            spent[side] += time.perf_counter() - started  # as the loop's slices count it
            await asyncio.sleep(0)

    loop = asyncio.get_running_loop()
    web = _web_context()
    tasks = [loop.create_task(spin("web"), context=web) for _ in range(web_tasks)]
    tasks += [asyncio.create_task(spin("worker")) for _ in range(worker_tasks)]
    await asyncio.sleep(seconds)
    stop = True
    await asyncio.gather(*tasks)
    total = spent["web"] + spent["worker"]
    return spent["web"] / total, spent["worker"] / total


def test_a_flood_of_requests_leaves_the_worker_its_share() -> None:
    """The web cannot crowd the worker out: with both saturated the worker gets REST_SHARE
    times the web's time (6/7), where a plain loop gives each side what it has ready."""
    web, worker = _run(fair_loop.new_event_loop(), lambda: _shares(5, 40, 0.6))
    expected = fair_loop.REST_SHARE / (1 + fair_loop.REST_SHARE)
    assert worker == pytest.approx(expected, abs=0.1)
    assert web == pytest.approx(1 - expected, abs=0.1)


def test_a_busy_worker_leaves_the_web_its_share() -> None:
    """The other way round: many more web steps than worker steps ready; every web step of an
    iteration runs, and the worker still runs its slice each iteration."""
    web, worker = _run(fair_loop.new_event_loop(), lambda: _shares(40, 5, 0.6))
    assert web > 0.75
    assert worker > 0.05


def test_callbacks_from_other_threads_wake_the_loop() -> None:
    loop = fair_loop.new_event_loop()

    async def main() -> str:
        future: asyncio.Future[str] = loop.create_future()
        thread = threading.Thread(
            target=lambda: (time.sleep(0.05), loop.call_soon_threadsafe(future.set_result, "ok"))
        )
        thread.start()
        try:
            return await asyncio.wait_for(future, 5)
        finally:
            thread.join()

    assert _run(loop, main) == "ok"


def test_timers_and_cancelled_callbacks_behave_as_on_a_plain_loop() -> None:
    loop = fair_loop.new_event_loop()
    web = _web_context()
    ran: list[str] = []

    async def main() -> None:
        loop.call_later(0.02, ran.append, "worker-timer")
        loop.call_later(0.01, ran.append, "web-timer", context=web)
        loop.call_soon(ran.append, "cancelled").cancel()
        loop.call_soon(ran.append, "cancelled-web", context=web).cancel()
        await asyncio.sleep(0.05)

    _run(loop, main)
    assert ran == ["web-timer", "worker-timer"]


@pytest.mark.parametrize(("no_worker", "fair"), [(False, True), (True, False)])
def test_serve_runs_on_the_fair_loop_when_the_worker_is_beside_the_web(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any, no_worker: bool, fair: bool
) -> None:
    """`gateway serve` (the command) runs its server on the fair loop; `--no-worker` on a plain
    one (there is no worker to order the web before)."""
    from gateway.cli import main, serving
    from tests.auxil.cli import cli_env

    seen: list[bool] = []

    async def fake_serve(*_args: Any, **_kwargs: Any) -> None:
        seen.append(fair_loop.is_fair(asyncio.get_running_loop()))

    for name, value in cli_env(f"sqlite+aiosqlite:///{tmp_path}/g.db", "http://x").items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(serving, "serve", fake_serve)
    main.serve(port=1, host="127.0.0.1", no_worker=no_worker)
    assert seen == [fair]
