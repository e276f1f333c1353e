"""Conversations: per chat, the core's last response id, which chains the next turn to it.

Reads are batched (turns claimed together look up their chats in one query) and writes happen in
the transaction that finishes the turns, as one upsert for the whole batch: a chat's first turn
creates its row there, so no turn pays a write of its own before the core call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, String, bindparam, func, update

from gateway.storage.batching import GroupCommit
from gateway.storage.db import Database
from gateway.storage.db.models import Conversation, utcnow
from gateway.storage.db.raw import KeyLookup, Statements

ChatKey = tuple[int, str, str, str]
"""(project id, channel, account, chat)."""


@dataclass(frozen=True)
class Step:
    """What one finished turn does to its chat's conversation."""

    chat: ChatKey
    response_id: str | None
    """The new thread head; None leaves it as it is (the turn failed or was not a core call)."""


class Conversations:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._reads: GroupCommit[ChatKey, str | None] = GroupCommit(
            "conversation-reads", self._read_batch, max_batch=256, max_in_flight=2
        )
        upsert = db.insert(Conversation)
        self._advance = upsert.on_conflict_do_update(
            index_elements=["project_id", "channel", "account", "chat"],
            set_={
                "last_response_id": func.coalesce(
                    upsert.excluded.last_response_id, Conversation.last_response_id
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

    async def last_response(self, chat: ChatKey) -> str | None:
        return await self._reads.submit(chat)

    async def _read_batch(self, chats: list[ChatKey]) -> list[str | None]:
        unique = list(dict.fromkeys(chats))
        async with self.db.statements(transaction=False) as st:
            found = {
                (row.project_id, row.channel, row.account, row.chat): row.last_response_id
                for row in await _FIND.rows(st, unique)
            }
        return [found.get(chat) for chat in chats]

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
                    "turn_count": 0,
                    "updated_at": now,
                },
            )
            if step.response_id is not None:
                values["last_response_id"] = step.response_id
                values["turn_count"] += 1
        if not merged:
            return {}
        rows = await st.rows_many(self._advance, list(merged.values()))
        return {(row[1], row[2], row[3], row[4]): row[0] for row in rows}

    async def reset(self, chat: ChatKey) -> None:
        """`/new`: the next turn starts a fresh thread."""
        async with self.db.engine.begin() as conn:
            await conn.execute(
                _RESET,
                dict(zip(("p_project", "p_channel", "p_account", "p_chat"), chat, strict=True)),
            )

    async def close(self) -> None:
        await self._reads.close()


_KEY = (Conversation.project_id, Conversation.channel, Conversation.account, Conversation.chat)
_FIND = KeyLookup(_KEY, (*_KEY, Conversation.last_response_id))
_RESET = (
    update(Conversation)
    .where(
        Conversation.project_id == bindparam("p_project", type_=Integer()),
        Conversation.channel == bindparam("p_channel", type_=String()),
        Conversation.account == bindparam("p_account", type_=String()),
        Conversation.chat == bindparam("p_chat", type_=String()),
    )
    .values(last_response_id=None)
)
