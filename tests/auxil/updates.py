"""Builders for real-shaped Telegram updates (the Bot API's documented JSON)."""

from __future__ import annotations

import itertools
import time
from typing import Any

_ids = itertools.count(815_000_001)

USER = {"id": 123456789, "is_bot": False, "first_name": "Ana", "language_code": "pt"}


def next_update_id() -> int:
    return next(_ids)


def _units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def message(
    text: str | None,
    *,
    update_id: int | None = None,
    chat_id: int = 123456789,
    user: dict[str, Any] | None = None,
    chat_type: str = "private",
    reply_to_bot: dict[str, Any] | None = None,
    edited: bool = False,
    fields: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A message update; `fields` adds (or overrides) message fields: media, a caption."""
    sender = user or USER
    chat: dict[str, Any] = {"id": chat_id, "type": chat_type}
    if chat_type == "private":
        chat["first_name"] = sender["first_name"]
    else:
        chat["title"] = "Team chat"
    msg: dict[str, Any] = {
        "message_id": next(_ids) % 100000,
        "date": int(time.time()),
        "from": sender,
        "chat": chat,
        **({"text": text} if text is not None else {}),
        **(fields or {}),
    }
    text = text or ""
    entities = []
    if text.startswith("/"):
        entities.append({"type": "bot_command", "offset": 0, "length": len(text.split()[0])})
    at = text.find("@")
    while at != -1:
        end = at + 1
        while end < len(text) and (text[end].isalnum() or text[end] == "_"):
            end += 1
        if end - at > 1 and not (entities and entities[0]["length"] > at):
            # Offsets and lengths count UTF-16 code units, as the Bot API does.
            offset, length = _units(text[:at]), _units(text[at:end])
            entities.append({"type": "mention", "offset": offset, "length": length})
        at = text.find("@", end)
    if entities:
        msg["entities"] = entities
    if reply_to_bot is not None:
        msg["reply_to_message"] = {
            "message_id": 1,
            "date": int(time.time()) - 10,
            "from": reply_to_bot,
            "chat": chat,
            "text": "earlier answer",
        }
    key = "edited_message" if edited else "message"
    if edited:
        msg["edit_date"] = int(time.time())
    return {"update_id": update_id or next_update_id(), key: msg}


def callback(
    data: str, *, chat_id: int = 123456789, update_id: int | None = None
) -> dict[str, Any]:
    return {
        "update_id": update_id or next_update_id(),
        "callback_query": {
            "id": f"cbq{next(_ids)}",
            "chat_instance": "-8812734",
            "from": USER,
            "message": {
                "message_id": 43,
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private"},
                "text": "Approve?",
            },
            "data": data,
        },
    }


def media(fields: dict[str, Any], caption: str | None = None, **options: Any) -> dict[str, Any]:
    """A message carrying `fields` (`photo`, `voice`, `location`, ...: gateway.dev.fake_telegram's
    `media_field` / `photo_sizes` build the file fields) and an optional caption."""
    if caption is not None:
        fields = {**fields, "caption": caption}
    return message(None, fields=fields, **options)
