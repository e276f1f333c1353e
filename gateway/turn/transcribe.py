"""Voice notes to text through the core's OpenAI-compatible `POST /v1/audio/transcriptions`
(interface; being built)."""

from __future__ import annotations

from gateway.turn.context import TurnContext
from gateway.turn.media import FetchedMedia


class Transcriber:
    """One per process; remembers for a while which cores do not offer transcription."""

    async def transcribe(self, ctx: TurnContext, audio: FetchedMedia) -> str | None:
        """The transcript, or None: transcription is off for the project, the core does not
        offer it, or it failed (the caller then sends the audio as a file with a note)."""
        raise NotImplementedError
