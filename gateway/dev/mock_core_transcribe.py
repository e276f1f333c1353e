"""The mock core's OpenAI-compatible `POST /v1/audio/transcriptions` (multipart).

Deterministic: the transcript is the UTF-8 text after `transcript:` in the audio bytes (so a demo
or a test makes a voice note whose transcript it knows: `voice_note("...")`), else
`(voice note, N bytes)`. The bearer key is checked like `/v1/responses`; every request is
recorded. Tests switch the endpoint off (404, a core without transcription) or make it fail
in-process (`MockCore.transcriptions.settings`) or through `POST /mock/transcriptions`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from aiohttp import web

MARKER = b"transcript:"
OGG_HEADER = b"OggS\x00\x02" + bytes(20)
"""The start of an Ogg page: enough for the bytes to look like the voice notes providers send."""


def voice_note(transcript: str) -> bytes:
    """Audio bytes the mock core transcribes as `transcript`."""
    return OGG_HEADER + MARKER + b" " + transcript.encode()


SAMPLE_VOICE_NOTE = voice_note("What's the weather in Berlin?")
"""The fakes' and the demo's voice note."""


def transcript_of(audio: bytes) -> str:
    """What the mock hears in `audio`."""
    _, found, rest = audio.partition(MARKER)
    if found:
        text = rest.split(b"\x00", 1)[0].decode("utf-8", "replace").strip()
        if text:
            return text
    return f"(voice note, {len(audio)} bytes)"


@dataclass
class TranscriptionSettings:
    enabled: bool = True
    """False: 404, as a core without the endpoint answers."""
    fail_status: int | None = None
    """Answer with this status (5xx: the gateway retries) ..."""
    fail_count: int | None = None
    """... for the next N requests (None: every request while `fail_status` is set)."""


_CHECKS: dict[str, Callable[[Any], bool]] = {
    "enabled": lambda v: isinstance(v, bool),
    "fail_status": lambda v: v is None or (type(v) is int and 400 <= v <= 599),
    "fail_count": lambda v: v is None or (type(v) is int and v >= 0),
}


@dataclass
class MockTranscriptions:
    api_key: Callable[[], str | None]
    """The bearer key the mock core requires now (`MockCoreControls.api_key`), or None."""
    settings: TranscriptionSettings = field(default_factory=TranscriptionSettings)
    requests: list[dict[str, Any]] = field(default_factory=list)
    """Every request: `headers` (lower-case names), `fields` (the form's text fields), `file`
    (`filename`, `content_type`, `size`, or None), `status`, `at` (monotonic)."""

    def reset(self) -> None:
        self.settings = TranscriptionSettings()
        self.requests.clear()

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/audio/transcriptions", self._transcribe)
        app.router.add_get("/mock/transcriptions", self._list)
        app.router.add_post("/mock/transcriptions", self._configure)

    async def _transcribe(self, request: web.Request) -> web.Response:
        record: dict[str, Any] = {
            "headers": {name.lower(): value for name, value in request.headers.items()},
            "fields": {},
            "file": None,
            "status": None,
            "at": time.monotonic(),
        }
        self.requests.append(record)
        status, answer = await self._answer(request, record)
        record["status"] = status
        if isinstance(answer, str):
            return web.Response(text=answer, status=status, content_type="text/plain")
        return web.json_response(answer, status=status)

    async def _answer(self, request: web.Request, record: dict[str, Any]) -> tuple[int, Any]:
        settings = self.settings
        if not settings.enabled:
            return _error(404, "Not Found", "not_found")
        expected = self.api_key()
        if expected is not None and request.headers.get("Authorization") != f"Bearer {expected}":
            return _error(401, "Incorrect API key provided.", "authentication_error")
        if settings.fail_status is not None:
            status = settings.fail_status
            if settings.fail_count is not None:
                settings.fail_count -= 1
                if settings.fail_count <= 0:
                    settings.fail_status = settings.fail_count = None
            return _error(status, f"Mock transcription configured to fail with {status}.")
        if not request.content_type.startswith("multipart/"):
            return _error(400, "Expected a multipart/form-data body.", "invalid_request_error")
        audio: bytes | None = None
        form = await request.post()
        for name, value in form.items():
            if isinstance(value, web.FileField):
                if name == "file":
                    audio = value.file.read()
                    record["file"] = {
                        "filename": value.filename,
                        "content_type": value.content_type,
                        "size": len(audio),
                    }
            else:
                record["fields"][name] = str(value)
        if audio is None:
            return _error(400, "Missing required parameter: 'file'.", "invalid_request_error")
        if not record["fields"].get("model"):
            return _error(400, "Missing required parameter: 'model'.", "invalid_request_error")
        text = transcript_of(audio)
        answer_format = record["fields"].get("response_format", "json")
        if answer_format == "text":
            return 200, text
        if answer_format != "json":
            return _error(400, f"response_format {answer_format!r} is not supported by the mock.")
        return 200, {"text": text}

    async def _list(self, request: web.Request) -> web.Response:
        return web.json_response({"requests": self.requests})

    async def _configure(self, request: web.Request) -> web.Response:
        """`{"enabled": false}`, `{"fail_status": 500, "fail_count": 2}`, ... (JSON object)."""
        try:
            payload = await request.json()
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            return web.json_response(_error(400, "Body must be a JSON object.")[1], status=400)
        for name, value in payload.items():
            check = _CHECKS.get(name)
            if check is None or not check(value):
                return web.json_response(_error(400, f"Invalid setting {name!r}.")[1], status=400)
        for name, value in payload.items():
            setattr(self.settings, name, value)
        current = {f.name: getattr(self.settings, f.name) for f in fields(self.settings)}
        return web.json_response(current)


def _error(status: int, message: str, error_type: str | None = None) -> tuple[int, Any]:
    """The OpenAI error shape."""
    kind = error_type or ("server_error" if status >= 500 else "invalid_request_error")
    return status, {"error": {"message": message, "type": kind, "param": None, "code": None}}
