"""Conversations: per chat (per person in a group chat), the `conversation` id the gateway owns
and sends to the core, and the core's last response id (for projects that chain with
`previous_response_id` instead).

A conversation's key is the chat for a private chat and the chat plus the sender in a group
(`conversation_chat`), so two people in one group never share a conversation. `/new` and an
identity change (`identity.store`) clear the row's id; the next turn starts a new one, derived
from that turn's event key so a retried turn names the same conversation.

A conversation also has an owner: a digest of the core `user` its turns were sent as. A turn
sent as someone else (the sender was linked or unlinked since) neither continues the row's
conversation nor chains from its response, and its own answer replaces them. Clearing the row
alone is not enough: a turn of the sender already waiting on the core when an operator unlinks
them is written after the clearing, under the old owner, and must not be continued.

Reads are batched (turns claimed together look up their chats in one query) and writes happen in
the transaction that finishes the turns, as one upsert for the whole batch: a chat's first turn
creates its row there, so no turn pays a write of its own before the core call.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, String, bindparam, case, func, or_, update

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
    "conversation_owner",
    "new_conversation_id",
]


def new_conversation_id(event_key: str) -> str:
    """The id of a conversation that starts with the event `event_key`: stable across the
    event's retries (the core sees one conversation), new for every event that starts one."""
    return "conv_" + hashlib.sha256(f"conversation:{event_key}".encode()).hexdigest()[:32]


def conversation_owner(user: str) -> str:
    """What a conversation row keeps of the core `user` its turns were sent as: enough to tell
    users apart, without copying app user ids into one more table."""
    return hashlib.sha256(f"owner:{user}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Thread:
    """A chat's conversation as the next turn finds it."""

    conversation_id: str | None
    """None: the chat has none yet, or `/new` or an identity change cleared it."""
    last_response_id: str | None
    start_param: str | None = None
    """The chat's start context (`remember_start`), sent to the core as metadata."""
    owner: str | None = None
    """`conversation_owner` of the user the conversation belongs to; None: not known yet."""

    def continued_by(self, owner: str) -> Thread:
        """The thread as a turn sent as `owner` may continue it: someone else's conversation
        and chain are not (the start context is the chat's, whoever writes)."""
        if self.owner is None or self.owner == owner:
            return self
        return Thread(None, None, self.start_param, owner)


@dataclass(frozen=True)
class Step:
    """What one finished turn does to its chat's conversation."""

    chat: ChatKey
    response_id: str | None
    """The new thread head; None leaves it as it is (the turn failed or was not a core call)."""
    conversation_id: str | None = None
    """The conversation the turn named: the row keeps it where it has none yet. A continuation
    passes None, so it never brings back an id that `/new` cleared."""
    owner: str | None = None
    """`conversation_owner` of the turn's core `user`. A turn of another owner than the row's
    replaces the row's conversation and chain with its own."""
    continuation: bool = False
    """An approval continuation: it moves the chain only while the row is still its owner's
    (a continuation of a user the sender is no longer linked to changes nothing)."""


class Conversations:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._reads: GroupCommit[ChatKey, Thread] = GroupCommit(
            "conversation-reads", self._read_batch, max_batch=256, max_in_flight=2
        )
        self._advance = _advance(db, continuation=False)
        self._continue = _advance(db, continuation=True)

    async def current(self, chat: ChatKey) -> Thread:
        return await self._reads.submit(chat)

    async def _read_batch(self, chats: list[ChatKey]) -> list[Thread]:
        unique = list(dict.fromkeys(chats))
        async with self.db.statements(transaction=False) as st:
            found = {
                (row.project_id, row.channel, row.account, row.chat): Thread(
                    row.conversation_id, row.last_response_id, row.start_param, row.owner
                )
                for row in await _FIND.rows(st, unique)
            }
        return [found.get(chat, _NONE) for chat in chats]

    async def advance(self, st: Statements, steps: list[Step]) -> dict[ChatKey, int]:
        """Inside the caller's transaction: create or move each chat's conversation; returns
        the conversation ids."""
        ids: dict[ChatKey, int] = {}
        for continuation, statement in ((False, self._advance), (True, self._continue)):
            values = _merged(step for step in steps if step.continuation == continuation)
            if values:
                rows = await st.rows_many(statement, values)
                ids.update({(row[1], row[2], row[3], row[4]): row[0] for row in rows})
        return ids

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


def _advance(db: Database, *, continuation: bool) -> Any:
    """The upsert that moves chats' conversations, one row per chat. The row's owner decides:
    the same owner (or one not known yet) keeps the row's conversation and takes the turn's
    response as the new chain head; another owner's turn replaces both with its own, and
    another owner's continuation leaves the row as it is."""
    upsert = db.insert(Conversation)
    new = upsert.excluded
    same = or_(Conversation.owner.is_(None), new.owner.is_(None), Conversation.owner == new.owner)
    other = Conversation if continuation else new  # what wins when the owners differ
    return upsert.on_conflict_do_update(
        index_elements=["project_id", "channel", "account", "chat"],
        set_={
            "last_response_id": case(
                (same, func.coalesce(new.last_response_id, Conversation.last_response_id)),
                else_=other.last_response_id,
            ),
            "conversation_id": case(
                (same, func.coalesce(Conversation.conversation_id, new.conversation_id)),
                else_=other.conversation_id,
            ),
            "owner": case((same, func.coalesce(new.owner, Conversation.owner)), else_=other.owner),
            "turn_count": Conversation.turn_count + new.turn_count,
            "updated_at": new.updated_at,
        },
    ).returning(
        Conversation.id,
        Conversation.project_id,
        Conversation.channel,
        Conversation.account,
        Conversation.chat,
    )


def _merged(steps: Iterable[Step]) -> list[dict[str, Any]]:
    """The upsert's rows: one per chat (an upsert may not touch a row twice), later steps of a
    chat over earlier ones."""
    merged: dict[ChatKey, dict[str, Any]] = {}
    now = utcnow()
    for step in steps:
        values = merged.setdefault(
            step.chat,
            {
                "project_id": step.chat[0],
                "channel": step.chat[1],
                "account": step.chat[2],
                "chat": step.chat[3],
                "last_response_id": None,
                "conversation_id": None,
                "owner": None,
                "turn_count": 0,
                "updated_at": now,
            },
        )
        if step.conversation_id is not None:
            values["conversation_id"] = step.conversation_id
        if step.owner is not None:
            values["owner"] = step.owner
        if step.response_id is not None:
            values["last_response_id"] = step.response_id
            values["turn_count"] += 1
    return list(merged.values())


_KEY = (Conversation.project_id, Conversation.channel, Conversation.account, Conversation.chat)
_FIND = KeyLookup(
    _KEY,
    (
        *_KEY,
        Conversation.last_response_id,
        Conversation.conversation_id,
        Conversation.start_param,
        Conversation.owner,
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
