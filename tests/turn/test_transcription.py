"""Voice notes through the core's `POST /v1/audio/transcriptions`, against the real mock core over
HTTP: the transcript, the multipart request, the project's setting, a core without the endpoint
(remembered per core URL) and failures (None, so the caller sends the audio as a file)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest
import pytest_asyncio

from channels.capabilities import TELEGRAM
from gateway.config import Settings
from gateway.dev.mock_core import MockCore
from gateway.dev.mock_core_transcribe import SAMPLE_VOICE_NOTE, voice_note
from gateway.logs import configure_logging
from gateway.messages import Attachment, InboundEvent
from gateway.metrics import Metrics
from gateway.storage.db.models import utcnow
from gateway.storage.inbox import ClaimedEvent
from gateway.storage.projects import ProjectInfo
from gateway.turn.context import TurnContext
from gateway.turn.core_client import CoreClient
from gateway.turn.media import FetchedMedia
from gateway.turn.transcribe import Transcriber

KEY = "core-key-for-transcription"
ATTEMPTS = 3
VOICE = Attachment(kind="audio", file_id="voice-file-1", mime_type="audio/ogg")


@pytest_asyncio.fixture
async def core() -> AsyncIterator[MockCore]:
    mock = MockCore()
    mock.controls.api_key = KEY
    yield mock
    await mock.stop()


@pytest_asyncio.fixture
async def url(core: MockCore) -> str:
    return await core.start()


@pytest_asyncio.fixture
async def client() -> AsyncIterator[CoreClient]:
    http = CoreClient(Metrics(), timeout=5, attempts=ATTEMPTS, backoff_base=0.01)
    yield http
    await http.close()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def turn(
    base: str,
    mode: str = "auto",
    *,
    event_id: str = "m1",
    attachments: tuple[Attachment, ...] = (VOICE,),
    model: str = "whisper-1",
    key: str = KEY,
) -> TurnContext:
    event = InboundEvent(
        channel="telegram",
        account="default",
        event_id=event_id,
        kind="message",
        sender="42",
        chat="42",
        attachments=list(attachments),
    )
    project = ProjectInfo(
        id=1,
        name="default",
        core_base_url=base + "/",
        core_api_key=key,
        model="balanced",
        unlinked_policy="channel_user",
        transcription=mode,
    )
    return TurnContext(
        row=ClaimedEvent(id=1, attempts=1, chat_key="telegram:default:42", received_at=utcnow()),
        worker_id="test",
        event=event,
        project=project,
        adapter=cast(Any, None),  # the transcriber never sends anything
        caps=TELEGRAM,
        key=f"gw:default:telegram:default:{event_id}",
        chat=(1, "telegram", "default", "42"),
        settings=Settings(transcription_model=model),
        command=None,
        resolver=cast(Any, None),
    )


def fetched(
    data: bytes = SAMPLE_VOICE_NOTE,
    attachment: Attachment = VOICE,
    *,
    mime_type: str = "audio/ogg; codecs=opus",
    filename: str | None = None,
) -> FetchedMedia:
    return FetchedMedia(attachment, data, mime_type, filename)


async def test_the_transcript_comes_back_from_a_multipart_request(
    core: MockCore, url: str, client: CoreClient
) -> None:
    ctx = turn(url, model="gpt-4o-mini-transcribe")
    text = await Transcriber(client).transcribe(ctx, fetched())
    assert text == "What's the weather in Berlin?"
    (request,) = core.transcriptions.requests
    assert request["status"] == 200
    assert request["headers"]["authorization"] == f"Bearer {KEY}"
    assert request["headers"]["x-idempotency-key"] == f"{ctx.key}:transcription:0"
    assert request["headers"]["x-request-id"].startswith("gwreq_")
    assert request["headers"]["content-type"].startswith("multipart/form-data")
    assert request["fields"] == {"model": "gpt-4o-mini-transcribe", "response_format": "json"}
    assert request["file"] == {
        "filename": "voice.ogg",  # the format is told by the extension
        "content_type": "audio/ogg",  # without the codec parameter
        "size": len(SAMPLE_VOICE_NOTE),
    }
    assert core.requests == []  # no /v1/responses call, and not counted as one


async def test_a_named_file_keeps_its_name_and_type_and_each_item_its_key(
    core: MockCore, url: str, client: CoreClient
) -> None:
    memo = Attachment(kind="audio", file_id="memo", mime_type="audio/mpeg", filename="memo.mp3")
    ctx = turn(url, attachments=(VOICE, memo))
    audio = fetched(voice_note("second item"), memo, mime_type="audio/mpeg")
    assert await Transcriber(client).transcribe(ctx, audio) == "second item"
    (request,) = core.transcriptions.requests
    assert request["file"]["filename"] == "memo.mp3"
    assert request["file"]["content_type"] == "audio/mpeg"
    assert request["headers"]["x-idempotency-key"] == f"{ctx.key}:transcription:1"


async def test_audio_without_a_marker_gets_the_mock_s_fixed_transcript(
    core: MockCore, url: str, client: CoreClient
) -> None:
    text = await Transcriber(client).transcribe(turn(url), fetched(b"OggS" + bytes(96)))
    assert text == "(voice note, 100 bytes)"


async def test_off_never_calls_the_core(core: MockCore, url: str, client: CoreClient) -> None:
    assert await Transcriber(client).transcribe(turn(url, "off"), fetched()) is None
    assert core.transcriptions.requests == []


async def test_a_core_without_transcription_is_asked_once_per_window(
    core: MockCore, url: str, client: CoreClient
) -> None:
    core.transcriptions.settings.enabled = False
    clock = Clock()
    transcriber = Transcriber(client, memory_seconds=600, clock=clock)
    for n in range(3):
        assert await transcriber.transcribe(turn(url, event_id=f"m{n}"), fetched()) is None
    assert [r["status"] for r in core.transcriptions.requests] == [404]  # no retry of a 404

    clock.now += 599
    assert await transcriber.transcribe(turn(url, event_id="m3"), fetched()) is None
    assert len(core.transcriptions.requests) == 1
    # The window is over: the core is asked again, and now it has the endpoint.
    clock.now += 2
    core.transcriptions.settings.enabled = True
    assert await transcriber.transcribe(turn(url, event_id="m4"), fetched()) is not None
    assert [r["status"] for r in core.transcriptions.requests] == [404, 200]


async def test_the_memory_is_per_core_url(core: MockCore, url: str, client: CoreClient) -> None:
    other = MockCore()
    other.controls.api_key = KEY
    other_url = await other.start()
    try:
        core.transcriptions.settings.enabled = False
        transcriber = Transcriber(client)
        assert await transcriber.transcribe(turn(url), fetched()) is None
        assert await transcriber.transcribe(turn(other_url), fetched()) is not None
        assert transcriber.known_not_offered(url)
        assert not transcriber.known_not_offered(other_url)
    finally:
        await other.stop()


async def test_on_always_asks_and_warns_when_the_core_has_no_endpoint(
    core: MockCore, url: str, client: CoreClient, capsys: pytest.CaptureFixture[str]
) -> None:
    core.transcriptions.settings.enabled = False
    transcriber = Transcriber(client)
    configure_logging("INFO", "json")
    try:
        assert await transcriber.transcribe(turn(url, "auto", event_id="a"), fetched()) is None
        for n in range(2):
            assert (
                await transcriber.transcribe(turn(url, "on", event_id=f"b{n}"), fetched()) is None
            )
        logs = capsys.readouterr().err
    finally:
        configure_logging("INFO", "console")
    assert len(core.transcriptions.requests) == 3  # `on` ignores what `auto` remembers
    events = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    seen = [(e["level"], e["mode"]) for e in events if e["event"] == "transcription.not_offered"]
    assert seen == [("info", "auto"), ("warning", "on"), ("warning", "on")]
    assert KEY not in logs


async def test_5xx_is_retried_with_the_same_keys_then_none(
    core: MockCore, url: str, client: CoreClient
) -> None:
    core.transcriptions.settings.fail_status = 500
    transcriber = Transcriber(client)
    assert await transcriber.transcribe(turn(url), fetched()) is None
    requests = core.transcriptions.requests
    assert [r["status"] for r in requests] == [500] * ATTEMPTS
    assert len({r["headers"]["x-idempotency-key"] for r in requests}) == 1
    assert len({r["headers"]["x-request-id"] for r in requests}) == 1
    assert all(r["file"] is None for r in requests)  # refused before the body was read
    assert not transcriber.known_not_offered(url)


async def test_a_5xx_then_success_gives_the_transcript(
    core: MockCore, url: str, client: CoreClient
) -> None:
    core.transcriptions.settings.fail_status = 503
    core.transcriptions.settings.fail_count = 1
    assert await Transcriber(client).transcribe(turn(url), fetched()) == (
        "What's the weather in Berlin?"
    )
    statuses = [r["status"] for r in core.transcriptions.requests]
    assert statuses == [503, 200]
    # Every attempt sent the whole form again.
    assert core.transcriptions.requests[-1]["file"]["size"] == len(SAMPLE_VOICE_NOTE)


async def test_a_wrong_key_is_none_and_not_remembered(
    core: MockCore, url: str, client: CoreClient
) -> None:
    transcriber = Transcriber(client)
    assert await transcriber.transcribe(turn(url, key="wrong"), fetched()) is None
    assert await transcriber.transcribe(turn(url), fetched()) is not None
    assert [r["status"] for r in core.transcriptions.requests] == [401, 200]


async def test_an_unreachable_core_is_none(client: CoreClient) -> None:
    gone = MockCore()
    gone_url = await gone.start()
    await gone.stop()
    assert await Transcriber(client).transcribe(turn(gone_url), fetched()) is None


async def test_the_mock_s_controls_over_http(core: MockCore, url: str, client: CoreClient) -> None:
    http = client._http()
    async with http.post(f"{url}/mock/transcriptions", json={"enabled": False}) as resp:
        assert resp.status == 200 and (await resp.json())["enabled"] is False
    assert await Transcriber(client).transcribe(turn(url, "on"), fetched()) is None
    async with http.post(f"{url}/mock/transcriptions", json={"fail_status": "x"}) as resp:
        assert resp.status == 400
    async with http.get(f"{url}/mock/transcriptions") as resp:
        assert [r["status"] for r in (await resp.json())["requests"]] == [404]
    async with http.post(f"{url}/mock/reset") as resp:
        assert resp.status == 200
    assert core.transcriptions.requests == [] and core.transcriptions.settings.enabled
