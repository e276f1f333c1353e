"""`gateway serve` stopped with SIGTERM (a deploy's restart) during a burst of 200 turns: it drains
(stops claiming, finishes or releases what it holds) and after a restart every turn completes
exactly once: no loss, no double, order kept per chat."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.auxil.faultkit import Fleet, Poster, explain, fault_env, plan_turns, wait_for_replies
from tests.auxil.harness import eventually, free_port
from tests.faults.conftest import Fakes


@pytest.mark.faults
async def test_sigterm_during_a_burst_then_restart_completes_every_turn_once(
    pg_url: str, fakes: Fakes, tmp_path: Path
) -> None:
    telegram = fakes.telegram
    plan = plan_turns(200, 40)
    port = free_port()
    fakes.core.controls.delay_seconds = 0.2  # turns are in flight when the signal comes
    fleet = Fleet(tmp_path, fault_env(pg_url, fakes.telegram_url, fakes.core_url))
    try:
        proc = await fleet.serve("serve-0", port)
        async with Poster(port) as poster:
            posting = asyncio.create_task(poster.deliver_all(plan, within=90, gap=0.02))
            await eventually(lambda: len(poster.acked) >= 80, timeout=60, interval=0.01)
            code = await asyncio.to_thread(proc.terminate, 40.0)
            assert code == 0, f"serve must exit cleanly on SIGTERM\n{fleet.tail()}"
            proc = await fleet.serve("serve-1", port)
            await asyncio.wait_for(posting, 120)
        assert poster.unacked(plan) == [], poster.outcomes()
        verdict = await wait_for_replies(telegram, plan, timeout=120)
        assert verdict.ok, (
            f"{verdict.describe()}\n{await explain(pg_url, plan, verdict, telegram, fleet.logs())}"
            f"\n{fleet.tail()}"
        )
    finally:
        await fleet.close()
