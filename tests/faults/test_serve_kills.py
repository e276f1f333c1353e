"""`gateway serve` (web + worker) SIGKILLed under load: whatever it acknowledged is answered once;
what got no answer is redelivered, as Telegram would, and answered once too."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.auxil.faultkit import (
    Fleet,
    Poster,
    doubled_before_kills,
    explain,
    fault_env,
    plan_turns,
    stored_event_ids,
    unexplained_doubles,
    wait_for_replies,
)
from tests.auxil.harness import eventually, free_port
from tests.faults.conftest import Fakes


@pytest.mark.faults
async def test_serve_killed_under_load_answers_every_acknowledged_update_once(
    pg_url: str, fakes: Fakes, tmp_path: Path
) -> None:
    telegram = fakes.telegram
    plan = plan_turns(600, 60)
    port = free_port()
    fakes.core.controls.delay_seconds = 0.05
    fleet = Fleet(tmp_path, fault_env(pg_url, fakes.telegram_url, fakes.core_url))
    acked_before_kill: list[set[int]] = []
    try:
        proc = await fleet.serve("serve-0", port)
        async with Poster(port) as poster:
            # 60 chats post concurrently, each in order, with a short gap: load through the kills.
            posting = asyncio.create_task(poster.deliver_all(plan, within=120, gap=0.05))
            for n, share in enumerate((0.3, 0.65), start=1):
                target = int(share * len(plan))
                await eventually(
                    lambda target=target: len(poster.acked) >= target,
                    timeout=60,
                    interval=0.01,
                    message=f"{target} acknowledged before kill {n}\n{fleet.tail()}",
                )
                await fleet.kill(proc)
                acked_before_kill.append(set(poster.acked))
                await asyncio.sleep(0.5)
                proc = await fleet.serve(f"serve-{n}", port)
            await asyncio.wait_for(posting, 150)
        outcomes = poster.outcomes()
        assert poster.unacked(plan) == [], f"never acknowledged after redelivery: {outcomes}"
        assert sum(n for outcome, n in outcomes.items() if outcome != 200) > 0, (
            f"the kills must have left updates unacknowledged: {outcomes}"
        )
        verdict = await wait_for_replies(telegram, plan, timeout=120)
        stored = await stored_event_ids(pg_url)
        assert stored == {str(item.update_id) for item in plan}, "one inbox row per update"
        # None lost, none out of order; the only doubles allowed are sends the Bot API accepted
        # in the instant before a SIGKILL (see faultkit.unexplained_doubles and docs/delivery.md).
        unexplained = unexplained_doubles(telegram, verdict, fleet.kills)
        assert not (verdict.missing or verdict.out_of_order or verdict.unexpected or unexplained), (
            f"doubles not explained by a kill: {unexplained}\n"
            f"{verdict.describe()}\nposting outcomes: {outcomes}\n"
            f"acknowledged at each kill: {[len(a) for a in acked_before_kill]}\n"
            f"{doubled_before_kills(telegram, verdict, fleet.kills)}\n"
            f"{await explain(pg_url, plan, verdict, telegram, fleet.logs())}\n{fleet.tail()}"
        )
    finally:
        await fleet.close()
