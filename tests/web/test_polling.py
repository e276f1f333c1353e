"""The poller against the fake Bot API and a real database: what it stores, and what it confirms
to Telegram when an update is bad, the database is down or Telegram fails."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from gateway.dev.fake_telegram import FakeTelegram
from gateway.dev.mock_core import MockCore
from gateway.runtime import Runtime
from gateway.storage.db.models import InboxEvent
from gateway.web import polling
from gateway.web.polling import Poller, PollingRefused
from tests.auxil import updates
from tests.auxil.harness import Harness


@pytest_asyncio.fixture
async def h(db_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Harness]:
    monkeypatch.setattr(polling, "RETRY_BASE_SECONDS", 0.01)
    harness = Harness(db_url, FakeTelegram(), MockCore())
    await harness.start(run_worker=False)
    try:
        yield harness
    finally:
        await harness.stop()


def _runtime(h: Harness) -> Runtime:
    assert h.runtime is not None
    return h.runtime


async def _stored(h: Harness) -> list[str]:
    async with _runtime(h).db.session() as session:
        rows = await session.scalars(
            InboxEvent.__table__.select().with_only_columns(InboxEvent.event_id)
        )
        return sorted(rows.all())


async def test_a_bad_update_is_dropped_and_confirmed_the_rest_stored(h: Harness) -> None:
    good = [updates.message("one"), updates.message("two")]
    no_chat = {"update_id": updates.next_update_id(), "message": {"text": "no chat"}}
    nul = updates.message("nul \x00 inside")  # built last: the highest id, served last
    for update in (good[0], no_chat, nul, good[1]):
        h.telegram.queue_update(update)
    poller = Poller(_runtime(h), "telegram", "default", timeout=0)
    assert await poller.poll_once() == 4
    assert await _stored(h) == sorted(str(u["update_id"]) for u in good)
    assert poller.offset == nul["update_id"] + 1  # the highest id, dropped or stored
    assert await poller.poll_once() == 0
    assert h.telegram.updates == []  # all four confirmed: the bad ones are never asked for again
    metrics = _runtime(h).metrics.webhooks
    assert metrics.labels("telegram", "malformed")._value.get() == 2
    assert metrics.labels("telegram", "accepted")._value.get() == 2


async def test_a_database_outage_mid_batch_confirms_only_what_is_stored(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch = [updates.message(f"n{n}", chat_id=700 + n) for n in range(3)]
    for update in batch:
        h.telegram.queue_update(update)
    writer = _runtime(h).inbox_writer
    real_store = writer.store
    calls = 0

    async def store_failing_once(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise OSError("connection refused")
        return await real_store(*args, **kwargs)

    monkeypatch.setattr(writer, "store", store_failing_once)
    poller = Poller(_runtime(h), "telegram", "default", timeout=0)
    assert await poller.poll_once() == 0
    first = batch[0]["update_id"]
    assert await _stored(h) == [str(first)]
    assert poller.offset == first + 1  # the next poll confirms the stored one, not the others
    assert await poller.poll_once() == 2
    assert h.telegram.calls_to("getUpdates")[1].params["offset"] == first + 1
    assert await _stored(h) == sorted(str(u["update_id"]) for u in batch)
    await poller.poll_once()
    assert h.telegram.updates == []


async def test_telegram_failures_are_waited_out_or_refuse_for_good(h: Harness) -> None:
    update = updates.message("after the outage")
    h.telegram.queue_update(update)
    poller = Poller(_runtime(h), "telegram", "default", timeout=0)
    h.telegram.fail_next("getUpdates", status=502, description="Bad Gateway")
    assert await poller.poll_once() == 0
    assert poller.offset is None
    assert await poller.poll_once() == 1
    assert await _stored(h) == [str(update["update_id"])]

    h.telegram.fail_next("getUpdates", status=409, description="Conflict: terminated by other")
    with pytest.raises(PollingRefused, match="409"):
        await poller.poll_once()
