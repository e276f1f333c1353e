"""The mock core reads content lists: text parts are the text, image and file parts are echoed
with their type and decoded size, so end-to-end tests see exactly what reached the agent."""

from __future__ import annotations

import base64
from typing import Any

import aiohttp

from gateway.dev.mock_core import MockCore


async def _answer(url: str, content: list[dict[str, Any]]) -> tuple[int, str]:
    body = {"model": "m", "input": [{"role": "user", "content": content}]}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{url}/v1/responses", json=body) as resp,
    ):
        data = await resp.json()
    if resp.status != 200:
        return resp.status, ""
    message = next(item for item in data["output"] if item["type"] == "message")
    return resp.status, message["content"][0]["text"]


def _data(mime: str, size: int) -> str:
    return f"data:{mime};base64,{base64.b64encode(b'x' * size).decode()}"


async def test_image_and_file_parts_are_echoed_with_their_sizes(
    core: tuple[MockCore, str],
) -> None:
    _, url = core
    status, text = await _answer(
        url,
        [
            {"type": "input_text", "text": "look at this"},
            {"type": "input_image", "image_url": _data("image/jpeg", 12_345), "detail": "auto"},
            {
                "type": "input_file",
                "filename": "report.pdf",
                "file_data": _data("application/pdf", 2_048),
            },
        ],
    )
    assert status == 200
    assert text == (
        "Echo: look at this [image image/jpeg 12,345 bytes] "
        "[file report.pdf application/pdf 2,048 bytes]"
    )


async def test_media_without_text_and_several_text_parts(core: tuple[MockCore, str]) -> None:
    _, url = core
    _, only_image = await _answer(
        url, [{"type": "input_image", "image_url": _data("image/png", 7), "detail": "auto"}]
    )
    assert only_image == "Echo: [image image/png 7 bytes]"
    _, texts = await _answer(
        url,
        [
            {"type": "input_text", "text": "meet here"},
            {"type": "input_text", "text": "Location: 52.5200, 13.4050 (Cafe, Main St 1)"},
        ],
    )
    assert texts == "Echo: meet here\nLocation: 52.5200, 13.4050 (Cafe, Main St 1)"


async def test_directives_in_a_caption_still_steer_the_answer(core: tuple[MockCore, str]) -> None:
    mock, url = core
    status, _ = await _answer(
        url,
        [
            {"type": "input_text", "text": "#status=503 broken"},
            {"type": "input_image", "image_url": _data("image/jpeg", 3), "detail": "auto"},
        ],
    )
    assert status == 503
    assert mock.requests[-1]["status"] == 503


async def test_a_part_that_is_not_a_data_url_is_echoed_as_unknown(
    core: tuple[MockCore, str],
) -> None:
    _, url = core
    _, text = await _answer(
        url,
        [
            {"type": "input_image", "image_url": "https://example.com/a.jpg", "detail": "auto"},
            {"type": "input_file", "filename": "x.bin", "file_data": "data:text/plain;base64,@@"},
        ],
    )
    assert text == "Echo: [image - 0 bytes] [file x.bin text/plain 0 bytes]"
