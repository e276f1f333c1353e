"""GATEWAY_MEDIA_RETENTION_HOURS, end to end (SQLite and PostgreSQL): 0 writes no media bytes to
the database; above 0 each downloaded item is kept encrypted, reused by a retried turn (one
download in total), and deleted once expired, by the store and by the worker's sweeper."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import text, update

from gateway import runtime
from gateway.dev import fake_twilio
from gateway.dev.fake_telegram import FakeTelegram, photo_sizes
from gateway.dev.fake_twilio import FakeTwilio
from gateway.dev.mock_core import MockCore
from gateway.storage.db.models import MediaItem, Turn, utcnow
from gateway.storage.secrets import SecretBox
from tests.auxil import updates
from tests.auxil.harness import SECRET_KEY, TWILIO_NUMBER, Harness, eventually
from tests.turn.test_media_turns import JPEG, PNG

PHONE = "+14155550100"
Start = Callable[..., Awaitable[Harness]]


@pytest_asyncio.fixture
async def start(db_url: str) -> AsyncIterator[Start]:
    """`await start(**settings)`: the gateway with Telegram and Twilio fakes; stopped after."""
    started: list[Harness] = []

    async def run(**settings: Any) -> Harness:
        gw = Harness(db_url, FakeTelegram(), MockCore(), twilio=FakeTwilio())
        started.append(gw)
        return await gw.start(**settings)

    yield run
    for gw in started:
        await gw.stop()


async def _raw_items(gw: Harness) -> list[dict[str, object]]:
    """media_items as stored, read with plain SQL."""
    assert gw.runtime is not None
    async with gw.runtime.db.engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT position, kind, mime_type, size, data_encrypted, created_at, expires_at "
                "FROM media_items ORDER BY inbox_event_id, position"
            )
        )
        return [dict(row) for row in rows.mappings()]


async def _photo_turn(gw: Harness, caption: str, answers: int = 1) -> None:
    """A photo with `caption`, then wait for the `answers`th message to the chat."""
    file = gw.telegram.add_file(JPEG, "image/jpeg")
    await gw.post_update(updates.media({"photo": photo_sizes(file)}, caption=caption))
    await gw.telegram.wait_for("sendMessage", answers)


async def test_retention_0_writes_no_media_row(start: Start) -> None:
    gw = await start()
    await _photo_turn(gw, "look")
    assert gw.telegram.sent_texts() == ["Echo: look [image image/jpeg 12,345 bytes]"]
    assert await gw.count(MediaItem) == 0


async def test_retention_keeps_the_photo_encrypted(start: Start) -> None:
    gw = await start(media_retention_hours=1)
    await _photo_turn(gw, "look")
    assert gw.telegram.sent_texts() == ["Echo: look [image image/jpeg 12,345 bytes]"]
    [row] = await _raw_items(gw)
    assert (row["position"], row["kind"], row["mime_type"], row["size"]) == (
        0,
        "image",
        "image/jpeg",
        len(JPEG),
    )
    stored = row["data_encrypted"]
    assert isinstance(stored, str)
    assert base64.b64encode(JPEG[:600]).decode() not in stored  # not the plaintext
    opened = SecretBox([SECRET_KEY]).decrypt(stored)
    assert base64.b64decode(opened["data"]) == JPEG
    assert gw.runtime is not None
    [kept] = await gw.runtime.media_store.load((await gw.turns())[0].inbox_event_id)
    assert (kept.position, kept.data) == (0, JPEG)


@pytest.mark.parametrize("hours", [0, 1])
async def test_a_turn_retried_after_a_core_5xx_downloads_once(start: Start, hours: int) -> None:
    """3 claims, each failing at the core: with retention the photo is fetched once; without
    it, once per claim."""
    gw = await start(media_retention_hours=hours, inbox_max_attempts=3)
    file = gw.telegram.add_file(JPEG, "image/jpeg")
    await gw.post_update(updates.media({"photo": photo_sizes(file)}, caption="#status=503 hi"))
    [apology] = await gw.telegram.wait_for("sendMessage", 1)
    assert "something went wrong" in apology.params["text"]
    assert len(gw.core.requests) == 6  # 3 claims x 2 tries
    inputs = {json.dumps(r["body"]["input"], sort_keys=True) for r in gw.core.requests}
    assert len(inputs) == 1  # the kept photo is sent exactly as the downloaded one
    assert file.downloads == (1 if hours else 3)
    assert len(gw.telegram.calls_to("getFile")) == (1 if hours else 3)
    assert await gw.count(MediaItem) == (1 if hours else 0)


async def test_a_retry_downloads_only_what_is_not_kept(start: Start) -> None:
    """An MMS of two images: the second fails on the first claim (told, not kept), the core
    fails; the second claim reuses the first image and downloads only the second."""
    gw = await start(media_retention_hours=1, inbox_max_attempts=2, media_attempts=1)
    assert gw.twilio is not None
    first, second = gw.twilio.add_media(JPEG, "image/jpeg"), gw.twilio.add_media(PNG, "image/png")
    gw.twilio.media.fail_next(second, 503)
    media = [(gw.twilio.media_url(f), f.mime_type) for f in (first, second)]
    form = fake_twilio.inbound_form(from_=PHONE, to=TWILIO_NUMBER, body="#status=503", media=media)
    assert (await gw.post_twilio(form))[0] == 200
    await gw.twilio.wait_for_messages(1)
    assert (first.downloads, first.requests) == (1, 1)
    assert (second.downloads, second.requests) == (1, 2)
    assert [(r["position"], r["mime_type"]) for r in await _raw_items(gw)] == [
        (0, "image/jpeg"),
        (1, "image/png"),
    ]
    last = gw.core.requests[-1]["body"]["input"][0]["content"]
    assert [part["type"] for part in last] == ["input_text", "input_image", "input_image"]


async def test_purge_removes_expired_items_and_keeps_fresh_ones(start: Start) -> None:
    gw = await start(media_retention_hours=1)
    await _photo_turn(gw, "one")
    await _photo_turn(gw, "two", answers=2)
    assert gw.runtime is not None
    store, db = gw.runtime.media_store, gw.runtime.db
    old, fresh = (turn.inbox_event_id for turn in await gw.turns())
    now = utcnow()
    assert await store.purge_expired(now) == 0
    async with db.engine.begin() as conn:
        past = now - timedelta(seconds=1)
        await conn.execute(
            update(MediaItem).where(MediaItem.inbox_event_id == old).values(expires_at=past)
        )
    assert await store.load(old, now) == []  # expired: not reused, even before the purge
    assert await store.purge_expired(now) == 1
    assert await store.load(fresh, now) != []
    assert await gw.count(MediaItem) == 1
    # Fresh for an hour: past it, the rest goes too.
    assert await store.purge_expired(now + timedelta(hours=1, seconds=1)) == 1
    assert await gw.count(MediaItem) == 0


async def test_the_sweeper_purges_expired_items(
    start: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime, "MEDIA_PURGE_SECONDS", 0.05)
    gw = await start(media_retention_hours=1, approval_sweep_seconds=0.05)
    await _photo_turn(gw, "one")
    await _photo_turn(gw, "two", answers=2)
    assert gw.runtime is not None
    old, fresh = (turn.inbox_event_id for turn in await gw.turns())
    async with gw.runtime.db.engine.begin() as conn:
        await conn.execute(
            update(MediaItem)
            .where(MediaItem.inbox_event_id == old)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )

    async def purged() -> bool:
        return await gw.count(MediaItem, MediaItem.inbox_event_id == old) == 0

    await eventually(purged, message="the expired item is purged")
    assert await gw.count(MediaItem, MediaItem.inbox_event_id == fresh) == 1
    assert await gw.count(Turn) == 2
