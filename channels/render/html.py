"""The visible text of a Telegram HTML message: what Telegram shows (and counts) once it has
parsed the tags and entities, and what is sent plain when Telegram refuses the formatting."""

from __future__ import annotations

from html.parser import HTMLParser


class _Visible(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []

    def handle_data(self, data: str) -> None:
        self.chunks.append(data)


def html_to_plain(text: str) -> str:
    """`text` with its tags dropped and its entities (`&lt;`, `&amp;`, `&#128512;`) unescaped."""
    parser = _Visible()
    parser.feed(text)
    parser.close()
    return "".join(parser.chunks)
