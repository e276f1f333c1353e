"""The agent's Markdown answer, end to end over real HTTP (webhook -> turn -> outbox -> sender ->
fake provider API), on both databases: Telegram HTML with `parse_mode`, WhatsApp's markup on the
Cloud API and through Twilio, plain SMS; images in their place (and their links where a provider
refuses them); the gateway's own texts plain; "can't parse entities" answered by one plain copy.

The mock core answers `Echo: <the user's text>`, so the user's text is the Markdown under test.
"""

from __future__ import annotations

import asyncio
from typing import Any

from gateway.dev import fake_twilio, fake_whatsapp
from gateway.dev.fake_telegram import RecordedCall
from gateway.storage.db.models import OutboundMessage
from gateway.turn.replies import QUOTA_REPLY
from tests.auxil import updates
from tests.auxil.harness import TWILIO_NUMBER, Harness, eventually

MARKDOWN = "**bold** _it_ [x](https://example.com)"
PHONE = "+14155550100"
WA_ID = "14155550123"
CAT = "https://example.com/cat.jpg"
WITH_IMAGE = f"look\n\n![a cat]({CAT})\n\nthere"


def _accepted(gw: Harness) -> list[RecordedCall]:
    """The sends Telegram accepted (messages and photos), in the order they arrived."""
    return [
        call
        for call in gw.telegram.calls
        if call.method in ("sendMessage", "sendPhoto") and call.status == 200
    ]


async def _whatsapp_cloud(gw: Harness, text: str, count: int) -> list[dict[str, Any]]:
    assert gw.whatsapp is not None
    message = fake_whatsapp.text_message(WA_ID, text)
    assert (await gw.post_whatsapp(fake_whatsapp.webhook_payload(messages=[message])))[0] == 200
    return await gw.whatsapp.wait_for_messages(count)


async def _twilio(gw: Harness, sender: str, text: str, count: int) -> list[dict[str, Any]]:
    assert gw.twilio is not None
    to = f"whatsapp:{TWILIO_NUMBER}" if sender.startswith("whatsapp:") else TWILIO_NUMBER
    form = fake_twilio.inbound_form(from_=sender, to=to, body=text)
    assert (await gw.post_twilio(form))[0] == 200
    return await gw.twilio.wait_for_messages(count)


# --- Markdown per channel --------------------------------------------------------------------


async def test_telegram_gets_html_with_parse_mode(gw: Harness) -> None:
    await gw.post_update(updates.message(MARKDOWN))
    [call] = await gw.telegram.wait_for("sendMessage", 1)
    assert call.status == 200 and call.params["parse_mode"] == "HTML"
    html = call.params["text"]
    assert "<b>bold</b>" in html and "<i>it</i>" in html
    assert '<a href="https://example.com">x</a>' in html
    assert gw.telegram.sent_texts() == ["Echo: bold it x"]


async def test_whatsapp_cloud_gets_whatsapp_markup(gw: Harness) -> None:
    [sent] = await _whatsapp_cloud(gw, MARKDOWN, 1)
    assert sent["type"] == "text"
    assert sent["text"]["body"] == "Echo: *bold* _it_ x (https://example.com)"


async def test_whatsapp_through_twilio_gets_whatsapp_markup(gw: Harness) -> None:
    [sent] = await _twilio(gw, f"whatsapp:+{WA_ID}", MARKDOWN, 1)
    assert sent["body"] == "Echo: *bold* _it_ x (https://example.com)"


async def test_sms_gets_plain_text(gw: Harness) -> None:
    [sent] = await _twilio(gw, PHONE, MARKDOWN, 1)
    assert sent["body"] == "Echo: bold it x (https://example.com)"
    assert sent["media_urls"] == []


async def test_the_gateways_own_notices_stay_plain(gw: Harness) -> None:
    await gw.post_update(updates.message("**bold** #status=402"))
    [call] = await gw.telegram.wait_for("sendMessage", 1)
    assert "parse_mode" not in call.params
    assert call.params["text"] == QUOTA_REPLY
    [row] = await gw.outbox()
    assert "markup" not in row.options


# --- Telegram refusing the formatting -----------------------------------------------------------


async def test_cant_parse_entities_delivers_the_plain_text_once(gw: Harness) -> None:
    gw.telegram.fail_next(
        "sendMessage",
        status=400,
        description="Bad Request: can't parse entities: Can't find end tag corresponding to "
        'start tag "b"',
    )
    await gw.post_update(updates.message(MARKDOWN))
    refused, plain = await gw.telegram.wait_for("sendMessage", 2)
    assert refused.status == 400 and refused.params["parse_mode"] == "HTML"
    assert plain.status == 200 and "parse_mode" not in plain.params
    await asyncio.sleep(0.3)
    assert gw.telegram.sent_texts() == ["Echo: bold it x"]
    [row] = await eventually(
        lambda: _sent_rows(gw), message="the row marked sent after the plain copy"
    )
    assert row.last_error is None


