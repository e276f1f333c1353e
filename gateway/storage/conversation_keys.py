"""Which conversation a chat event belongs to: the key of a `conversations` row.

Below both the turn (which reads and advances conversations) and identity (which starts new ones
when a sender's link changes), so the two agree on the key without importing each other.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import or_

from gateway.storage.db.models import Conversation

GROUP_SEPARATOR = ":"
"""Between the group chat and the sender in a group conversation's chat key."""
THREAD_SEPARATOR = "/"
"""Between the chat and the thread (a forum topic) in a thread conversation's chat key."""
_CHAT_COLUMN = 128


def conversation_chat(
    chat: str | None, sender: str | None, *, is_group: bool, thread: str | None = None
) -> str:
    """The conversation row's chat: the sender in a private chat (one person, whatever address
    form the provider gives the chat), `<chat>:<sender>` in a group (one conversation each),
    `<chat>/<thread>:<sender>` in a thread of a chat (a forum topic: one conversation each,
    private chats included). Every form ends with the sender, as `of_sender` expects."""
    if (is_group or thread) and chat and sender:
        place = f"{chat}{THREAD_SEPARATOR}{thread}" if thread else chat
        key = f"{place}{GROUP_SEPARATOR}{sender}"
        if len(key) <= _CHAT_COLUMN:
            return key
        # Longer than the column (no provider sends such ids): still one row per person.
        return "#" + hashlib.sha256(key.encode()).hexdigest()
    return sender or chat or "-"


def of_sender(project_id: int, channel: str, address: str) -> tuple[Any, ...]:
    """The WHERE clause of every conversation of one sender: their private chat and their
    conversation in each group."""
    return (
        Conversation.project_id == project_id,
        Conversation.channel == channel,
        or_(
            Conversation.chat == address,
            Conversation.chat.endswith(GROUP_SEPARATOR + address, autoescape=True),
        ),
    )
