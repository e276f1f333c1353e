"""The agent's Markdown answer rendered for one channel (placeholder: plain split; the real
renderer parses with markdown-it-py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.messages import ReplyPart

if TYPE_CHECKING:
    from channels.capabilities import Capabilities


def render_reply(
    markdown: str, caps: Capabilities, max_parts: int | None = None
) -> list[ReplyPart]:
    return [ReplyPart(part) for part in caps.split(markdown, max_parts)]
