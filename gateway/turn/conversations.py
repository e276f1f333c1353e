"""Conversations: per chat (per person in a group chat), the `conversation` id the gateway owns
and sends to the core, and the core's last response id (for projects that chain with
`previous_response_id` instead).

A conversation's key is the chat for a private chat and the chat plus the sender in a group
(`conversation_chat`), so two people in one group never share a conversation. `/new` and an
identity change (`identity.store`) clear the row's id; the next turn starts a new one, derived
from that turn's event key so a retried turn names the same conversation.

Reads are batched (turns claimed together look up their chats in one query) and writes happen in
the transaction that finishes the turns, as one upsert for the whole batch: a chat's first turn
creates its row there, so no turn pays a write of its own before the core call.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, String, bindparam, func, update

from gateway.storage.batching import GroupCommit
from gateway.storage.conversation_keys import conversation_chat
from gateway.storage.db import Database
from gateway.storage.db.models import Conversation, utcnow
from gateway.storage.db.raw import KeyLookup, Statements

ChatKey = tuple[int, str, str, str]
"""(project id, channel, account, conversation chat: `conversation_chat`)."""

__all__ = [
    "ChatKey",
    "Conversations",
    "Step",
    "Thread",
    "conversation_chat",
    "new_conversation_id",
]


def new_conversation_id(event_key: str) -> str:
    """The id of a conversation that starts with the event `event_key`: stable across the
    event's retries (the core sees one conversation), new for every event that starts one."""
    return "conv_" + hashlib.sha256(f"conversation:{event_key}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Thread:
    """A chat's conversation as the next turn finds it."""

    conversation_id: str | None
    """None: the chat has none yet, or `/new` or an identity change cleared it."""
    last_response_id: str | None
    start_param: str | None = None
    """The chat's start context (`remember_start`), sent to the core as metadata."""


@dataclass(frozen=True)
class Step:
    """What one finished turn does to its chat's conversation."""

    chat: ChatKey
    response_id: str | None
    """The new thread head; None leaves it as it is (the turn failed or was not a core call)."""
    conversation_id: str | None = None
    """The conversation the turn named: the row keeps it where it has none yet. A continuation
    passes None, so it never brings back an id that `/new` cleared."""


class Conversations:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._reads: GroupCommit[ChatKey, Thread] = GroupCommit(
            "conversation-reads", self._read_batch, max_batch=256, max_in_flight=2
        )
        upsert = db.insert(Conversation)
        self._advance = upsert.on_conflict_do_update(
            index_elements=["project_id", "channel", "account", "chat"],
            set_={
                "last_response_id": func.coalesce(
                    upsert.excluded.last_response_id, Conversation.last_response_id
                ),
                "conversation_id": func.coalesce(
                    Conversation.conversation_id, upsert.excluded.conversation_id
                ),
                "turn_count": Conversation.turn_count + upsert.excluded.turn_count,
                "updated_at": upsert.excluded.updated_at,
            },
        ).returning(
            Conversation.id,
            Conversation.project_id,
            Conversation.channel,
            Conversation.account,
            Conversation.chat,
        )

    async def current(self, chat: ChatKey) -> Thread:
        return await self._reads.submit(chat)

    async def _read_batch(self, chats: list[ChatKey]) -> list[Thread]:
        unique = list(dict.fromkeys(chats))
        async with self.db.statements(transaction=False) as st:
            found = {
                (row.project_id, row.channel, row.account, row.chat): Thread(
                    row.conversation_id, row.last_response_id, row.start_param
                )
                for row in await _FIND.rows(st, unique)
            }
        return [found.get(chat, _NONE) for chat in chats]

    async def advance(self, st: Statements, steps: list[Step]) -> dict[ChatKey, int]:
        """Inside the caller's transaction: create or move each chat's conversation; returns
        the conversation ids."""
        merged: dict[ChatKey, dict[str, Any]] = {}
        now = utcnow()
        for step in steps:  # one row per chat (an upsert may not touch a row twice)
            values = merged.setdefault(
                step.chat,
                {
                    "project_id": step.chat[0],
                    "channel": step.chat[1],
                    "account": step.chat[2],
                    "chat": step.chat[3],
                    "last_response_id": None,
                    "conversation_id": None,
                    "turn_count": 0,
                    "updated_at": now,
                },
            )
            if step.conversation_id is not None:
                values["conversation_id"] = step.conversation_id
            if step.response_id is not None:
                values["last_response_id"] = step.response_id
                values["turn_count"] += 1
        if not merged:
            return {}
        rows = await st.rows_many(self._advance, list(merged.values()))
        return {(row[1], row[2], row[3], row[4]): row[0] for row in rows}

    async def reset(self, chat: ChatKey) -> None:
        """`/new`: the next turn starts a new conversation (and a fresh chain)."""
        async with self.db.engine.begin() as conn:
            await conn.execute(
                _RESET,
                dict(zip(("p_project", "p_channel", "p_account", "p_chat"), chat, strict=True)),
            )

    async def remember_start(self, chat: ChatKey, start_param: str) -> None:
        """`/start <payload>` that is not a link code: every later core call of the chat
        carries it (metadata `start_param`) until another payload replaces it."""
        values = dict(zip(("project_id", "channel", "account", "chat"), chat, strict=True))
        insert = self.db.insert(Conversation).values(
            **values, start_param=start_param[:64], turn_count=0, updated_at=utcnow()
        )
        upsert = insert.on_conflict_do_update(
            index_elements=["project_id", "channel", "account", "chat"],
            set_={"start_param": insert.excluded.start_param},
        )
        async with self.db.engine.begin() as conn:
            await conn.execute(upsert)

    async def close(self) -> None:
        await self._reads.close()


_KEY = (Conversation.project_id, Conversation.channel, Conversation.account, Conversation.chat)
_FIND = KeyLookup(
    _KEY,
    (
        *_KEY,
        Conversation.last_response_id,
        Conversation.conversation_id,
        Conversation.start_param,
    ),
)
_NONE = Thread(None, None)
_RESET = (
    update(Conversation)
    .where(
        Conversation.project_id == bindparam("p_project", type_=Integer()),
        Conversation.channel == bindparam("p_channel", type_=String()),
        Conversation.account == bindparam("p_account", type_=String()),
        Conversation.chat == bindparam("p_chat", type_=String()),
    )
    .values(last_response_id=None, conversation_id=None)
)
