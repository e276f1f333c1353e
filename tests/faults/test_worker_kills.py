"""`gateway worker` SIGKILLed three times during a burst of 500 turns: one reply each, in order."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.auxil.faultkit import (
    Fleet,
    Poster,
    answered_seqs,
    doubled_before_kills,
    explain,
    fault_env,
    plan_turns,
    unexplained_doubles,
    wait_for_replies,
)
from tests.auxil.harness import eventually, free_port
from tests.faults.conftest import Fakes


@pytest.mark.faults
async def test_worker_killed_three_times_during_a_burst_answers_every_turn_once(
    pg_url: str, fakes: Fakes, tmp_path: Path
) -> None:
    telegram = fakes.telegram
    plan = plan_turns(500, 100)
    port = free_port()
    # A little core latency keeps turns in flight (core calls, final writes, sends) at each kill.
    fakes.core.controls.delay_seconds = 0.05
    fleet = Fleet(tmp_path, fault_env(pg_url, fakes.telegram_url, fakes.core_url))
    progress_at_kill: list[int] = []
    try:
        await fleet.serve("web", port, "--no-worker")
        worker = fleet.start("worker-0", ["worker"])
        async with Poster(port) as poster:
            posting = asyncio.create_task(poster.deliver_all(plan, within=60))
            for n, share in enumerate((0.15, 0.4, 0.65), start=1):
                target = int(share * len(plan))
                await eventually(
                    lambda target=target: len(answered_seqs(telegram)) >= target,
                    timeout=60,
                    interval=0.01,
                    message=f"{target} replies before kill {n}\n{fleet.tail()}",
                )
                await fleet.kill(worker)
                progress_at_kill.append(len(answered_seqs(telegram)))
                worker = fleet.start(f"worker-{n}", ["worker"])
            await asyncio.wait_for(posting, 90)
        assert poster.unacked(plan) == [], "the web process acknowledges every update"
        assert set(poster.outcomes()) == {200}, poster.outcomes()
        verdict = await wait_for_replies(telegram, plan, timeout=120)
        assert all(p < len(plan) for p in progress_at_kill), progress_at_kill
        # None lost, none out of order; the only doubles allowed are sends the Bot API accepted
        # in the instant before a SIGKILL (see faultkit.unexplained_doubles and docs/delivery.md).
        unexplained = unexplained_doubles(telegram, verdict, fleet.kills)
        assert not (verdict.missing or verdict.out_of_order or verdict.unexpected or unexplained), (
            f"doubles not explained by a kill: {unexplained}\n"
            f"{verdict.describe()}\nreplies at each kill: {progress_at_kill}\n"
            f"{doubled_before_kills(telegram, verdict, fleet.kills)}\n"
            f"{await explain(pg_url, plan, verdict, telegram, fleet.logs())}\n{fleet.tail()}"
        )
    finally:
        await fleet.close()
