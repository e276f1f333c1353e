"""Voice notes to text through the core's OpenAI-compatible `POST /v1/audio/transcriptions`.

The project's `transcription` setting decides: `off` never asks; `auto` (the default) asks unless
the core recently said it has no such endpoint (404, 405 or 501, remembered per core base URL for
`memory_seconds`, so a core without transcription costs one failing call per window, not one per
voice note); `on` always asks and warns when the core has none. Every failure is a None: the
caller then sends the audio as a file with a note, and the turn goes on.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog

from gateway.turn.context import TurnContext
from gateway.turn.core_client import CoreClient, CoreResult, TranscriptionRequest
from gateway.turn.media import FetchedMedia

log = structlog.get_logger("gateway.turn")

NOT_OFFERED = frozenset({404, 405, 501})
"""What a core without the endpoint answers (no route, no such method, not implemented)."""
NOT_OFFERED_MEMORY_SECONDS = 600.0
"""Long enough that a burst of voice notes pays one failing call, short enough that a core
which gains the endpoint is used within minutes without a restart."""

_EXTENSIONS = {
    "audio/ogg": "ogg",
    "audio/opus": "ogg",
    "audio/mpeg": "mp3",
    "audio/mp3": "mp3",
    "audio/mp4": "m4a",
    "audio/x-m4a": "m4a",
    "audio/m4a": "m4a",
    "audio/aac": "aac",
    "audio/amr": "amr",
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/webm": "webm",
    "audio/flac": "flac",
    "video/mp4": "mp4",
}
"""OpenAI-compatible servers tell the format by the file name's extension."""


class Transcriber:
    """One per process; remembers for a while which cores do not offer transcription."""

    def __init__(
        self,
        core: CoreClient,
        *,
        memory_seconds: float = NOT_OFFERED_MEMORY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.core = core
        self.memory_seconds = memory_seconds
        self._clock = clock
        self._not_offered: dict[str, float] = {}
        """Core base URL -> when (monotonic) it may be asked again."""

    async def transcribe(self, ctx: TurnContext, audio: FetchedMedia) -> str | None:
        """The transcript, or None: transcription is off for the project, the core does not
        offer it, or it failed (the caller then sends the audio as a file with a note)."""
        mode = ctx.project.transcription
        base = ctx.project.core_base_url.rstrip("/")
        if mode == "off" or (mode == "auto" and self.known_not_offered(base)):
            return None
        mime_type = _bare(audio.mime_type)
        result = await self.core.transcribe(
            TranscriptionRequest(
                base_url=base,
                api_key=ctx.project.core_api_key,
                idempotency_key=f"{ctx.key}:transcription:{_position(ctx, audio)}",
                model=ctx.settings.transcription_model,
                audio=audio.data,
                filename=_filename(audio, mime_type),
                mime_type=mime_type,
            )
        )
        return self._transcript(mode, base, result)

    def known_not_offered(self, base_url: str) -> bool:
        """Whether the core at `base_url` said within the memory window that it has no
        transcription endpoint."""
        until = self._not_offered.get(base_url)
        if until is None:
            return False
        if self._clock() < until:
            return True
        del self._not_offered[base_url]
        return False

    def _transcript(self, mode: str, base: str, result: CoreResult) -> str | None:
        facts = {"status": result.status, "latency_ms": result.latency_ms}
        if result.status in NOT_OFFERED:
            self._not_offered[base] = self._clock() + self.memory_seconds
            # `on` asked for it explicitly: the operator should hear that it cannot work.
            report = log.warning if mode == "on" else log.info
            report("transcription.not_offered", mode=mode, **facts)
            return None
        if not result.ok:
            log.warning("transcription.failed", error=result.error, **facts)
            return None
        self._not_offered.pop(base, None)  # the core has it (again)
        text = result.body.get("text")
        if not isinstance(text, str):
            log.warning("transcription.failed", error="no text in the answer", **facts)
            return None
        if not text.strip():
            log.info("transcription.empty", **facts)
            return None
        log.info("transcription.done", chars=len(text), **facts)
        return text.strip()


def _bare(mime_type: str) -> str:
    """`audio/ogg; codecs=opus` -> `audio/ogg` (the part's content type)."""
    return mime_type.split(";", 1)[0].strip().lower() or "application/octet-stream"


def _filename(audio: FetchedMedia, mime_type: str) -> str:
    given = audio.filename or audio.attachment.filename
    if given and "." in given:
        return given
    return f"{given or 'voice'}.{_EXTENSIONS.get(mime_type, 'ogg')}"


def _position(ctx: TurnContext, audio: FetchedMedia) -> int:
    """Which of the message's attachments this is: one idempotency key per audio item."""
    for index, attachment in enumerate(ctx.event.attachments):
        if attachment == audio.attachment:
            return index
    return 0
