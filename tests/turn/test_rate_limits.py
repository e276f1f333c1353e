"""The core's 429: a message is never dropped. It waits on the queue until `Retry-After` (its
chat's later messages behind it, in order), other users go on unless the limit is the project's,
a long wait is announced once, a wait past the configured total ends in the apology, and a storm
of 429s does not raise the request rate (the mock core's `#ratelimit` directive and controls)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from sqlalchemy import select

from gateway.dev.fake_telegram import FakeTelegram
from gateway.dev.mock_core import MockCore
from gateway.storage.db.models import InboxEvent, utcnow
from gateway.turn.replies import BUSY_REPLY
from tests.auxil import updates
from tests.auxil.harness import Harness, eventually

# Wall-clock windows: `make test` runs these alone, not beside the parallel workers.
pytestmark = pytest.mark.timing

USER_A = {"id": 111, "is_bot": False, "first_name": "Ann"}
USER_B = {"id": 222, "is_bot": False, "first_name": "Bob"}


@asynccontextmanager
async def gateway(db_url: str, **overrides: Any) -> AsyncIterator[Harness]:
    h = Harness(db_url, FakeTelegram(), MockCore())
    await h.start(**overrides)
    try:
        yield h
    finally:
        await h.stop()


def key(update: dict[str, Any]) -> str:
    return f"gw:default:telegram:default:{update['update_id']}"


def calls_for(h: Harness, *updates_: dict[str, Any]) -> list[dict[str, Any]]:
    """The core's recorded requests for these messages (their idempotency keys), in order."""
    keys = {key(u) for u in updates_}
    return [r for r in h.core.requests if r["headers"].get("x-idempotency-key") in keys]


def texts(h: Harness, chat: int) -> list[str]:
    return [t.split(" (turn")[0] for t in h.telegram.sent_texts(chat)]


async def deferrals(h: Harness, scope: str) -> float:
    assert h.http is not None
    async with h.http.get(f"{h.base_url}/metrics") as resp:
        body = await resp.text()
    found = re.search(rf'gateway_core_deferrals_total{{scope="{scope}"}} (\S+)', body)
    return float(found.group(1)) if found else 0.0


async def send(h: Harness, text: str, user: dict[str, Any]) -> dict[str, Any]:
    update = updates.message(text, chat_id=user["id"], user=user)
    assert (await h.post_update(update)).status == 200
    return update


async def test_a_users_429_defers_only_that_user_in_order_once(db_url: str) -> None:
    async with gateway(db_url) as h:
        a1 = await send(h, "#ratelimit=user:2 first", USER_A)
        a2 = await send(h, "second", USER_A)  # sent during the wait: answered after the first
        await eventually(lambda: calls_for(h, a1), message="A's first call")
        b1 = await send(h, "b one", USER_B)
        b2 = await send(h, "b two", USER_B)
        await eventually(lambda: len(texts(h, USER_B["id"])) == 2, timeout=1.5)
        assert texts(h, USER_A["id"]) == []  # B answered at once, A still waiting
        await eventually(lambda: len(texts(h, USER_A["id"])) == 2, timeout=10)
        await asyncio.sleep(0.5)
        assert texts(h, USER_A["id"]) == ["Echo: first", "Echo: second"]  # once each, in order
        assert texts(h, USER_B["id"]) == ["Echo: b one", "Echo: b two"]
        # The core saw A's first message twice (the 429, then after Retry-After), A's second
        # once, and B's messages once each, never refused.
        first = calls_for(h, a1)
        assert [r["status"] for r in first] == [429, 200]
        assert first[1]["at"] - first[0]["at"] >= 2.0
        assert [r["status"] for r in calls_for(h, a2)] == [200]
        assert calls_for(h, a2)[0]["at"] >= first[1]["at"]
        assert [r["status"] for r in calls_for(h, b1, b2)] == [200, 200]
        assert await deferrals(h, "user") >= 1
        assert await deferrals(h, "project") == 0


