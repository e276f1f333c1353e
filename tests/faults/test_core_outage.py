"""The responses core fails for a minute (connection refused, then 500s, then timeouts) and comes
back: every turn completes exactly once afterwards, each chat in order, with one turn row each."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from tests.auxil.faultkit import (
    Fleet,
    Poster,
    answered_seqs,
    event_key,
    explain,
    fault_env,
    outage_seconds,
    plan_turns,
    turn_keys,
    wait_for_replies,
)
from tests.auxil.harness import free_port
from tests.faults.conftest import Fakes

CORE_TIMEOUT_SECONDS = 2.0


@pytest.mark.faults
async def test_core_down_for_a_minute_then_every_turn_completes_once(
    pg_url: str, fakes: Fakes, tmp_path: Path
) -> None:
    telegram, core = fakes.telegram, fakes.core
    phase = outage_seconds() / 3
    chats, per_chat = 30, 8
    plan = plan_turns(chats * per_chat, chats)
    port = free_port()
    env = fault_env(
        pg_url,
        fakes.telegram_url,
        fakes.core_url,
        # A minute's outage must not exhaust the turn's retries (20 by default, ~1 s apart here).
        GATEWAY_INBOX_MAX_ATTEMPTS=200,
        GATEWAY_CORE_TIMEOUT_SECONDS=CORE_TIMEOUT_SECONDS,
    )
    fleet = Fleet(tmp_path, env)
    try:
        proc = await fleet.serve("serve", port)
        async with Poster(port) as poster:
            await core.stop()  # 1. connection refused
            posting = asyncio.create_task(
                poster.deliver_all(plan, within=4 * phase + 60, gap=phase * 2.7 / per_chat)
            )
            await asyncio.sleep(phase)
            await core.start(port=fakes.core_port)  # 2. answering, but 500 to everything
            core.controls.fail_status = 500
            await asyncio.sleep(phase)
            core.controls.fail_status = None  # 3. too slow: every call times out
            core.controls.delay_seconds = CORE_TIMEOUT_SECONDS * 2.5
            await asyncio.sleep(phase)
            answered_during_outage = answered_seqs(telegram)
            core.controls.delay_seconds = 0.0  # back
            back_at = time.monotonic()
            await asyncio.wait_for(posting, 4 * phase + 90)
        assert poster.unacked(plan) == [] and set(poster.outcomes()) == {200}, poster.outcomes()
        verdict = await wait_for_replies(telegram, plan, timeout=120)
        log = "\n".join(path.read_text(errors="replace") for path in fleet.logs())
        statuses = [r["status"] for r in core.requests]
        assert "ClientConnectorError" in log, "the refused phase reached the gateway"
        assert statuses.count(500) > 0, "the 500 phase reached the gateway"
        assert "TimeoutError" in log, "the timeout phase reached the gateway"
        assert answered_during_outage == set(), "no turn can complete while the core is down"
        assert proc.proc.poll() is None
        assert verdict.ok, (
            f"{verdict.describe()}\ncore back at {back_at:.3f} (monotonic)\n"
            f"{await explain(pg_url, plan, verdict, telegram, fleet.logs())}\n{fleet.tail()}"
        )
        turns = await turn_keys(pg_url)
        assert set(turns) == {event_key(item) for item in plan}, "every turn recorded"
        assert max(turns.values()) == 1, "no turn recorded twice"
    finally:
        await fleet.close()
