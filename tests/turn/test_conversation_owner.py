"""Whom a conversation belongs to, at the storage level: the upsert that finishing turns write
(`Conversations.advance`) and what the next turn may continue (`Thread.continued_by`). The race
it closes (an unlink while the sender's turn waits on the core) is shown end to end in
test_conversations.py."""

from __future__ import annotations

from sqlalchemy import select

from gateway.storage.db.models import Conversation, Project
from gateway.turn.conversations import (
    ChatKey,
    Conversations,
    Step,
    Thread,
    conversation_owner,
)
from tests.auxil.harness import Harness

ANA, BO = conversation_owner("user-ana"), conversation_owner("anon_bo")


async def _chat(h: Harness, chat: str = "4242") -> ChatKey:
    assert h.runtime is not None
    async with h.runtime.db.session() as session:
        project = await session.scalar(select(Project.id).where(Project.name == "default"))
    assert project is not None
    return (project, "telegram", "default", chat)


async def _advance(conversations: Conversations, *steps: Step) -> None:
    async with conversations.db.statements() as st:
        await conversations.advance(st, list(steps))


async def _row(conversations: Conversations, chat: ChatKey) -> tuple[object, ...]:
    async with conversations.db.session() as session:
        row = (
            await session.execute(
                select(
                    Conversation.conversation_id,
                    Conversation.last_response_id,
                    Conversation.owner,
                    Conversation.turn_count,
                ).where(Conversation.chat == chat[3])
            )
        ).one()
    return tuple(row)


async def test_the_same_owner_keeps_the_conversation_and_moves_the_head(
    harness: Harness,
) -> None:
    assert harness.runtime is not None
    conversations, chat = Conversations(harness.runtime.db), await _chat(harness)
    await _advance(conversations, Step(chat, "resp_1", "conv_a", owner=ANA))
    await _advance(conversations, Step(chat, "resp_2", "conv_b", owner=ANA))
    assert await _row(conversations, chat) == ("conv_a", "resp_2", ANA, 2)
    await _advance(conversations, Step(chat, None, "conv_c", owner=ANA))  # a failed turn
    assert await _row(conversations, chat) == ("conv_a", "resp_2", ANA, 2)


async def test_another_owners_turn_replaces_conversation_and_head(harness: Harness) -> None:
    assert harness.runtime is not None
    conversations, chat = Conversations(harness.runtime.db), await _chat(harness)
    await _advance(conversations, Step(chat, "resp_1", "conv_a", owner=ANA))
    await _advance(conversations, Step(chat, "resp_2", "conv_b", owner=BO))
    assert await _row(conversations, chat) == ("conv_b", "resp_2", BO, 2)
    await _advance(conversations, Step(chat, None, "conv_c", owner=ANA))  # failed, chained
    assert await _row(conversations, chat) == ("conv_c", None, ANA, 2)


async def test_another_owners_continuation_changes_nothing(harness: Harness) -> None:
    assert harness.runtime is not None
    conversations, chat = Conversations(harness.runtime.db), await _chat(harness)
    await _advance(conversations, Step(chat, "resp_1", "conv_b", owner=BO))
    late = Step(chat, "resp_ana", None, owner=ANA, continuation=True)
    await _advance(conversations, late)
    assert (await _row(conversations, chat))[:3] == ("conv_b", "resp_1", BO)
    own = Step(chat, "resp_bo", None, owner=BO, continuation=True)
    await _advance(conversations, own)
    assert (await _row(conversations, chat))[:3] == ("conv_b", "resp_bo", BO)


async def test_a_row_without_an_owner_goes_on_and_takes_the_next_turns(
    harness: Harness,
) -> None:
    """Rows from before the owner existed (and `/start` payload rows) continue as they were."""
    assert harness.runtime is not None
    conversations, chat = Conversations(harness.runtime.db), await _chat(harness)
    await _advance(conversations, Step(chat, "resp_1", "conv_a"))
    assert await _row(conversations, chat) == ("conv_a", "resp_1", None, 1)
    await _advance(conversations, Step(chat, "resp_2", "conv_b", owner=BO))
    assert await _row(conversations, chat) == ("conv_a", "resp_2", BO, 2)


async def test_advance_writes_turns_and_continuations_of_many_chats_at_once(
    harness: Harness,
) -> None:
    assert harness.runtime is not None
    conversations = Conversations(harness.runtime.db)
    one, two = await _chat(harness, "1"), await _chat(harness, "2")
    await _advance(conversations, Step(two, "resp_0", "conv_two", owner=BO))
    await _advance(
        conversations,
        Step(one, "resp_1", "conv_one", owner=ANA),
        Step(two, "resp_2", None, owner=BO, continuation=True),
    )
    assert await _row(conversations, one) == ("conv_one", "resp_1", ANA, 1)
    assert await _row(conversations, two) == ("conv_two", "resp_2", BO, 2)


def test_a_thread_is_continued_only_by_its_owner() -> None:
    thread = Thread("conv_a", "resp_1", "promo", ANA)
    assert thread.continued_by(ANA) is thread
    assert thread.continued_by(BO) == Thread(None, None, "promo", BO)
    unknown = Thread("conv_a", "resp_1")
    assert unknown.continued_by(BO) is unknown
