"""Turns in flight against a slow core (issue 22): one process holds hundreds of turns waiting
on the core at once (not the old 64, not an HTTP pool's limit); a project's `core_concurrency`
caps its calls in flight; a 429 storm while hundreds are in flight lowers the call rate, and every
message is still answered exactly once."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.auxil import updates
from tests.auxil.harness import Harness, eventually
from tests.turn.test_rate_limits import gateway

# Wall-clock windows: `make test` runs these alone, not beside the parallel workers.
pytestmark = pytest.mark.timing


async def post_chats(h: Harness, count: int, first_chat: int = 5_000) -> None:
    """One message from each of `count` chats, posted 50 at a time."""
    gate = asyncio.Semaphore(50)

    async def one(n: int) -> None:
        chat = first_chat + n
        user = {"id": chat, "is_bot": False, "first_name": f"U{n}"}
        async with gate:
            assert (
                await h.post_update(updates.message(f"m{n}", chat_id=chat, user=user))
            ).status == 200

    await asyncio.gather(*(one(n) for n in range(count)))


def answered_once(h: Harness, count: int, first_chat: int = 5_000) -> bool:
    return all(len(h.telegram.sent_texts(first_chat + n)) == 1 for n in range(count))


async def test_hundreds_of_turns_wait_on_the_core_at_once(db_url: str) -> None:
    async with gateway(db_url) as h:
        h.core.controls.delay_seconds = 2.0
        await post_chats(h, 400)
        await eventually(lambda: len(h.telegram.sent_texts()) == 400, timeout=30)
        assert h.core.peak_in_flight >= 350  # one process, all of them at the core together
        assert answered_once(h, 400)


async def test_a_projects_core_concurrency_caps_its_calls_in_flight(db_url: str) -> None:
    async with gateway(db_url, core_concurrency=5) as h:
        h.core.controls.delay_seconds = 0.2
        await post_chats(h, 40)
        await eventually(lambda: len(h.telegram.sent_texts()) == 40, timeout=30)
        assert h.core.peak_in_flight == 5
        assert answered_once(h, 40)


async def test_a_429_storm_under_load_lowers_the_call_rate(db_url: str) -> None:
    """300 turns in flight when the core starts refusing the whole project: at most the cap's
    worth of calls learn it, then about one probe per Retry-After; when the storm ends every
    message is answered once, and the calls climb back without overshooting the cap."""
    async with gateway(db_url, core_concurrency=100, core_max_defer_seconds=120) as h:
        core = h.core
        core.controls.delay_seconds = 0.3
        core.controls.fail_status, core.controls.retry_after = 429, 1  # project-wide
        started = time.monotonic()
        await post_chats(h, 300)
        await asyncio.sleep(5.0 - (time.monotonic() - started))
        calls = [r["at"] - started for r in core.requests]
        assert len(calls) <= 100 + 12, len(calls)  # retried per message: 300 x 5 and more
        late = [at for at in calls if at >= 3.0]
        assert len(late) <= 4, late  # the storm's last two seconds: probes only
        assert core.peak_in_flight <= 100
        assert h.telegram.sent_texts() == []
        core.controls.fail_status = None
        core.reset_peak()
        await eventually(lambda: answered_once(h, 300), timeout=60)
        await asyncio.sleep(0.5)
        assert len(h.telegram.sent_texts()) == 300
        assert core.peak_in_flight <= 100


async def test_typing_indicators_keep_within_the_accounts_budget(db_url: str) -> None:
    """40 chats wait 1.5 s on the core: with a budget of 4 indicators per second the bot sends
    about 4 + 4 x 1.5, not one per chat (Telegram would refuse a burst of them anyway); every
    chat still gets its answer."""
    async with gateway(db_url, typing_per_second=4.0) as h:
        h.core.controls.delay_seconds = 1.5
        await post_chats(h, 40)
        await eventually(lambda: answered_once(h, 40), timeout=30)
        typing = h.telegram.calls_to("sendChatAction")
        assert 1 <= len(typing) <= 4 + 4 * 2.5, len(typing)
