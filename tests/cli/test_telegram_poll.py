"""`gateway telegram poll` as a real process against the fake Bot API and the mock core: updates
polled into the inbox, answered through the normal pipeline, confirmed only once stored."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from channels.telegram import ALLOWED_UPDATES
from gateway.dev.fake_telegram import FakeTelegram
from gateway.dev.mock_core import MockCore
from tests.auxil import updates
from tests.auxil.cli import failed, gateway, ok, rows
from tests.auxil.harness import BOT_TOKEN, SECRET_KEY, WEBHOOK_SECRET, eventually
from tests.auxil.process import GatewayProcess, gateway_env

pytestmark = pytest.mark.slow

Fakes = tuple[FakeTelegram, MockCore, dict[str, str]]


@pytest_asyncio.fixture
async def fakes(db_url: str) -> AsyncIterator[Fakes]:
    telegram, core = FakeTelegram(), MockCore()
    tg_url, core_url = await telegram.start(), await core.start()
    try:
        yield telegram, core, gateway_env(db_url, tg_url, core_url)
    finally:
        await telegram.stop()
        await core.stop()


def _message(text: str, chat_id: int) -> dict[str, Any]:
    """A private message from its own user (the mock core numbers turns per user)."""
    user = {"id": chat_id, "is_bot": False, "first_name": f"User {chat_id}"}
    return updates.message(text, chat_id=chat_id, user=user)


def _offsets(telegram: FakeTelegram) -> list[int | None]:
    return [call.params.get("offset") for call in telegram.calls_to("getUpdates")]


async def _stored_ids(db_url: str) -> list[str]:
    return [r[0] for r in await rows(db_url, "SELECT event_id FROM inbox_events ORDER BY id")]


def _assert_clean(proc: GatewayProcess) -> None:
    output = proc.output()
    assert "Traceback" not in output, output
    for secret in (BOT_TOKEN, SECRET_KEY, WEBHOOK_SECRET):
        assert secret not in output


async def test_poll_answers_updates_through_the_pipeline_and_advances_the_offset(
    db_url: str, fakes: Fakes, tmp_path: Path
) -> None:
    telegram, core, env = fakes
    first = [_message("hello", 1001), _message("there", 1002)]
    for update in first:
        telegram.queue_update(update)
    proc = GatewayProcess(["telegram", "poll", "--account", "default"], env, tmp_path / "poll.log")
    try:
        await eventually(
            lambda: len(telegram.sent_texts()) == 2, timeout=20, message="replies to the batch"
        )
        assert sorted(telegram.sent_texts()) == ["Echo: hello", "Echo: there"]
        # The next poll confirms the batch (offset = last id + 1): Telegram forgets it.
        last = first[-1]["update_id"]
        await eventually(lambda: last + 1 in _offsets(telegram), message="offset confirmed")
        assert telegram.updates == []
        # A later update wakes the long poll that is waiting.
        later = _message("later", 1003)
        telegram.queue_update(later)
        await eventually(lambda: len(telegram.sent_texts()) == 3, timeout=20)
        assert telegram.sent_texts()[-1] == "Echo: later"
        await eventually(lambda: later["update_id"] + 1 in _offsets(telegram))
        assert _offsets(telegram)[:3] == [None, last + 1, later["update_id"] + 1]
        polls = telegram.calls_to("getUpdates")
        assert {call.params["timeout"] for call in polls} == {"25"}
        assert all(call.params["allowed_updates"] == list(ALLOWED_UPDATES) for call in polls)
        assert all(call.token == BOT_TOKEN for call in polls)
        assert telegram.calls_to("getWebhookInfo")  # checked before the first poll
        keys = {r["headers"]["x-idempotency-key"] for r in core.requests}
        update_ids = [u["update_id"] for u in [*first, later]]
        assert keys == {f"gw:default:telegram:default:{uid}" for uid in update_ids}
        assert await _stored_ids(db_url) == [str(uid) for uid in update_ids]
        # SIGTERM stops the long poll at once and exits cleanly.
        assert await asyncio.to_thread(proc.terminate, 20.0) == 0, proc.output()
        assert sorted(telegram.sent_texts()) == ["Echo: hello", "Echo: later", "Echo: there"]
        _assert_clean(proc)
    finally:
        proc.close()


async def test_a_crash_mid_batch_loses_and_repeats_nothing(
    db_url: str, fakes: Fakes, tmp_path: Path
) -> None:
    telegram, core, env = fakes
    stored_first = [_message(f"first {n}", 2000 + n) for n in range(2)]
    for update in stored_first:
        telegram.queue_update(update)
    # Telegram answers the first poll; the next (which would confirm the batch) never arrives.
    telegram.polls_before_hold = 1
    args = ["telegram", "poll", "--account", "default"]
    first = GatewayProcess([*args, "--no-worker"], env, tmp_path / "first.log")
    second: GatewayProcess | None = None
    try:
        await eventually(lambda: len(telegram.calls_to("getUpdates")) == 2, timeout=20)
        ids = [str(u["update_id"]) for u in stored_first]
        assert await _stored_ids(db_url) == ids  # stored before the next poll was sent
        first.kill()
        assert telegram.sent_texts() == []  # --no-worker: stored, not answered
        # Telegram still holds the stored updates, and one more arrived: the batch a restart
        # gets is partly stored (as if the process had died in the middle of storing it).
        assert [u["update_id"] for u in telegram.updates] == [int(i) for i in ids]
        unstored = _message("not stored yet", 2009)
        telegram.queue_update(unstored)
        telegram.polls_before_hold = None

        second = GatewayProcess(args, env, tmp_path / "second.log")
        expected = ["Echo: first 0", "Echo: first 1", "Echo: not stored yet"]
        await eventually(lambda: len(telegram.sent_texts()) >= 3, timeout=20)
        await eventually(lambda: telegram.updates == [], message="the batch confirmed")
        await asyncio.sleep(1.0)  # a repeat would show by now
        assert sorted(telegram.sent_texts()) == expected
        assert _offsets(telegram)[2] is None  # the restart starts from what Telegram holds
        assert await _stored_ids(db_url) == [*ids, str(unstored["update_id"])]
        assert len(core.requests) == 3
        assert await asyncio.to_thread(second.terminate, 20.0) == 0, second.output()
        _assert_clean(second)
    finally:
        first.close()
        if second is not None:
            second.close()


async def test_poll_refuses_while_a_webhook_is_set(db_url: str, fakes: Fakes) -> None:
    telegram, _core, env = fakes
    hook = "https://gw.example.com/webhooks/telegram/default"
    telegram.webhook["url"] = hook
    telegram.queue_update(updates.message("not now"))
    result = await gateway("telegram", "poll", "--account", "default", env=env)
    line = failed(result, hook, "gateway telegram delete-webhook --account default")
    assert "webhook" in line
    assert telegram.calls_to("getUpdates") == []
    assert await _stored_ids(db_url) == []

    # The way out it names: the webhook goes, the pending updates stay.
    ok(await gateway("telegram", "delete-webhook", "--account", "default", env=env))
    assert telegram.webhook["url"] == ""
    assert telegram.webhook["drop_pending_updates_seen"] is False
    assert len(telegram.updates) == 1


async def test_poll_stops_with_one_line_when_telegram_refuses_it_later(
    db_url: str, fakes: Fakes, tmp_path: Path
) -> None:
    """A webhook set while polling (or a second poller): Telegram answers 409."""
    telegram, _core, env = fakes
    proc = GatewayProcess(["telegram", "poll"], env, tmp_path / "poll.log")
    try:
        await eventually(lambda: telegram.calls_to("getUpdates"), timeout=20)
        telegram.webhook["url"] = "https://gw.example.com/webhooks/telegram/default"
        telegram.queue_update(updates.message("wake the poll"))  # its answer was decided: 200
        code = await asyncio.to_thread(proc.proc.wait, 20)
        assert code == 1
        errors = [line for line in proc.output().splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "409" in errors[0] and "webhook is active" in errors[0]
        _assert_clean(proc)
    finally:
        proc.close()