async def _sent_rows(gw: Harness) -> list[OutboundMessage]:
    rows = await gw.outbox()
    return rows if rows and all(row.status == "sent" for row in rows) else []


# --- images in answers ---------------------------------------------------------------------------


async def test_telegram_sends_an_answers_image_in_its_place(gw: Harness) -> None:
    await gw.post_update(updates.message(WITH_IMAGE))
    await gw.telegram.wait_for("sendPhoto", 1)
    sends = await eventually(lambda: len(_accepted(gw)) >= 3 and _accepted(gw))
    assert [call.method for call in sends] == ["sendMessage", "sendPhoto", "sendMessage"]
    assert gw.telegram.sent_photos() == [(CAT, "a cat")]
    before, after = gw.telegram.sent_texts()
    assert before.startswith("Echo: look") and after.strip() == "there"
    rows = await gw.outbox()
    assert [row.options.get("image_url") for row in rows] == [None, CAT, None]


async def test_an_output_image_from_the_core_is_sent_as_a_photo_after_the_text(
    gw: Harness,
) -> None:
    """A core that returns an image as an `output_image` part (mock core `#image=`), not as
    Markdown: the same image delivery."""
    await gw.post_update(updates.message(f"#image={CAT} draw a cat"))
    await gw.telegram.wait_for("sendPhoto", 1)
    sends = await eventually(lambda: len(_accepted(gw)) >= 2 and _accepted(gw))
    assert [call.method for call in sends] == ["sendMessage", "sendPhoto"]
    assert gw.telegram.sent_texts() == ["Echo: draw a cat"]
    assert gw.telegram.sent_photos() == [(CAT, "Generated image")]
    await asyncio.sleep(0.2)
    assert len(_accepted(gw)) == 2


async def test_telegram_sends_a_refused_image_as_its_link(gw: Harness) -> None:
    gw.telegram.unreachable_urls.add(CAT)
    await gw.post_update(updates.message(WITH_IMAGE))
    await gw.telegram.wait_for("sendMessage", 3)
    texts = gw.telegram.sent_texts()
    assert texts[1] == f"a cat ({CAT})"
    assert texts[0].startswith("Echo: look") and texts[2].strip() == "there"
    assert gw.telegram.sent_photos() == []


async def test_whatsapp_cloud_sends_an_image_message_in_its_place(gw: Harness) -> None:
    sent = await _whatsapp_cloud(gw, WITH_IMAGE, 3)
    assert [m["type"] for m in sent] == ["text", "image", "text"]
    assert sent[1]["image"] == {"link": CAT, "caption": "a cat"}


async def test_whatsapp_cloud_sends_a_refused_image_as_its_link(gw: Harness) -> None:
    assert gw.whatsapp is not None
    gw.whatsapp.unusable_media.add(CAT)
    sent = await _whatsapp_cloud(gw, WITH_IMAGE, 3)
    assert [m["type"] for m in sent] == ["text", "text", "text"]
    assert sent[1]["text"]["body"] == f"a cat ({CAT})"


async def test_twilio_sends_an_answers_image_as_media(gw: Harness) -> None:
    for count, sender in enumerate((PHONE, f"whatsapp:+{WA_ID}"), start=1):
        sent = (await _twilio(gw, sender, WITH_IMAGE, 3 * count))[-3:]
        assert [m["media_urls"] for m in sent] == [[], [CAT], []], sender
        assert sent[1]["body"] == "a cat"
        assert sent[0]["body"].startswith("Echo: look") and sent[2]["body"].strip() == "there"


# --- long formatted answers --------------------------------------------------------------------


def _long_markdown(paragraphs: int = 40) -> str:
    words = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor"
    return "\n\n".join(f"**Part {n}** {words} _{n}_ {words}" for n in range(paragraphs))


def _words(texts: list[str]) -> list[str]:
    return " ".join(texts).split()


async def test_a_long_formatted_answer_is_split_and_delivered_in_order(gw: Harness) -> None:
    markdown = _long_markdown()
    await gw.post_update(updates.message(markdown))
    rows = await eventually(lambda: _sent_rows(gw), message="every part sent")
    assert len(rows) >= 2
    calls = gw.telegram.calls_to("sendMessage")
    assert all(call.status == 200 and call.params["parse_mode"] == "HTML" for call in calls)
    expected = "Echo: " + markdown.replace("**", "").replace("_", "")
    assert _words(gw.telegram.sent_texts()) == expected.split()


async def test_a_long_formatted_answer_on_whatsapp_has_no_markdown_left(gw: Harness) -> None:
    markdown = _long_markdown()
    assert gw.whatsapp is not None
    await _whatsapp_cloud(gw, markdown, 2)
    rows = await eventually(lambda: _sent_rows(gw), message="every part sent")
    assert len(rows) == len(gw.whatsapp.messages) >= 2
    bodies = gw.whatsapp.sent_texts()
    assert all(len(body) <= 4096 and "**" not in body for body in bodies)
    assert _words(bodies) == ("Echo: " + markdown.replace("**", "*")).split()
