"""An album is one message (issue 24, item 5): Telegram delivers each photo of a media group as
an update of its own; the gateway gathers them (GATEWAY_ALBUM_WAIT_SECONDS after the latest
part) and the agent gets one message with every photo and the caption, the user one answer.
Payload shape: the Bot API's `Message.media_group_id` (https://core.telegram.org/bots/api#message)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select

from gateway.dev.fake_telegram import photo_sizes
from gateway.messages import Attachment, InboundEvent
from gateway.storage.db.models import InboxEvent
from gateway.turn.handlers.album import merged
from tests.auxil import updates
from tests.auxil.harness import Harness, eventually
from tests.turn.test_media_turns import _content, _image, _text

GROUP = -1002223334445
BOT = "@gateway_demo_bot"
JPEGS = [b"\xff\xd8\xff\xe0" + bytes([n]) * (100 * n) for n in (1, 2, 3)]


def _part(
    gw: Harness, data: bytes, album: str, caption: str | None = None, **options: Any
) -> dict[str, Any]:
    fields: dict[str, Any] = {"photo": photo_sizes(gw.telegram.add_file(data, "image/jpeg"))}
    fields["media_group_id"] = album
    if caption is not None:
        fields["caption"] = caption
        at = caption.find("@")
        if at != -1:
            length = len(caption[at:].split()[0])
            fields["caption_entities"] = [{"type": "mention", "offset": at, "length": length}]
    return updates.media(fields, **options)


async def _inbox(gw: Harness) -> list[InboxEvent]:
    assert gw.runtime is not None
    async with gw.runtime.db.session() as session:
        return list((await session.scalars(select(InboxEvent).order_by(InboxEvent.id))).all())


def _echo(caption: str) -> str:
    return f"Echo: {caption} " + " ".join(
        f"[image image/jpeg {len(data):,} bytes]" for data in JPEGS
    )


async def test_an_album_is_one_message_and_one_answer(gw: Harness) -> None:
    album = "13576298347562832"
    parts = [
        _part(gw, JPEGS[0], album),
        _part(gw, JPEGS[1], album, "which is the best?"),
        _part(gw, JPEGS[2], album),
    ]
    for update in parts:
        assert (await gw.post_update(update)).status == 200
    await gw.telegram.wait_for("sendMessage", 1)
    await asyncio.sleep(0.3)  # no second answer follows
    assert gw.telegram.sent_texts() == [_echo("which is the best?")]
    assert len(gw.core.requests) == 1
    assert _content(gw.core) == [
        _text("which is the best?"),
        *(_image("image/jpeg", data) for data in JPEGS),
    ]
    first, *rest = await _inbox(gw)
    assert first.status == "done"
    assert [(row.status, row.last_error) for row in rest] == [
        ("done", f"album part of inbox {first.id}")
    ] * 2
    [turn] = await gw.turns()
    assert turn.inbox_event_id == first.id
    # A redelivered part changes nothing: it is already in the inbox.
    assert (await gw.post_update(parts[2])).status == 200
    await asyncio.sleep(0.3)
    assert len(gw.core.requests) == 1 and len(await gw.turns()) == 1


@pytest.mark.timing  # wall-clock windows: run alone (docs/testing.md)
async def test_parts_that_trickle_in_are_still_one_message(gw: Harness) -> None:
    """Each part arrives within the wait of the one before (1 s by default): the wait starts
    again from the latest part."""
    album = "13576298347562999"
    for n, data in enumerate(JPEGS):
        if n:
            await asyncio.sleep(0.6)
        update = _part(gw, data, album, "compare" if n == 0 else None)
        assert (await gw.post_update(update)).status == 200
    await gw.telegram.wait_for("sendMessage", 1)
    await asyncio.sleep(0.3)
    assert gw.telegram.sent_texts() == [_echo("compare")]
    assert len(gw.core.requests) == 1


async def test_a_message_after_the_album_is_answered_after_it(gw: Harness) -> None:
    album = "13576298347563111"
    for n, data in enumerate(JPEGS):
        await gw.post_update(_part(gw, data, album, "these" if n == 2 else None))
    await gw.post_update(updates.message("and one more thing"))
    await gw.telegram.wait_for("sendMessage", 2)
    assert gw.telegram.sent_texts() == [_echo("these"), "Echo: and one more thing (turn 2)"]
    assert len(gw.core.requests) == 2


async def test_an_album_in_a_group_is_judged_by_its_caption(gw: Harness) -> None:
    """Only the captioned part mentions the bot; the album is answered once, as a reply to it.
    An album that does not mention the bot is recorded, all parts ignored, none answered."""
    group = {"chat_id": GROUP, "chat_type": "supergroup"}
    album = "22222222222222222"
    parts = [
        _part(gw, JPEGS[0], album, **group),
        _part(gw, JPEGS[1], album, f"{BOT} which one?", **group),
        _part(gw, JPEGS[2], album, **group),
    ]
    for update in parts:
        await gw.post_update(update)
    [call] = await gw.telegram.wait_for("sendMessage", 1)
    assert call.params["text"] == _echo("which one?")
    assert int(call.params["reply_parameters"]["message_id"]) == (parts[1]["message"]["message_id"])

    quiet = "33333333333333333"
    for data in JPEGS:
        await gw.post_update(_part(gw, data, quiet, **group))

    async def all_ignored() -> bool:
        rows = [r for r in await _inbox(gw) if r.payload["hints"].get("album") == quiet]
        return len(rows) == 3 and all(r.status == "ignored" for r in rows)

    await eventually(all_ignored, message="the unaddressed album's parts")
    assert len(gw.core.requests) == 1 and len(gw.telegram.sent_texts()) == 1


def test_merging_keeps_the_first_parts_key_and_the_captioned_parts_addressing() -> None:
    def part(event_id: str, text: str | None, *, hints: dict[str, Any]) -> InboundEvent:
        return InboundEvent(
            channel="telegram",
            account="default",
            event_id=event_id,
            kind="message",
            sender="1",
            chat="1",
            message_id=f"m{event_id}",
            text=text,
            attachments=[Attachment(kind="image", file_id=f"f{event_id}")],
            hints={"album": "a", **hints},
        )

    one = merged(
        part("1", None, hints={}),
        [part("2", "look", hints={"mentions": ["bot"]}), part("3", "look", hints={})],
    )
    assert (one.event_id, one.message_id, one.text) == ("1", "m2", "look")
    assert one.hints["mentions"] == ["bot"]
    assert [a.file_id for a in one.attachments] == ["f1", "f2", "f3"]
    captions = merged(part("1", "a", hints={}), [part("2", "b", hints={})])
    assert captions.text == "a\nb"


async def test_an_album_retried_after_a_core_outage_is_still_one_answer(gw: Harness) -> None:
    """The core fails the album's first attempt: the retry gathers the same parts (they wait
    behind the first, unclaimed) and calls with the same key; one answer."""
    gw.core.controls.fail_status, gw.core.controls.fail_count = 503, 1
    album = "44444444444444444"
    parts = [_part(gw, data, album, "again" if n == 0 else None) for n, data in enumerate(JPEGS)]
    first = parts[0]["update_id"]
    for update in parts:
        await gw.post_update(update)
    await gw.telegram.wait_for("sendMessage", 1)
    await asyncio.sleep(0.3)
    assert gw.telegram.sent_texts() == [_echo("again")]
    keys = {request["headers"]["x-idempotency-key"] for request in gw.core.requests}
    assert len(gw.core.requests) >= 2 and keys == {f"gw:default:telegram:default:{first}"}
    assert _content(gw.core, 0) == _content(gw.core, -1)
    assert len(await gw.turns()) == 1
