"""The Bot API fails about half of all sendMessage calls (5xx, or 429 with retry_after 1) for a
minute, then recovers: every reply is delivered exactly once, each chat in order."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from tests.auxil.faultkit import (
    Fleet,
    Poster,
    answered_seqs,
    explain,
    fault_env,
    outage_seconds,
    plan_turns,
    wait_for_replies,
)
from tests.auxil.harness import free_port
from tests.faults.conftest import Fakes


@pytest.mark.faults
async def test_flaky_bot_api_for_a_minute_delivers_each_reply_once(
    pg_url: str, fakes: Fakes, tmp_path: Path
) -> None:
    telegram = fakes.telegram
    duration = outage_seconds()
    chats, per_chat = 40, 10
    plan = plan_turns(chats * per_chat, chats)
    port = free_port()
    # A minute at 50% failures must not exhaust the retry budget (10 by default: 0.5**10 per
    # message would lose about one reply in a run): what is tested is exactly-once, not the cap.
    env = fault_env(pg_url, fakes.telegram_url, fakes.core_url)
    fleet = Fleet(tmp_path, {**env, "GATEWAY_OUTBOX_MAX_ATTEMPTS": "100"})
    try:
        await fleet.serve("serve", port)
        telegram.flaky = True
        started = time.monotonic()
        async with Poster(port) as poster:
            # The turns arrive all through the flaky minute.
            gap = duration * 0.9 / per_chat
            await asyncio.wait_for(
                poster.deliver_all(plan, within=duration + 60, gap=gap), duration + 90
            )
            await asyncio.sleep(max(0.0, started + duration - time.monotonic()))
        telegram.flaky = False
        delivered_while_flaky = len(answered_seqs(telegram))
        assert poster.unacked(plan) == [] and set(poster.outcomes()) == {200}, poster.outcomes()
        verdict = await wait_for_replies(telegram, plan, timeout=120)
        assert verdict.ok, (
            f"{verdict.describe()}\ninjected failures: {dict(telegram.injected)}\n"
            f"{await explain(pg_url, plan, verdict, telegram, fleet.logs())}\n{fleet.tail()}"
        )
        server_errors = sum(n for status, n in telegram.injected.items() if status >= 500)
        assert telegram.injected[429] >= 20 and server_errors >= 20, (
            f"both kinds of failure were injected: {dict(telegram.injected)}"
        )
        assert delivered_while_flaky > 0, "replies get through while the Bot API is flaky"
    finally:
        telegram.flaky = False
        await fleet.close()