async def test_a_project_wide_429_defers_everyone(db_url: str) -> None:
    async with gateway(db_url) as h:
        a1 = await send(h, "#ratelimit=project:2 hello", USER_A)
        await eventually(lambda: calls_for(h, a1), message="A's first call")
        refused_at = calls_for(h, a1)[0]["at"]
        b1 = await send(h, "me too", USER_B)
        await eventually(lambda: len(texts(h, USER_B["id"])) == 1, timeout=10)
        await eventually(lambda: len(texts(h, USER_A["id"])) == 1, timeout=10)
        assert texts(h, USER_B["id"]) == ["Echo: me too"]
        # B was held back by the project's limit: asked once, after the window, never refused.
        (b_call,) = calls_for(h, b1)
        assert b_call["status"] == 200 and b_call["at"] - refused_at >= 2.0
        assert [r["status"] for r in calls_for(h, a1)] == [429, 200]
        assert await deferrals(h, "project") >= 2


async def test_a_429_storm_does_not_raise_the_core_request_rate(db_url: str) -> None:
    users = [{"id": 300 + i, "is_bot": False, "first_name": f"U{i}"} for i in range(8)]
    async with gateway(db_url) as h:
        h.core.controls.fail_status, h.core.controls.retry_after = 429, 1  # project-wide
        sent = [await send(h, f"hi {i}", user) for i, user in enumerate(users)]
        await asyncio.sleep(4.0)
        during = len(h.core.requests)
        # One call per message at most before the limit is learned, then about one probe per
        # Retry-After: a gateway retrying each message would have made 8 x 4 or more.
        assert during <= len(users) + 4, during
        assert h.telegram.sent_texts() == []  # short waits: nobody is told anything
        h.core.controls.fail_status = None
        await eventually(lambda: len(h.telegram.sent_texts()) == len(users), timeout=15)
        await asyncio.sleep(0.5)
        for i, (update, user) in enumerate(zip(sent, users, strict=True)):
            assert texts(h, user["id"]) == [f"Echo: hi {i}"]
            assert [r["status"] for r in calls_for(h, update)].count(200) == 1
        assert await deferrals(h, "project") >= len(users)


async def test_a_long_wait_is_announced_once_and_the_total_wait_ends_in_the_apology(
    db_url: str,
) -> None:
    # Every call is refused with Retry-After: 2; waits over 1 s are announced; 5 s in total.
    async with gateway(db_url, core_busy_notice_seconds=1.0, core_max_defer_seconds=5.0) as h:
        update = await send(h, "#status=429 are you there", USER_A)
        await eventually(lambda: len(h.telegram.sent_texts()) == 2, timeout=15)
        await asyncio.sleep(0.5)
        notice, apology = h.telegram.sent_texts()
        assert notice == BUSY_REPLY.format(seconds=2)  # told once, though deferred twice
        assert "something went wrong" in apology and "(ref " in apology
        calls = calls_for(h, update)
        assert [r["status"] for r in calls] == [429, 429, 429]
        assert calls[2]["at"] - calls[0]["at"] >= 4.0  # each retry waited its Retry-After
        (turn,) = await h.turns()
        assert (turn.status, turn.http_status, turn.reason) == (
            "rate_limited",
            429,
            "user_rate_limited",
        )
        assert await deferrals(h, "user") == 2


async def test_a_wait_under_the_threshold_is_not_announced_but_a_long_one_is(
    db_url: str,
) -> None:
    async with gateway(db_url) as h:  # defaults: announce waits over 10 s, give up after 300 s
        await send(h, "#ratelimit=user:30 hello", USER_A)
        await eventually(lambda: h.telegram.sent_texts(), timeout=10)
        await asyncio.sleep(0.5)
        assert h.telegram.sent_texts() == [BUSY_REPLY.format(seconds=30)]
        assert h.runtime is not None
        async with h.runtime.db.session() as session:
            row = (await session.scalars(select(InboxEvent))).one()
        # Still queued, not answered and not dropped: due again after the core's Retry-After.
        assert row.status == "pending" and row.attempts == 0
        assert (row.next_attempt_at - utcnow()).total_seconds() > 25
        assert "user_rate_limited" in (row.last_error or "")
        assert await h.turns() == []
