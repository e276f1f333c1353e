"""The worker's media downloads (`gateway/turn/media.py`) against the fake provider APIs over
real HTTP: each provider's lookup and authentication, the caps, retries, time limits, redirects,
and nothing secret in what is kept or logged."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from prometheus_client import Metric

from channels.base import ChannelAdapter, MediaSource
from channels.capabilities import SMS, TELEGRAM, WHATSAPP, WHATSAPP_VIA_TWILIO
from channels.telegram import TelegramAdapter
from channels.twilio import TwilioAdapter
from channels.whatsapp import WhatsAppAdapter
from gateway.config import Settings
from gateway.dev.fake_telegram import FakeTelegram
from gateway.dev.fake_twilio import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, FakeTwilio
from gateway.dev.fake_whatsapp import DEFAULT_ACCESS_TOKEN, DEFAULT_PHONE_NUMBER_ID, FakeWhatsApp
from gateway.dev.server import LocalServer
from gateway.messages import AccountInfo, Attachment, SendError
from gateway.metrics import Metrics
from gateway.turn.media import MediaFetcher, MediaLimits, MediaResult

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 40
LIMITS = MediaLimits(timeout=2.0, attempts=3, backoff_base=0.01)
Limited = Callable[[MediaLimits], MediaFetcher]


@pytest_asyncio.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    fake = FakeTelegram(valid_tokens={TOKEN})
    await fake.start()
    yield fake
    await fake.stop()


@pytest_asyncio.fixture
async def whatsapp() -> AsyncIterator[FakeWhatsApp]:
    fake = FakeWhatsApp()
    await fake.start()
    yield fake
    await fake.stop()


@pytest_asyncio.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    fake = FakeTwilio()
    await fake.start()
    yield fake
    await fake.stop()


@pytest_asyncio.fixture
async def fetcher() -> AsyncIterator[MediaFetcher]:
    media = MediaFetcher(Metrics(), LIMITS)
    yield media
    await media.close()


@pytest_asyncio.fixture
async def limited() -> AsyncIterator[Limited]:
    """Fetchers with other limits (closed after the test)."""
    made: list[MediaFetcher] = []

    def make(limits: MediaLimits) -> MediaFetcher:
        made.append(MediaFetcher(Metrics(), limits))
        return made[-1]

    yield make
    for fetcher in made:
        await fetcher.close()


@pytest_asyncio.fixture
async def adapters() -> AsyncIterator[list[ChannelAdapter]]:
    made: list[ChannelAdapter] = []
    yield made
    for adapter in made:
        await adapter.close()


def bot(fake: FakeTelegram, made: list[ChannelAdapter], token: str = TOKEN) -> TelegramAdapter:
    secrets = {"token": token, "webhook_secret": "s" * 16}
    adapter = TelegramAdapter(
        AccountInfo("p", "telegram", "bot", secrets, {"api_base_url": fake.base_url})
    )
    made.append(adapter)
    return adapter


def number(
    fake: FakeWhatsApp, made: list[ChannelAdapter], token: str = DEFAULT_ACCESS_TOKEN
) -> WhatsAppAdapter:
    secrets = {"access_token": token, "app_secret": "a", "verify_token": "v"}
    config = {"api_base_url": fake.base_url, "phone_number_id": DEFAULT_PHONE_NUMBER_ID}
    adapter = WhatsAppAdapter(AccountInfo("p", "whatsapp", "wa", secrets, config))
    made.append(adapter)
    return adapter


def account(
    fake: FakeTwilio, made: list[ChannelAdapter], token: str = DEFAULT_AUTH_TOKEN
) -> TwilioAdapter:
    config = {"api_base_url": fake.base_url, "account_sid": DEFAULT_ACCOUNT_SID}
    adapter = TwilioAdapter(AccountInfo("p", "sms", "sms", {"auth_token": token}, config))
    made.append(adapter)
    return adapter


def counted(fetcher: MediaFetcher, channel: str) -> dict[str, float]:
    """`gateway_media_downloads_total` of one channel, by outcome (and the bytes)."""
    found: dict[str, float] = {}
    for family in fetcher.metrics.registry.collect():
        family_: Metric = family
        for sample in family_.samples:
            if sample.labels.get("channel") != channel or sample.name.endswith("_created"):
                continue
            if sample.name == "gateway_media_downloads_total":
                found[sample.labels["outcome"]] = sample.value
            elif sample.name == "gateway_media_download_bytes_total":
                found["bytes"] = sample.value
    return found


def only_failure(result: MediaResult) -> tuple[str, str]:
    assert result.fetched == []
    [failure] = result.failures
    return failure.reason, failure.told


# --- each provider, with its authentication ----------------------------------------------------
async def test_telegram_get_file_then_the_file_url(
    telegram: FakeTelegram, fetcher: MediaFetcher, adapters: list[ChannelAdapter]
) -> None:
    photo = telegram.add_file(JPEG, "image/jpeg")
    voice = telegram.add_file(b"OggS" + b"v" * 900, "audio/ogg")
    attachments = [
        Attachment(kind="image", file_id=photo.id, mime_type="image/jpeg", size=photo.size),
        Attachment(kind="location", latitude=1.0, longitude=2.0),  # nothing to fetch
        Attachment(kind="voice", file_id=voice.id, mime_type="audio/ogg"),
        Attachment(kind="contact", name="Ana", phone="+15550100"),
    ]
    result = await fetcher.fetch(bot(telegram, adapters), TELEGRAM, attachments)
    assert result.failures == []
    assert [(f.attachment.kind, f.data, f.mime_type) for f in result.fetched] == [
        ("image", JPEG, "image/jpeg"),
        ("voice", voice.data, "audio/ogg"),
    ]
    assert (photo.downloads, voice.downloads) == (1, 1)
    assert len(telegram.calls_to("getFile")) == 2
    assert counted(fetcher, "telegram") == {"fetched": 2, "bytes": len(JPEG) + voice.size}


async def test_a_telegram_file_url_is_only_good_with_its_token(
    telegram: FakeTelegram, fetcher: MediaFetcher, adapters: list[ChannelAdapter]
) -> None:
    file = telegram.add_file(b"%PDF-1.7", "application/pdf", "a.pdf")
    attachment = Attachment(kind="document", file_id=file.id)
    source = await bot(telegram, adapters).media_source(attachment)
    assert source.url.startswith(f"{telegram.base_url}/file/bot{TOKEN}/documents/")
    assert (source.size, source.headers, source.filename) == (8, {}, None)
    async with fetcher._http().get(source.url) as good:
        assert (good.status, await good.read()) == (200, b"%PDF-1.7")
    wrong = source.url.replace(TOKEN, "123456789:wrong")
    async with fetcher._http().get(wrong) as refused:
        assert refused.status == 404
    assert file.downloads == 1


async def test_telegram_wrong_token_is_refused_without_retries(
    telegram: FakeTelegram, fetcher: MediaFetcher, adapters: list[ChannelAdapter]
) -> None:
    file = telegram.add_file(JPEG, "image/jpeg")
    adapter = bot(telegram, adapters, token="987654321:" + "B" * 35)
    result = await fetcher.fetch(adapter, TELEGRAM, [Attachment(kind="image", file_id=file.id)])
    reason, told = only_failure(result)
    assert told == "Your photo could not be downloaded."
    assert "bot token" in reason and "987654321" not in reason
    assert file.requests == 0 and telegram.calls_to("getFile") == []
    assert len(telegram.calls_to("getMe")) == 1  # refused for good: not tried again


async def test_telegram_unknown_file_id(
    telegram: FakeTelegram, fetcher: MediaFetcher, adapters: list[ChannelAdapter]
) -> None:
    result = await fetcher.fetch(
        bot(telegram, adapters), TELEGRAM, [Attachment(kind="voice", file_id="nope")]
    )
    reason, told = only_failure(result)
    assert (reason, told) == (
        "Telegram 400: Invalid file_id",
        "Your voice message could not be downloaded.",
    )
    assert len(telegram.calls_to("getFile")) == 1


async def test_telegram_over_20_mb_is_refused_before_any_call(
    telegram: FakeTelegram, adapters: list[ChannelAdapter], limited: Limited
) -> None:
    big = telegram.add_file(b"\0" * (20 * 1024 * 1024 + 1), "video/mp4")
    fetcher = limited(MediaLimits(max_item_bytes=50 * 1024 * 1024))
    adapter = bot(telegram, adapters)
    declared = Attachment(kind="video", file_id=big.id, size=big.size)
    reason, told = only_failure(await fetcher.fetch(adapter, TELEGRAM, [declared]))
    assert told == "Your video could not be used: it is larger than 20 MB."
    assert reason.startswith("too large: declared 20971521 bytes")
    assert telegram.calls_to("getFile") == []
    # Not declared in the update: Telegram's getFile refuses it ("file is too big").
    undeclared = Attachment(kind="video", file_id=big.id)
    reason, told = only_failure(await fetcher.fetch(adapter, TELEGRAM, [undeclared]))
    assert told == "Your video could not be used: it is larger than 20 MB."
    assert [c.status for c in telegram.calls_to("getFile")] == [400]
    assert big.requests == 0
    assert counted(fetcher, "telegram") == {"too_large": 2}


async def test_whatsapp_media_lookup_then_download_with_the_bearer_token(
    whatsapp: FakeWhatsApp, fetcher: MediaFetcher, adapters: list[ChannelAdapter]
) -> None:
    document = whatsapp.add_media(b"%PDF-1.7 report", "application/pdf", "report.pdf")
    attachment = Attachment(
        kind="document", file_id=document.id, mime_type="application/pdf", filename="report.pdf"
    )
    result = await fetcher.fetch(number(whatsapp, adapters), WHATSAPP, [attachment])
    [fetched] = result.fetched
    assert (fetched.data, fetched.mime_type, fetched.filename) == (
        b"%PDF-1.7 report",
        "application/pdf",
        "report.pdf",
    )
    assert [(c.resource, c.status) for c in whatsapp.calls] == [
        ("media", 200),
        ("media_download", 200),
    ]
    assert document.authorizations == [f"Bearer {DEFAULT_ACCESS_TOKEN}"]
    assert counted(fetcher, "whatsapp") == {"fetched": 1, "bytes": 15}


async def test_whatsapp_wrong_token_and_unknown_media(
    whatsapp: FakeWhatsApp, fetcher: MediaFetcher, adapters: list[ChannelAdapter]
) -> None:
    image = whatsapp.add_media(JPEG)
    wrong = number(whatsapp, adapters, token="not-the-token")
    result = await fetcher.fetch(wrong, WHATSAPP, [Attachment(kind="image", file_id=image.id)])
    reason, told = only_failure(result)
    assert told == "Your photo could not be downloaded."
    assert reason.startswith("whatsapp 190") and "not-the-token" not in reason
    assert image.requests == 0
    unknown = Attachment(kind="sticker", file_id="999")
    result = await fetcher.fetch(number(whatsapp, adapters), WHATSAPP, [unknown])
    assert only_failure(result)[1] == "Your sticker could not be downloaded."
    assert len(whatsapp.calls) == 2  # one lookup each: refused for good, not retried


async def test_whatsapp_download_needs_the_bearer_token(
    whatsapp: FakeWhatsApp, fetcher: MediaFetcher, adapters: list[ChannelAdapter]
) -> None:
    image = whatsapp.add_media(JPEG)
    source = await number(whatsapp, adapters).media_source(
        Attachment(kind="image", file_id=image.id)
    )
    assert (source.size, source.sha256, source.mime_type) == (len(JPEG), image.sha256, "image/jpeg")
    async with fetcher._http().get(source.url) as anonymous:
        assert anonymous.status == 401
    assert image.requests == 0


async def test_whatsapp_damaged_download_is_tried_again(
    whatsapp: FakeWhatsApp, fetcher: MediaFetcher, adapters: list[ChannelAdapter]
) -> None:
    image = whatsapp.add_media(b"damaged")
    tries = 0

    class Repaired(WhatsAppAdapter):
        async def media_source(self, attachment: Attachment) -> MediaSource:
            nonlocal tries
            tries += 1
            source = await super().media_source(attachment)
            if tries == 2:
                image.data = JPEG  # the second try gets the right bytes
            return replace(source, size=None, sha256=hashlib.sha256(JPEG).hexdigest())

    repaired = Repaired(number(whatsapp, adapters).account)
    adapters.append(repaired)
    attachment = Attachment(kind="image", file_id=image.id)
    result = await fetcher.fetch(repaired, WHATSAPP, [attachment])
    assert [f.data for f in result.fetched] == [JPEG]
    assert image.requests == 2
    image.data = b"damaged again"
    result = await fetcher.fetch(repaired, WHATSAPP, [attachment])
    assert only_failure(result)[0] == "sha256 mismatch (3 tries)"


async def test_twilio_media_url_with_basic_auth(
    twilio: FakeTwilio, fetcher: MediaFetcher, adapters: list[ChannelAdapter]
) -> None:
    image = twilio.add_media(JPEG, "image/jpeg")
    attachment = Attachment(kind="image", url=twilio.media_url(image), mime_type="image/jpeg")
    result = await fetcher.fetch(account(twilio, adapters), SMS, [attachment])
    assert [f.data for f in result.fetched] == [JPEG]
    [call] = twilio.calls_to("media")
    assert (call.authorized, call.status) == (True, 200)
    wrong = account(twilio, adapters, token="wrong-auth-token")
    reason, told = only_failure(await fetcher.fetch(wrong, SMS, [attachment]))
    assert (reason, told) == ("HTTP 401", "Your photo could not be downloaded.")
    assert image.downloads == 1


async def test_credentials_never_follow_a_redirect_to_another_origin(
    twilio: FakeTwilio, fetcher: MediaFetcher, adapters: list[ChannelAdapter]
) -> None:
    assert twilio.base_url is not None and "127.0.0.1" in twilio.base_url
    twilio.media_redirect = twilio.base_url.replace("127.0.0.1", "localhost")  # its CDN
    voice = twilio.add_media(b"OggS voice", "audio/ogg")
    attachment = Attachment(kind="voice", url=twilio.media_url(voice), mime_type="audio/ogg")
    result = await fetcher.fetch(account(twilio, adapters), WHATSAPP_VIA_TWILIO, [attachment])
    assert [f.data for f in result.fetched] == [b"OggS voice"]
    assert [(c.resource, c.authorized, c.status) for c in twilio.calls] == [
        ("media", True, 307),  # the credentials went to the API's origin ...
        ("media_cdn", True, 200),
    ]
    assert voice.authorizations == [None]  # ... and not to the CDN's
    assert counted(fetcher, "whatsapp") == {"fetched": 1, "bytes": 10}


async def test_credentials_go_only_to_the_api_origin(
    twilio: FakeTwilio, adapters: list[ChannelAdapter]
) -> None:
    adapter = account(twilio, adapters)
    own = await adapter.media_source(Attachment(kind="image", url=f"{twilio.base_url}/x"))
    assert own.headers["Authorization"].startswith("Basic ")
    real = await adapter.media_source(Attachment(kind="image", url="https://api.twilio.com/x"))
    assert "Authorization" in real.headers
    other = await adapter.media_source(Attachment(kind="image", url="https://cdn.example/x"))
    assert other.headers == {}
    with pytest.raises(SendError) as missing:
        await adapter.media_source(Attachment(kind="image"))
    assert missing.value.permanent


class _Looping(LocalServer):
    """Redirects every request to itself: a redirect loop."""

    def __init__(self) -> None:
        self.requests = 0

    def make_app(self) -> web.Application:
        async def again(request: web.Request) -> web.Response:
            self.requests += 1
            raise web.HTTPFound(f"/hop{self.requests}")

        app = web.Application()
        app.router.add_get("/{tail:.*}", again)
        return app


async def test_a_redirect_loop_stops_after_a_few_hops(limited: Limited) -> None:
    loop = _Looping()
    base = await loop.start()
    fetcher = limited(MediaLimits(max_redirects=3, backoff_base=0.01))
    try:
        result = await fetcher.fetch(_Stub(source=base), SMS, [Attachment(kind="video")])
    finally:
        await loop.stop()
    assert only_failure(result) == ("too many redirects", "Your video could not be downloaded.")
    assert loop.requests == 4  # the request and three redirects, never tried again


# --- caps ----------------------------------------------------------------------------------------
async def test_declared_too_large_is_not_downloaded(
    whatsapp: FakeWhatsApp, adapters: list[ChannelAdapter], limited: Limited
) -> None:
    video = whatsapp.add_media(b"v" * 5000, "video/mp4")
    fetcher = limited(MediaLimits(max_item_bytes=4096))
    attachment = Attachment(kind="video", file_id=video.id)
    reason, told = only_failure(
        await fetcher.fetch(number(whatsapp, adapters), WHATSAPP, [attachment])
    )
    assert told == "Your video could not be used: it is larger than 4 KB."
    assert reason == "too large: declared 5000 bytes, 4096 bytes allowed"
    assert [c.resource for c in whatsapp.calls] == ["media"]  # the lookup said: no download
    assert video.requests == 0


async def test_a_content_length_over_the_cap_is_not_read(
    twilio: FakeTwilio, adapters: list[ChannelAdapter], limited: Limited
) -> None:
    document = twilio.add_media(b"d" * 300_000, "application/pdf")
    fetcher = limited(MediaLimits(max_item_bytes=100 * 1024))
    attachment = Attachment(kind="document", url=twilio.media_url(document))
    reason, told = only_failure(await fetcher.fetch(account(twilio, adapters), SMS, [attachment]))
    assert told == "Your file could not be used: it is larger than 100 KB."
    assert reason.startswith("too large: Content-Length 300000")


async def test_a_stream_over_the_cap_is_cut(
    twilio: FakeTwilio, adapters: list[ChannelAdapter], limited: Limited
) -> None:
    video = twilio.add_media(b"v" * (4 * 1024 * 1024), "video/mp4")
    video.trickle = 0.005  # 64 KiB every 5 ms, chunked (no Content-Length): ~0.3 s in all
    fetcher = limited(MediaLimits(max_item_bytes=256 * 1024))
    attachment = Attachment(kind="video", url=twilio.media_url(video))
    reason, told = only_failure(await fetcher.fetch(account(twilio, adapters), SMS, [attachment]))
    assert told == "Your video could not be used: it is larger than 256 KB."
    assert reason.startswith("too large: more than 262144 bytes sent")
    assert video.downloads == 0 and video.sent_bytes < video.size


async def test_the_message_cap_goes_to_the_first_items(
    twilio: FakeTwilio, adapters: list[ChannelAdapter], limited: Limited
) -> None:
    files = [twilio.add_media(bytes([n]) * 40_000, "image/png") for n in range(3)]
    fetcher = limited(MediaLimits(max_message_bytes=100_000))
    attachments = [Attachment(kind="image", url=twilio.media_url(f)) for f in files]
    result = await fetcher.fetch(account(twilio, adapters), SMS, attachments)
    assert [f.data for f in result.fetched] == [files[0].data, files[1].data]
    [failure] = result.failures
    assert failure.attachment == attachments[2]
    assert failure.told == (
        "Your photo could not be used: the files of this message are larger than 97.7 KB together."
    )
    assert counted(fetcher, "sms") == {"fetched": 2, "too_large": 1, "bytes": 80_000}


async def test_the_channel_limit_applies_below_the_gateway_cap(
    telegram: FakeTelegram, adapters: list[ChannelAdapter], limited: Limited
) -> None:
    assert TELEGRAM.max_download_bytes == 20 * 1024 * 1024
    fetcher = limited(MediaLimits(max_item_bytes=100 * 1024 * 1024))
    big = Attachment(kind="document", file_id="x", size=30 * 1024 * 1024)
    _, told = only_failure(await fetcher.fetch(bot(telegram, adapters), TELEGRAM, [big]))
    assert told == "Your file could not be used: it is larger than 20 MB."


# --- failures, retries, time limits --------------------------------------------------------------
async def test_a_404_is_told_and_the_text_goes_on(
    twilio: FakeTwilio, fetcher: MediaFetcher, adapters: list[ChannelAdapter]
) -> None:
    gone, kept = twilio.add_media(JPEG), twilio.add_media(b"second", "image/gif")
    twilio.media.fail_next(gone, 404)
    attachments = [Attachment(kind="image", url=twilio.media_url(f)) for f in (gone, kept)]
    result = await fetcher.fetch(account(twilio, adapters), SMS, attachments)
    assert [f.data for f in result.fetched] == [b"second"]
    assert [(f.reason, f.told) for f in result.failures] == [
        ("HTTP 404", "Your photo could not be downloaded.")
    ]
    assert gone.requests == 1  # a 404 is not tried again


async def test_5xx_then_success_is_retried(
    telegram: FakeTelegram, fetcher: MediaFetcher, adapters: list[ChannelAdapter]
) -> None:
    audio = telegram.add_file(b"ID3 song", "audio/mpeg", "song.mp3")
    telegram.media.fail_next(audio, 500, times=2)
    attachment = Attachment(kind="audio", file_id=audio.id, filename="song.mp3")
    result = await fetcher.fetch(bot(telegram, adapters), TELEGRAM, [attachment])
    assert [(f.data, f.filename) for f in result.fetched] == [(b"ID3 song", "song.mp3")]
    assert (audio.requests, audio.downloads) == (3, 1)
    assert len(telegram.calls_to("getFile")) == 3  # each try asks for a fresh file URL


async def test_5xx_every_time_gives_up_after_the_attempts(
    whatsapp: FakeWhatsApp, fetcher: MediaFetcher, adapters: list[ChannelAdapter]
) -> None:
    image = whatsapp.add_media(JPEG)
    whatsapp.media.fail_next(image, 503, times=5)
    result = await fetcher.fetch(
        number(whatsapp, adapters), WHATSAPP, [Attachment(kind="image", file_id=image.id)]
    )
    assert only_failure(result) == ("HTTP 503 (3 tries)", "Your photo could not be downloaded.")
    assert image.requests == 3
    assert counted(fetcher, "whatsapp") == {"failed": 1}


async def test_a_slow_download_times_out_and_is_retried(
    twilio: FakeTwilio, adapters: list[ChannelAdapter], limited: Limited
) -> None:
    slow = twilio.add_media(JPEG)
    slow.delay = 1.0
    fetcher = limited(MediaLimits(timeout=0.2, attempts=2, backoff_base=0.01))
    attachment = Attachment(kind="image", url=twilio.media_url(slow))
    result = await fetcher.fetch(account(twilio, adapters), SMS, [attachment])
    assert only_failure(result) == ("timeout (2 tries)", "Your photo could not be downloaded.")
    assert slow.requests == 2


async def test_a_refused_address_is_not_tried_again(
    twilio: FakeTwilio, fetcher: MediaFetcher, adapters: list[ChannelAdapter]
) -> None:
    metadata = Attachment(kind="image", url="http://169.254.169.254/latest/meta-data/")
    result = await fetcher.fetch(account(twilio, adapters), SMS, [metadata])
    assert only_failure(result) == ("refused_address", "Your photo could not be downloaded.")


# --- nothing secret kept or logged ------------------------------------------------------------
class _Stub(ChannelAdapter):
    """An adapter that says where a file is (`source`), or fails like a careless adapter might:
    quoting a URL with a bot token and a bearer key."""

    channel = "telegram"
    capabilities = TELEGRAM
    required_secrets = ()

    def __init__(self, *, source: str | None = None, permanent: bool = False) -> None:
        super().__init__(AccountInfo("p", "telegram", "x", {}, {}))
        self.source, self.permanent = source, permanent

    def verify(self, request: Any) -> None: ...

    def parse(self, request: Any) -> list[Any]:
        return []

    async def send(self, message: Any) -> Any: ...

    async def media_source(self, attachment: Attachment) -> MediaSource:
        if self.source is not None:
            return MediaSource(self.source, {"Authorization": "Bearer abc.def"})
        url = f"https://api.telegram.org/file/bot{TOKEN}/photos/file_1.jpg"
        raise SendError(f"failed at {url} with Bearer abc.def", permanent=self.permanent)


def _structlog_events(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    """What the gateway logged, as structlog event dicts (after its processors). Read from the
    standard logging records, not `structlog.testing.capture_logs`: the gateway caches its
    loggers on first use, and a logger an earlier test already used is not captured by it."""
    return [dict(r.msg) for r in caplog.records if isinstance(r.msg, dict)]


@pytest.mark.parametrize("permanent", [True, False])
async def test_no_secret_in_reasons_or_logs(
    fetcher: MediaFetcher, permanent: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    result = await fetcher.fetch(
        _Stub(permanent=permanent), TELEGRAM, [Attachment(kind="image", file_id="f")]
    )
    logs = _structlog_events(caplog)
    reason, _ = only_failure(result)
    assert reason.startswith("failed at <url> with Bearer <redacted>")
    written = repr(logs) + reason
    for secret in (TOKEN, "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw", "abc.def", "api.telegram.org"):
        assert secret not in written
    assert [entry["event"] for entry in logs][-1] == "media.failed"


async def test_a_failing_telegram_download_logs_no_token(
    telegram: FakeTelegram,
    fetcher: MediaFetcher,
    adapters: list[ChannelAdapter],
    caplog: pytest.LogCaptureFixture,
) -> None:
    file = telegram.add_file(JPEG, "image/jpeg")
    telegram.media.fail_next(file, 502, times=3)
    caplog.set_level(logging.DEBUG)
    result = await fetcher.fetch(
        bot(telegram, adapters), TELEGRAM, [Attachment(kind="image", file_id=file.id)]
    )
    logs = _structlog_events(caplog)
    assert only_failure(result)[0] == "HTTP 502 (3 tries)"
    assert [e["event"] for e in logs] == ["media.retry", "media.retry", "media.failed"]
    assert TOKEN not in repr(logs) and "/file/bot" not in repr(logs)


# --- construction ----------------------------------------------------------------------------
async def test_built_from_the_settings() -> None:
    settings = Settings(
        media_max_item_bytes=5000,
        media_max_message_bytes=9000,
        media_timeout_seconds=7.5,
        media_attempts=4,
    )
    fetcher = MediaFetcher.from_settings(settings, Metrics())
    assert (
        fetcher.limits.max_item_bytes,
        fetcher.limits.max_message_bytes,
        fetcher.limits.timeout,
        fetcher.limits.attempts,
    ) == (5000, 9000, 7.5, 4)
    defaults = Settings()
    assert (defaults.media_max_item_bytes, defaults.media_max_message_bytes) == (
        20 * 1024 * 1024,
        25 * 1024 * 1024,
    )
    await fetcher.close()
