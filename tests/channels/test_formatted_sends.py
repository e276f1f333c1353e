"""Rendered reply parts as each adapter sends them, over real HTTP to the fake provider APIs:
Telegram HTML and its plain fallback, photos by URL and their link fallback, WhatsApp image
messages, Twilio media."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from channels.telegram import TelegramAdapter
from channels.twilio import TwilioAdapter
from channels.whatsapp import WhatsAppAdapter
from gateway.dev import fake_twilio
from gateway.dev.fake_telegram import FakeTelegram
from gateway.dev.fake_twilio import FakeTwilio
from gateway.dev.fake_whatsapp import FakeWhatsApp
from gateway.messages import AccountInfo, OutboundMessage, SendError
from tests.auxil.adapters import whatsapp_on_fake

CHAT = 4242
PHONE = "+14155550100"
WA_USER = "16505551234"
CAT = "https://example.com/cat.jpg"
HTML = '<b>bold</b> <i>it</i> <a href="https://example.com/?a=1&amp;b=2">x &lt;y&gt;</a>'
HTML_SHOWN = "bold it x <y>"


def _message(channel: str, chat: str, text: str, **options: Any) -> OutboundMessage:
    return OutboundMessage(channel, "default", chat, text, options=options)


# --- Telegram --------------------------------------------------------------------------------


@pytest_asyncio.fixture
async def telegram() -> AsyncIterator[tuple[TelegramAdapter, FakeTelegram]]:
    fake = FakeTelegram()
    await fake.start()
    adapter = TelegramAdapter(
        AccountInfo(
            project="default",
            channel="telegram",
            account="default",
            secrets={"token": "1:token", "webhook_secret": "secret"},
            config={"api_base_url": fake.base_url},
        )
    )
    yield adapter, fake
    await adapter.close()
    await fake.stop()


def _tg(text: str, **options: Any) -> OutboundMessage:
    return _message("telegram", str(CHAT), text, **options)


async def test_html_goes_with_parse_mode(telegram: tuple[TelegramAdapter, FakeTelegram]) -> None:
    adapter, fake = telegram
    result = await adapter.send(_tg(HTML, markup="html"))
    [call] = fake.calls_to("sendMessage")
    assert call.params["parse_mode"] == "HTML" and call.params["text"] == HTML
    assert fake.sent_texts() == [HTML_SHOWN]
    assert result.provider_message_id == "1"


async def test_plain_text_has_no_parse_mode(
    telegram: tuple[TelegramAdapter, FakeTelegram],
) -> None:
    adapter, fake = telegram
    await adapter.send(_tg("a <b> & **c**"))
    [call] = fake.calls_to("sendMessage")
    assert "parse_mode" not in call.params
    assert fake.sent_texts() == ["a <b> & **c**"]


@pytest.mark.parametrize(
    ("html", "plain"),
    [
        ("<b>bold</i> and 1 < 2", None),  # refused by the fake's parser: not valid HTML
        ("<b>bold</b> &amp; more", "bold & more"),  # valid, refused by an injected failure
    ],
)
async def test_refused_html_is_sent_again_as_plain_text(
    telegram: tuple[TelegramAdapter, FakeTelegram], html: str, plain: str | None
) -> None:
    adapter, fake = telegram
    if plain is not None:
        fake.fail_next(
            "sendMessage",
            status=400,
            description="Bad Request: can't parse entities: Unsupported start tag at byte 0",
        )
    await adapter.send(_tg(html, markup="html"))
    first, second = fake.calls_to("sendMessage")
    assert first.status == 400 and first.params["parse_mode"] == "HTML"
    assert second.status == 200 and "parse_mode" not in second.params
    assert len(fake.sent_texts()) == 1  # delivered once
    if plain is not None:
        assert fake.sent_texts() == [plain]
    assert "<b>" not in fake.sent_texts()[0]


async def test_other_refusals_are_not_retried_plain(
    telegram: tuple[TelegramAdapter, FakeTelegram],
) -> None:
    adapter, fake = telegram
    fake.fail_next("sendMessage", status=429, description="Too Many Requests", retry_after=3)
    with pytest.raises(SendError) as info:
        await adapter.send(_tg(HTML, markup="html"))
    assert info.value.retry_after == 3
    fake.block_chat(CHAT)
    with pytest.raises(SendError) as blocked:
        await adapter.send(_tg(HTML, markup="html"))
    assert blocked.value.permanent
    assert len(fake.calls_to("sendMessage")) == 2  # one try each, no plain resend


async def test_an_image_part_is_a_photo_with_its_caption_and_reply(
    telegram: tuple[TelegramAdapter, FakeTelegram],
) -> None:
    adapter, fake = telegram
    sent = await adapter.send(
        OutboundMessage(
            "telegram",
            "default",
            str(CHAT),
            "<i>a cat</i>",
            reply_to="7",
            options={"markup": "html", "image_url": CAT},
        )
    )
    [call] = fake.calls_to("sendPhoto")
    assert call.params["photo"] == CAT and call.params["parse_mode"] == "HTML"
    assert call.params["reply_parameters"]["message_id"] == 7
    assert fake.sent_photos() == [(CAT, "a cat")]
    assert fake.calls_to("sendMessage") == []
    assert sent.provider_message_id == "1"


async def test_an_image_without_caption(telegram: tuple[TelegramAdapter, FakeTelegram]) -> None:
    adapter, fake = telegram
    await adapter.send(_tg("", markup="html", image_url=CAT))
    [call] = fake.calls_to("sendPhoto")
    assert "caption" not in call.params and "parse_mode" not in call.params
    assert fake.sent_photos() == [(CAT, "")]


@pytest.mark.parametrize("url", ["https://example.com/gone.jpg", "not a url"])
async def test_a_refused_photo_goes_as_its_link(
    telegram: tuple[TelegramAdapter, FakeTelegram], url: str
) -> None:
    adapter, fake = telegram
    fake.unreachable_urls.add("https://example.com/gone.jpg")
    await adapter.send(_tg("<b>a cat</b>", markup="html", image_url=url))
    [photo] = fake.calls_to("sendPhoto")
    assert photo.status == 400
    [text] = fake.calls_to("sendMessage")
    assert text.params["parse_mode"] == "HTML"
    assert fake.sent_texts() == [f"a cat ({url})"]
    assert fake.sent_photos() == []


async def test_a_link_fallback_keeps_an_ampersand_in_the_url(
    telegram: tuple[TelegramAdapter, FakeTelegram],
) -> None:
    adapter, fake = telegram
    url = "https://example.com/gone.jpg?a=1&b=2"
    fake.unreachable_urls.add(url)
    await adapter.send(_tg("", markup="html", image_url=url))
    assert fake.sent_texts() == [url]


async def test_a_photo_refused_for_another_reason_fails(
    telegram: tuple[TelegramAdapter, FakeTelegram],
) -> None:
    adapter, fake = telegram
    fake.block_chat(CHAT)
    with pytest.raises(SendError) as info:
        await adapter.send(_tg("a cat", image_url=CAT))
    assert info.value.permanent and "blocked" in info.value.reason
    assert fake.calls_to("sendMessage") == []


# --- WhatsApp Cloud API ------------------------------------------------------------------------


@pytest_asyncio.fixture
async def whatsapp() -> AsyncIterator[tuple[WhatsAppAdapter, FakeWhatsApp]]:
    async with whatsapp_on_fake() as pair:
        yield pair


async def test_whatsapp_markup_is_a_text_body(
    whatsapp: tuple[WhatsAppAdapter, FakeWhatsApp],
) -> None:
    adapter, fake = whatsapp
    await adapter.send(_message("whatsapp", WA_USER, "*bold* _it_", markup="whatsapp"))
    [sent] = fake.messages
    assert sent["type"] == "text" and sent["text"]["body"] == "*bold* _it_"


async def test_whatsapp_image_by_link(whatsapp: tuple[WhatsAppAdapter, FakeWhatsApp]) -> None:
    adapter, fake = whatsapp
    result = await adapter.send(_message("whatsapp", WA_USER, "_a cat_", image_url=CAT))
    await adapter.send(_message("whatsapp", WA_USER, "", image_url=CAT))
    first, second = fake.messages
    assert first["image"] == {"link": CAT, "caption": "_a cat_"}
    assert second["image"] == {"link": CAT}  # no empty caption
    assert fake.sent_images() == [(CAT, "_a cat_"), (CAT, "")]
    assert result.provider_message_id == first["id"]


@pytest.mark.parametrize(("code", "falls_back"), [(131053, True), (131009, True), (131026, False)])
async def test_whatsapp_refused_image_goes_as_its_link(
    whatsapp: tuple[WhatsAppAdapter, FakeWhatsApp], code: int, falls_back: bool
) -> None:
    adapter, fake = whatsapp
    fake.fail_next(status=400, code=code, message="refused")
    message = _message("whatsapp", WA_USER, "_a cat_", image_url=CAT)
    if not falls_back:  # undeliverable to this user: a link would not arrive either
        with pytest.raises(SendError):
            await adapter.send(message)
        assert fake.messages == []
        return
    await adapter.send(message)
    assert fake.sent_images() == []
    assert fake.sent_texts() == [f"_a cat_ ({CAT})"]


async def test_whatsapp_unusable_media_in_the_fake(
    whatsapp: tuple[WhatsAppAdapter, FakeWhatsApp],
) -> None:
    adapter, fake = whatsapp
    fake.unusable_media.add(CAT)
    await adapter.send(_message("whatsapp", WA_USER, "", image_url=CAT))
    assert [call.status for call in fake.calls_to("messages")] == [400, 200]
    assert fake.sent_texts() == [CAT]


# --- Twilio ----------------------------------------------------------------------------------


@pytest_asyncio.fixture
async def twilio() -> AsyncIterator[tuple[TwilioAdapter, FakeTwilio]]:
    fake = FakeTwilio(phone_numbers=["+15005550006"])
    await fake.start()
    adapter = TwilioAdapter(
        AccountInfo(
            project="default",
            channel="sms",
            account="default",
            secrets={"auth_token": fake_twilio.DEFAULT_AUTH_TOKEN},
            config={
                "account_sid": fake_twilio.DEFAULT_ACCOUNT_SID,
                "from_number": "+15005550006",
                "api_base_url": fake.base_url,
            },
        )
    )
    yield adapter, fake
    await adapter.close()
    await fake.stop()


@pytest.mark.parametrize("chat", [PHONE, f"whatsapp:{PHONE}"])
async def test_twilio_media_url_with_the_body(
    twilio: tuple[TwilioAdapter, FakeTwilio], chat: str
) -> None:
    adapter, fake = twilio
    await adapter.send(_message("sms", chat, "a cat", image_url=CAT))
    await adapter.send(_message("sms", chat, "", image_url=CAT))
    await adapter.send(_message("sms", chat, "just text"))
    with_caption, bare, text = fake.messages
    assert (with_caption["body"], with_caption["media_urls"]) == ("a cat", [CAT])
    assert (bare["body"], bare["media_urls"], bare["num_media"]) == ("", [CAT], "1")
    assert (text["body"], text["media_urls"]) == ("just text", [])
