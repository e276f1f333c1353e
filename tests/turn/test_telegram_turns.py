"""End to end over real HTTP: Telegram update -> inbox -> worker -> core -> outbox -> Bot API."""

from __future__ import annotations

from tests.auxil import updates
from tests.auxil.harness import CORE_KEY, Harness, eventually


async def test_text_message_makes_one_core_call_and_one_reply(harness: Harness) -> None:
    update = updates.message("Hello there")
    resp = await harness.post_update(update)
    assert resp.status == 200

    sends = await harness.telegram.wait_for("sendMessage", 1)
    assert [c.params["text"] for c in sends] == ["Echo: Hello there"]
    assert sends[0].params["chat_id"] == 123456789

    assert len(harness.core.requests) == 1
    call = harness.core.requests[0]
    assert call["headers"]["authorization"] == f"Bearer {CORE_KEY}"
    assert call["headers"]["x-idempotency-key"] == (
        f"gw:default:telegram:default:{update['update_id']}"
    )
    assert call["headers"]["x-request-id"].startswith("gwreq_")
    body = call["body"]
    assert body["user"].startswith("anon_")  # opaque: never the Telegram id
    assert "123456789" not in body["user"]
    assert body["input"] == "Hello there"
    assert body["stream"] is False
    assert body["model"] == "balanced"
    assert "previous_response_id" not in body
    assert body["conversation"].startswith("conv_")
    assert body["metadata"] == {
        "feature": "channel_gateway",
        "source": "telegram",
        "channel_account": "default",
        "identity_linked": "false",
    }
    turns = await eventually(harness.turns)
    assert turns[0].status == "completed"
    assert turns[0].response_id and turns[0].response_id.startswith("resp_")
    assert turns[0].trace_id and turns[0].trace_id.startswith("trace_")
    assert turns[0].usage and turns[0].usage["total_tokens"] > 0
    assert turns[0].latency_ms is not None

    assert turns[0].conversation == body["conversation"]

    # The second turn continues the conversation.
    await harness.post_update(updates.message("and again"))
    await harness.telegram.wait_for("sendMessage", 2)
    second = harness.core.requests[1]["body"]
    assert second["conversation"] == body["conversation"] and second["user"] == body["user"]
    assert "previous_response_id" not in second
