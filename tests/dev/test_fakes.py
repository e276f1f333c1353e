"""Tests for the test doubles themselves: if the fakes lie, every gateway test lies with them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
import telegram
from telegram.error import BadRequest, Conflict, Forbidden, RetryAfter

from gateway.dev.fake_telegram import FakeTelegram
from gateway.dev.mock_core import MockCore, MockCoreControls
from tests.auxil import updates as tg_updates

pytestmark = pytest.mark.asyncio

TOKEN = "123456:TEST-token"


@pytest_asyncio.fixture
async def fake_tg() -> AsyncIterator[tuple[FakeTelegram, telegram.Bot]]:
    fake = FakeTelegram()
    url = await fake.start()
    bot = telegram.Bot(TOKEN, base_url=f"{url}/bot")
    try:
        yield fake, bot
    finally:
        await bot.shutdown()
        await fake.stop()


async def _post(
    url: str, body: Any, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any], dict[str, str]]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{url}/v1/responses", json=body, headers=headers) as resp,
    ):
        return resp.status, await resp.json(), dict(resp.headers)


def _text(response: dict[str, Any]) -> str:
    message = next(item for item in response["output"] if item["type"] == "message")
    return message["content"][0]["text"]


# ----------------------------------------------------------------------------- mock core


async def test_core_echo_shape_and_request_id(core: tuple[MockCore, str]) -> None:
    mock, url = core
    body = {"model": "m1", "input": "  hello world ", "metadata": {"chat": "42"}}
    status, data, headers = await _post(url, body, {"X-Request-ID": "rid-1"})
    assert status == 200
    assert headers["X-Request-ID"] == "rid-1"
    assert data["id"].startswith("resp_") and len(data["id"]) == 5 + 24
    assert data["output"][0]["id"] == "msg_" + data["id"][5:]
    assert _text(data) == "Echo: hello world"
    assert data["metadata"]["chat"] == "42"
    assert data["metadata"]["general_augment_trace_id"].startswith("trace_")
    assert data["usage"]["input_tokens"] == 12
    assert data["usage"]["total_tokens"] == 12 + 3
    assert mock.requests[0]["status"] == 200
    assert mock.requests[0]["headers"]["x-request-id"] == "rid-1"


async def test_core_idempotency_sequential_and_concurrent(core: tuple[MockCore, str]) -> None:
    mock, url = core
    headers = {"X-Idempotency-Key": "key-1"}
    _, first, _ = await _post(url, {"model": "m", "input": "a"}, headers)
    _, second, _ = await _post(url, {"model": "m", "input": "a"}, headers)
    assert first == second

    mock.controls.delay_seconds = 0.1
    concurrent_headers = {"X-Idempotency-Key": "key-2"}
    results = await asyncio.gather(
        *(_post(url, {"model": "m", "input": "b #slow=0.2"}, concurrent_headers) for _ in range(3))
    )
    assert {r[1]["id"] for r in results} == {results[0][1]["id"]}
    assert len({r[1]["created_at"] for r in results}) == 1
    assert results[0][1]["id"] != first["id"]


async def test_core_errors_not_cached(core: tuple[MockCore, str]) -> None:
    mock, url = core
    mock.controls.fail_status = 500
    mock.controls.fail_count = 1
    headers = {"X-Idempotency-Key": "retry"}
    status, data, _ = await _post(url, {"model": "m", "input": "x"}, headers)
    assert status == 500 and data["error"]["type"] == "server_error"
    status, data, _ = await _post(url, {"model": "m", "input": "x"}, headers)
    assert status == 200 and _text(data) == "Echo: x"
    assert [r["status"] for r in mock.requests] == [500, 200]
    assert mock.controls.fail_status is None


async def test_core_previous_response_chain(core: tuple[MockCore, str]) -> None:
    _, url = core
    _, first, _ = await _post(url, {"model": "m", "input": "one"})
    _, second, _ = await _post(
        url, {"model": "m", "input": "two", "previous_response_id": first["id"]}
    )
    _, third, _ = await _post(
        url, {"model": "m", "input": "three", "previous_response_id": second["id"]}
    )
    assert _text(first) == "Echo: one"
    assert _text(second) == "Echo: two (turn 2)"
    assert _text(third) == "Echo: three (turn 3)"
    assert third["previous_response_id"] == second["id"]

    status, data, _ = await _post(
        url, {"model": "m", "input": "x", "previous_response_id": "resp_nope"}
    )
    assert status == 400
    assert data["error"]["message"] == "Previous response with id 'resp_nope' not found."
    assert data["error"]["param"] == "previous_response_id"
    assert data["error"]["code"] == "previous_response_not_found"


async def test_core_keeps_each_conversation(core: tuple[MockCore, str]) -> None:
    mock, url = core
    in_a = {"model": "m", "conversation": "conv_a"}
    _, first, _ = await _post(url, {**in_a, "input": "one"}, {"X-Idempotency-Key": "k1"})
    _, other, _ = await _post(url, {"model": "m", "input": "hi", "conversation": {"id": "conv_b"}})
    _, second, _ = await _post(url, {**in_a, "input": "two"}, {"X-Idempotency-Key": "k2"})
    # A retried turn (same idempotency key) is not a new turn of the conversation.
    _, again, _ = await _post(url, {**in_a, "input": "two"}, {"X-Idempotency-Key": "k2"})
    assert (_text(first), _text(other), _text(second)) == (
        "Echo: one",
        "Echo: hi",
        "Echo: two (turn 2)",
    )
    assert again == second and second["conversation"] == {"id": "conv_a"}
    assert mock.conversations == {"conv_a": [first["id"], second["id"]], "conv_b": [other["id"]]}

    both = {**in_a, "input": "x", "previous_response_id": first["id"]}
    status, data, _ = await _post(url, both)
    assert status == 400 and data["error"]["param"] == "conversation"
    for bad in (7, "", {"id": 3}):
        status, data, _ = await _post(url, {"model": "m", "input": "x", "conversation": bad})
        assert status == 400 and data["error"]["param"] == "conversation", bad


async def test_core_validation_and_auth() -> None:
    mock = MockCore(MockCoreControls(api_key="sekret"))
    url = await mock.start()
    try:
        status, data, _ = await _post(url, {"model": "m", "input": "x"})
        assert status == 401 and data["error"]["code"] == "invalid_api_key"
        auth = {"Authorization": "Bearer sekret"}
        status, data, _ = await _post(url, {"input": "x"}, auth)
        assert status == 400 and data["error"]["param"] == "model"
        assert data["error"]["type"] == "invalid_request"
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{url}/v1/responses", data="{nope", headers=auth) as resp:
                assert resp.status == 400
            async with session.get(f"{url}/nowhere") as resp:
                assert resp.status == 404 and "error" in await resp.json()
            async with session.get(f"{url}/health/ready") as resp:
                health = await resp.json()
                assert health == {"status": "ok", "version": mock.version, "build": "mock"}
                assert resp.headers["X-General-Augment-Version"] == mock.version
    finally:
        await mock.stop()


async def test_core_status_directive_429(core: tuple[MockCore, str]) -> None:
    _, url = core
    status, data, headers = await _post(url, {"model": "m", "input": "hi #status=429"})
    assert status == 429
    assert headers["Retry-After"] == "2"
    assert data["error"]["type"] == "rate_limit_exceeded"


async def test_core_long_directive_exact_length(core: tuple[MockCore, str]) -> None:
    _, url = core
    body = {"model": "m", "input": [{"role": "user", "content": "#long=5000"}]}
    status, data, _ = await _post(url, body)
    text = _text(data)
    assert status == 200
    assert len(text) == 5000
    assert "\n\n" in text and text == text.strip()


async def test_core_approval_round_trip(core: tuple[MockCore, str]) -> None:
    _, url = core
    body = {
        "model": "m",
        "input": [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "x"}]},
            {"type": "message", "role": "user", "content": "wipe it #approval=delete_repo"},
        ],
    }
    _, data, _ = await _post(url, body)
    request = data["output"][0]
    assert request["type"] == "mcp_approval_request"
    assert request["name"] == "delete_repo" and request["server_label"] == "gw"
    assert request["id"].startswith("mcpr_")
    assert data["output"][1]["type"] == "message"

    reply = {
        "model": "m",
        "previous_response_id": data["id"],
        "input": [
            {"type": "mcp_approval_response", "approval_request_id": request["id"], "approve": True}
        ],
    }
    _, approved, _ = await _post(url, reply)
    assert _text(approved) == "Approved: delete_repo"


async def test_core_mock_endpoints(core: tuple[MockCore, str]) -> None:
    mock, url = core
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{url}/mock/controls", json={"fail_status": 402}) as resp:
            assert resp.status == 200
        status, _, _ = await _post(url, {"model": "m", "input": "x"})
        assert status == 402
        async with session.get(f"{url}/mock/requests") as resp:
            assert len((await resp.json())["requests"]) == 1
        async with session.post(f"{url}/mock/reset") as resp:
            assert resp.status == 200
    assert mock.requests == [] and mock.controls.fail_status is None


# ----------------------------------------------------------------------------- fake telegram


async def test_tg_initialize_and_send(fake_tg: tuple[FakeTelegram, telegram.Bot]) -> None:
    fake, bot = fake_tg
    await bot.initialize()
    assert bot.username == "gateway_demo_bot"
    assert fake.calls_to("getMe")[0].token == TOKEN

    markup = telegram.InlineKeyboardMarkup(
        [[telegram.InlineKeyboardButton("Yes", callback_data="y")]]
    )
    first = await bot.send_message(chat_id=1, text="hi", reply_markup=markup)
    second = await bot.send_message(chat_id=1, text="there")
    assert (first.message_id, second.message_id) == (1, 2)
    assert first.reply_markup == markup
    call = fake.calls_to("sendMessage")[0]
    assert call.params["chat_id"] == 1
    assert call.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "y"
    assert fake.sent_texts(1) == ["hi", "there"]
    assert fake.sent_texts(2) == []

    edited = await bot.edit_message_text("hi!", chat_id=1, message_id=1)
    assert isinstance(edited, telegram.Message) and edited.text == "hi!"
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_text("hi!", chat_id=1, message_id=1)
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.send_message(chat_id=1, text="😀" * 2049)
    assert await bot.send_chat_action(chat_id=1, action="typing") is True
    assert len(await fake.wait_for("sendChatAction", 1, timeout=1)) == 1
    with pytest.raises(AssertionError, match="expected 1 deleteWebhook"):
        await fake.wait_for("deleteWebhook", 1, timeout=0.05)


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_tg_retry_after_and_blocked(fake_tg: tuple[FakeTelegram, telegram.Bot]) -> None:
    fake, bot = fake_tg
    fake.fail_next("sendMessage", status=429, description="Too Many Requests", retry_after=3)
    with pytest.raises(RetryAfter) as excinfo:
        await bot.send_message(chat_id=5, text="hi")
    retry_after = excinfo.value.retry_after
    seconds = getattr(retry_after, "total_seconds", lambda: retry_after)()
    assert seconds == 3
    await bot.send_message(chat_id=5, text="hi")
    assert len(fake.calls_to("sendMessage")) == 2
    assert fake.sent_texts(5) == ["hi"]
    assert fake.sent_texts(5, include_failed=True) == ["hi", "hi"]

    fake.block_chat(9)
    with pytest.raises(Forbidden, match="blocked by the user"):
        await bot.send_message(chat_id=9, text="hello?")
    assert fake.calls_to("sendMessage")[-1].status == 403


async def test_tg_webhook_round_trip(fake_tg: tuple[FakeTelegram, telegram.Bot]) -> None:
    fake, bot = fake_tg
    fake.webhook["pending_update_count"] = 4
    ok = await bot.set_webhook(
        "https://example.test/hook",
        secret_token="s3cret_token",
        allowed_updates=["message", "callback_query"],
        drop_pending_updates=True,
        max_connections=10,
    )
    assert ok is True
    assert fake.webhook["secret_token"] == "s3cret_token"
    assert fake.webhook["drop_pending_updates_seen"] is True
    info = await bot.get_webhook_info()
    assert info.url == "https://example.test/hook"
    assert info.pending_update_count == 0
    assert info.max_connections == 10
    assert list(info.allowed_updates or []) == ["message", "callback_query"]
    assert fake.calls_to("setWebhook")[0].params["allowed_updates"] == [
        "message",
        "callback_query",
    ]

    assert await bot.delete_webhook() is True
    assert (await bot.get_webhook_info()).url == ""


async def test_tg_get_updates_offsets_and_long_poll(
    fake_tg: tuple[FakeTelegram, telegram.Bot],
) -> None:
    fake, bot = fake_tg
    first = fake.queue_update(tg_updates.message("one"))
    second = fake.queue_update(tg_updates.message("two", update_id=first + 5, edited=True))
    # Without an offset: everything not confirmed, again and again.
    for _ in range(2):
        assert [u.update_id for u in await bot.get_updates(timeout=0)] == [first, second]
    assert [u.update_id for u in await bot.get_updates(offset=second, limit=5)] == [second]
    assert [u.update_id for u in await bot.get_updates()] == [second]  # `first` is confirmed
    # Long polling: an empty queue waits until an update arrives (or the timeout passes).
    loop = asyncio.get_running_loop()
    started = loop.time()
    waiting = asyncio.ensure_future(
        bot.get_updates(offset=second + 1, timeout=5, allowed_updates=["message"])
    )
    await asyncio.sleep(0.2)
    assert not waiting.done()
    third = fake.queue_update(
        {k: v for k, v in tg_updates.message("three").items() if k != "update_id"}
    )
    assert third == second + 1
    assert [u.update_id for u in await waiting] == [third]
    assert loop.time() - started < 2
    assert fake.webhook["allowed_updates"] == ["message"]
    started = loop.time()
    assert await bot.get_updates(offset=third + 1, timeout=0.3) == ()
    assert 0.25 <= loop.time() - started < 2
    assert fake.updates == []
    # A webhook set: 409, as Telegram answers.
    await bot.set_webhook("https://example.test/hook")
    with pytest.raises(Conflict, match="webhook is active"):
        await bot.get_updates()


async def test_tg_held_get_updates_apply_no_offset(
    fake_tg: tuple[FakeTelegram, telegram.Bot],
) -> None:
    fake, bot = fake_tg
    update_id = fake.queue_update(tg_updates.message("held"))
    fake.polls_before_hold = 1
    assert [u.update_id for u in await bot.get_updates()] == [update_id]
    held = asyncio.ensure_future(bot.get_updates(offset=update_id + 1, timeout=1))
    await fake.wait_for("getUpdates", 2, timeout=2)
    await asyncio.sleep(0.1)
    assert not held.done()
    assert [u["update_id"] for u in fake.updates] == [update_id]  # not confirmed
    await fake.stop()  # ends the held call: stopping never waits on it
    with contextlib.suppress(Exception):
        await held


async def test_tg_raw_http() -> None:
    fake = FakeTelegram(valid_tokens={TOKEN})
    root = await fake.start()
    try:
        async with aiohttp.ClientSession() as session:
            url = f"{root}/bot{TOKEN}/SENDMESSAGE"
            async with session.post(url, json={"chat_id": 3}) as resp:
                assert resp.status == 400
                assert (await resp.json())["description"] == "Bad Request: message text is empty"
            async with session.post(f"{root}/botwrong/getMe") as resp:
                assert resp.status == 401
                assert (await resp.json())["description"] == "Unauthorized"
            async with session.get(f"{root}/bot{TOKEN}/fooBar?chat_id=7") as resp:
                assert resp.status == 404
                assert (await resp.json())["description"] == "Not Found: method not found"
    finally:
        await fake.stop()
    assert [c.method for c in fake.calls] == ["sendMessage", "getMe", "fooBar"]
    assert fake.calls[2].params == {"chat_id": 7}
