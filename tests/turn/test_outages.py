"""Outages and provider errors: nothing is lost, nothing is sent twice, users get a human answer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from gateway.dev.fake_telegram import FakeTelegram
from gateway.dev.mock_core import MockCore
from gateway.storage.db.models import InboxEvent, OutboundMessage
from gateway.turn.replies import QUOTA_REPLY, UNAVAILABLE_REPLY
from tests.auxil import updates
from tests.auxil.harness import Harness, eventually, free_port


@asynccontextmanager
async def gateway(db_url: str, core_url: str = "", **overrides: Any) -> AsyncIterator[Harness]:
    h = Harness(db_url, FakeTelegram(), MockCore())
    h.core_url = core_url
    await h.start(**overrides)
    try:
        yield h
    finally:
        await h.stop()


async def test_core_down_then_back_completes_the_turn_once(db_url: str) -> None:
    port = free_port()
    async with gateway(db_url, core_url=f"http://127.0.0.1:{port}") as h:
        update = updates.message("are you there?")
        assert (await h.post_update(update)).status == 200
        row = await eventually(
            lambda: h.count(InboxEvent, InboxEvent.last_error.like("%unreachable%")),
            message="the failed core call is recorded on the event",
        )
        assert row
        await asyncio.sleep(1.0)
        assert h.telegram.calls_to("sendMessage") == []
        await h.core.start(port=port)  # the core comes back
        await h.telegram.wait_for("sendMessage", 1)
        await asyncio.sleep(0.5)
        assert h.telegram.sent_texts() == ["Echo: are you there?"]
        keys = {r["headers"]["x-idempotency-key"] for r in h.core.requests}
        assert keys == {f"gw:default:telegram:default:{update['update_id']}"}
        turns = await h.turns()
        assert [t.status for t in turns] == ["completed"]


async def test_core_server_errors_exhaust_retries_then_apologise(db_url: str) -> None:
    async with gateway(db_url, inbox_max_attempts=3) as h:
        await h.post_update(updates.message("#status=500 break"))
        sends = await h.telegram.wait_for("sendMessage", 1)
        assert "something went wrong" in sends[0].params["text"]
        assert "(ref " in sends[0].params["text"]
        # 3 claims x 2 tries each (core_attempts=2), all with one idempotency key.
        assert len(h.core.requests) == 6
        assert len({r["headers"]["x-idempotency-key"] for r in h.core.requests}) == 1
        assert await h.count(InboxEvent, InboxEvent.status == "failed") == 1


async def test_core_429_is_waited_out_not_dropped_and_not_looped(harness: Harness) -> None:
    """The full 429 contract is in test_rate_limits.py; here: the message survives a 429."""
    await harness.post_update(updates.message("#ratelimit=user:1 hello"))
    await harness.telegram.wait_for("sendMessage", 1, timeout=20)
    await asyncio.sleep(0.3)
    assert harness.telegram.sent_texts() == ["Echo: hello"]  # a short wait: no busy notice
    assert [r["status"] for r in harness.core.requests] == [429, 200]  # one retry, not a loop
    assert harness.core.requests[1]["at"] - harness.core.requests[0]["at"] >= 1.0
    turns = await harness.turns()
    assert [(t.status, t.http_status) for t in turns] == [("completed", 200)]


async def test_core_402_and_401_get_human_replies(harness: Harness) -> None:
    await harness.post_update(updates.message("#status=402 hello"))
    await harness.telegram.wait_for("sendMessage", 1)
    await harness.post_update(updates.message("#status=401 hello"))
    await harness.telegram.wait_for("sendMessage", 2)
    assert harness.telegram.sent_texts() == [QUOTA_REPLY, UNAVAILABLE_REPLY]
    assert len(harness.core.requests) == 2
    turns = await harness.turns()
    assert [t.status for t in turns] == ["payment_required", "unauthorized"]
    assert [t.reason for t in turns] == ["quota_exceeded", None]  # the core's reason is kept


async def test_lost_previous_response_starts_a_fresh_thread(harness: Harness) -> None:
    # Only a project that chains with previous_response_id can lose the previous response.
    threading = {"threading": "previous_response"}
    assert (await harness.admin("PATCH", "/api/v1/admin/projects/default", json=threading))[
        0
    ] == 200
    await harness.post_update(updates.message("one"))
    await harness.telegram.wait_for("sendMessage", 1)
    harness.core.reset()  # the core forgot every stored response
    await harness.post_update(updates.message("two"))
    sends = await harness.telegram.wait_for("sendMessage", 2)
    assert sends[1].params["text"] == "Echo: two"
    bodies = [r["body"] for r in harness.core.requests]
    assert "previous_response_id" in bodies[0] and "previous_response_id" not in bodies[1]


async def test_long_reply_is_split_and_joins_back_exactly(harness: Harness) -> None:
    await harness.post_update(updates.message("#long=10000 long please"))
    sends = await harness.telegram.wait_for("sendMessage", 3)
    await asyncio.sleep(0.3)
    parts = harness.telegram.sent_texts()
    assert len(parts) == 3
    assert all(len(p) <= 4096 for p in parts)
    assert all(p.endswith(("\n\n", " ", "\n")) for p in parts[:-1])  # cut at boundaries
    # Ask the core again with the same idempotency key: it answers the stored response.
    first = harness.core.requests[0]
    assert harness.http is not None
    async with harness.http.post(
        f"{harness.core_url}/v1/responses",
        json=first["body"],
        headers={"X-Idempotency-Key": first["headers"]["x-idempotency-key"]},
    ) as resp:
        answer = await resp.json()
    core_text = answer["output"][-1]["content"][0]["text"]
    assert len(core_text) == 10000
    assert "".join(parts) == core_text
    assert [c.params["chat_id"] for c in sends] == [123456789] * 3


async def test_bot_api_429_waits_retry_after_and_sends_once(harness: Harness) -> None:
    harness.telegram.fail_next(
        "sendMessage", status=429, description="Too Many Requests: retry after 1", retry_after=1
    )
    await harness.post_update(updates.message("slow down"))
    await eventually(lambda: harness.telegram.sent_texts(), timeout=20)
    attempts = harness.telegram.calls_to("sendMessage")
    assert len(attempts) == 2
    assert attempts[1].at - attempts[0].at >= 0.95
    assert harness.telegram.sent_texts() == ["Echo: slow down"]


async def test_bot_api_5xx_retries_then_dead_letters(db_url: str) -> None:
    async with gateway(db_url, outbox_max_attempts=3) as h:
        h.telegram.fail_next("sendMessage", status=502, description="Bad Gateway", times=2)
        await h.post_update(updates.message("flaky"))
        await eventually(lambda: h.telegram.sent_texts(), timeout=20)
        assert h.telegram.sent_texts() == ["Echo: flaky"]
        assert len(h.telegram.calls_to("sendMessage")) == 3

        h.telegram.fail_next("sendMessage", status=500, description="Internal", times=10)
        await h.post_update(updates.message("hopeless"))
        dead = await eventually(
            lambda: h.count(OutboundMessage, OutboundMessage.status == "dead"), timeout=20
        )
        assert dead == 1
        rows = await h.outbox()
        assert "gave up after 3 attempts" in (rows[-1].last_error or "")
        assert len(h.telegram.calls_to("sendMessage")) == 6


async def test_blocked_user_fails_at_once_with_reason(harness: Harness) -> None:
    harness.telegram.block_chat(123456789)
    await harness.post_update(updates.message("hello?"))
    await eventually(lambda: harness.count(OutboundMessage, OutboundMessage.status == "failed"))
    await asyncio.sleep(0.3)
    rows = await harness.outbox()
    assert "blocked" in (rows[0].last_error or "")
    assert len(harness.telegram.calls_to("sendMessage")) == 1


async def test_group_upgraded_to_supergroup_follows_the_new_id(harness: Harness) -> None:
    harness.telegram.fail_next(
        "sendMessage",
        status=400,
        description="Bad Request: group chat was upgraded to a supergroup chat",
        migrate_to_chat_id=-1009999,
    )
    await harness.post_update(updates.message("/help", chat_id=-4242, chat_type="group"))
    await eventually(lambda: harness.telegram.sent_texts(-1009999))
    assert harness.telegram.sent_texts(-4242) == []


async def test_burst_of_twenty_keeps_order_per_chat(harness: Harness) -> None:
    chat_a, chat_b = 123456789, 555
    user_b = {"id": 555, "is_bot": False, "first_name": "Bo"}
    for i in range(20):
        slow = "#slow=0.2 " if i % 5 == 0 else ""
        await harness.post_update(updates.message(f"{slow}a{i}", chat_id=chat_a))
        await harness.post_update(updates.message(f"b{i}", chat_id=chat_b, user=user_b))
    await harness.telegram.wait_for("sendMessage", 40, timeout=30)
    got_a = [t.split(" (turn")[0] for t in harness.telegram.sent_texts(chat_a)]
    got_b = [t.split(" (turn")[0] for t in harness.telegram.sent_texts(chat_b)]
    assert got_a == [f"Echo: a{i}" for i in range(20)]
    assert got_b == [f"Echo: b{i}" for i in range(20)]
    # The core saw each chat's turns in order too, one conversation each.
    inputs_a = [
        r["body"]["input"]
        for r in harness.core.requests
        if r["body"]["input"].split()[-1].startswith("a")
    ]
    conversations = {r["body"]["conversation"] for r in harness.core.requests}
    assert len(conversations) == 2
    assert [i.split()[-1] for i in inputs_a] == [f"a{i}" for i in range(20)]
