"""What a turn holds while it waits (issue 22): thousands wait at once, on the core and then on
the group commit of their writes, so each keeps its decoded event and not the claimed row's JSON
payload as well, and after the call not the conversation's content (the request's input, the
answer's output items) either; and a process whose finished turns queue for their commit claims
no more until they are written."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest
from sqlalchemy.engine import Row

from gateway.storage.db.models import InboxEvent
from gateway.turn.core_client import CoreRequest, CoreResult
from gateway.turn.outcome import CoreTurn
from tests.auxil import updates
from tests.auxil.harness import eventually
from tests.turn.test_core_concurrency import answered_once, post_chats
from tests.turn.test_rate_limits import gateway


def claimed_inbox_rows() -> list[Any]:
    """Inbox rows as the claim returns them, with their decoded payload, still alive anywhere:
    SQLAlchemy rows on SQLite, named tuples from the direct asyncpg path on PostgreSQL."""
    gc.collect()
    return [
        obj
        for obj in gc.get_objects()
        if isinstance(obj, Row | tuple)
        and {"payload", "chat_key", "lease_until"} <= set(getattr(obj, "_fields", ()))
    ]


def raw_updates_alive(posted: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Decoded copies of these Telegram updates (not the test's own dicts) alive anywhere."""
    ids = {update["update_id"] for update in posted}
    ours = {id(update) for update in posted}
    gc.collect()
    return [
        obj
        for obj in gc.get_objects()
        if isinstance(obj, dict) and obj.get("update_id") in ids and id(obj) not in ours
    ]


async def test_turns_waiting_on_the_core_do_not_hold_their_claimed_rows(db_url: str) -> None:
    async with gateway(db_url) as h:
        h.core.controls.delay_seconds = 3.0
        chats = range(7_000, 7_020)
        posted = []
        for chat in chats:
            user = {"id": chat, "is_bot": False, "first_name": "U"}
            posted.append(updates.message(f"hello {chat}", chat_id=chat, user=user))
            assert (await h.post_update(posted[-1])).status == 200
        await eventually(lambda: h.core.in_flight == len(chats), timeout=10)
        assert claimed_inbox_rows() == []  # each turn kept its event and the row's id, attempts
        assert raw_updates_alive(posted) == []  # the provider's raw update stays in the inbox
        await eventually(lambda: len(h.telegram.sent_texts()) == len(chats), timeout=15)
        await asyncio.sleep(0.2)
        assert all(len(h.telegram.sent_texts(chat)) == 1 for chat in chats)


def test_a_finished_call_is_kept_without_the_input_and_the_output_items() -> None:
    request = CoreRequest(
        base_url="http://core.test",
        api_key=None,
        idempotency_key="gw:1",
        model="balanced",
        user="u1",
        input=[{"role": "user", "content": [{"type": "input_text", "text": "x" * 10_000}]}],
        previous_response_id="resp_0",
        metadata={"feature": "chat"},
        conversation="c1",
    )
    body = {
        "id": "resp_1",
        "model": "balanced",
        "output": [{"type": "message", "content": [{"type": "output_text", "text": "y" * 10_000}]}],
        "usage": {"input_tokens": 3, "output_tokens": 5},
        "metadata": {"general_augment_request_id": "ga_req", "general_augment_cost_usd": "0.5"},
    }
    result = CoreResult("hdr_1", 12, 200, body)
    turn = CoreTurn.kept(request, result, user="u1", linked=True, chat=(1, "telegram", "a", "9"))
    assert turn.request.input is None
    assert "output" not in turn.result.body and turn.result.text == ""
    kept, full = turn.result, result
    assert (kept.response_id, kept.request_id, kept.model, kept.cost, kept.ok) == (
        full.response_id,
        full.request_id,
        full.model,
        full.cost,
        full.ok,
    )
    assert kept.body["usage"] == body["usage"] and result.text == "y" * 10_000  # not mutated
    assert (turn.request.previous_response_id, turn.request.conversation) == ("resp_0", "c1")


async def test_no_more_turns_are_claimed_while_finished_ones_queue_for_their_commit(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The turn writer held (a slow database): once 64 finished turns wait for it, the process
    claims nothing more, although 200 more messages come and it has room for 2,000. Written,
    they let the rest in, and every message is answered once."""
    async with gateway(db_url) as h:
        assert h.runtime is not None
        writer = h.runtime.pipeline.writer
        write, gate = writer._write, asyncio.Event()

        async def held(jobs: list[Any]) -> list[Any]:
            await gate.wait()
            return await write(jobs)

        monkeypatch.setattr(writer, "_write", held)
        processing = InboxEvent.status == "processing"
        try:
            await post_chats(h, 100)
            await eventually(writer.behind, timeout=10)
            await asyncio.sleep(0.2)  # a claim already on its way lands
            claimed = await h.count(InboxEvent, processing)
            await post_chats(h, 200, first_chat=6_000)
            await asyncio.sleep(0.5)  # ten polls of the claim loop
            assert await h.count(InboxEvent, processing) == claimed
            assert await h.count(InboxEvent, InboxEvent.status == "pending") >= 200
        finally:
            gate.set()  # a failed check must not leave the writer (and the shutdown) waiting
        await eventually(lambda: len(h.telegram.sent_texts()) == 300, timeout=30)
        await asyncio.sleep(0.3)
        assert answered_once(h, 100) and answered_once(h, 200, first_chat=6_000)
