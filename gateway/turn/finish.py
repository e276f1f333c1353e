"""Writing a finished event: every effect in one transaction fenced on the claim, after the core
call, and group-committed with other finished events.

The inbox status, the turn row, the conversation pointer, the reply rows, the approvals the core
asked for and the sender's last contact commit together or not at all. A crash before that commit
leaves the event claimable again; the retry reaches the core with the same idempotency key, so
the core answers with the same response and the user sees one reply.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from approvals.service import ApprovalService, Destination
from channels.capabilities import Capabilities
from gateway.messages import InboundEvent, ReplyPart
from gateway.storage import albums, outbox
from gateway.storage.batching import GroupCommit
from gateway.storage.db import Database
from gateway.storage.db.models import Turn, utcnow
from gateway.storage.inbox import INBOX, ClaimedEvent
from gateway.storage.projects import ProjectInfo
from gateway.storage.queue import settle_many
from gateway.turn.conversations import Conversations, Step, conversation_owner
from gateway.turn.outcome import CoreTurn, Outcome, TurnStatus
from identity.resolve import contact_of, sender_of
from identity.store import IdentityStore

BEHIND_AT = 64
"""Finished turns waiting for their commit at which the writer counts as behind
(`TurnWriter.behind`). Turns finishing at a real core's pace are written a few at a time and
never come near it; a core answering at once (or a slow database) brings hundreds."""


@dataclass(frozen=True)
class Finished:
    """One finished event waiting for the group commit."""

    row: ClaimedEvent
    worker_id: str
    event: InboundEvent
    outcome: Outcome
    project: ProjectInfo | None = None
    """None when the event's account is gone: only the inbox row is settled."""
    caps: Capabilities | None = None
    parts: tuple[ReplyPart, ...] = ()
    """What the chat is sent: the replies cut to the channel's message size, then the answer
    rendered in its markup (`pipeline.reply_parts`)."""
    key: str = ""
    absorbed: tuple[int, ...] = ()
    """Inbox rows the event took in (an album's other parts): settled with it."""


class TurnWriter:
    def __init__(
        self,
        db: Database,
        conversations: Conversations,
        identity: IdentityStore,
        approvals: ApprovalService,
        *,
        linger: Callable[[], float] | None = None,
    ) -> None:
        """`linger`: how long a batch of finished turns waits for company (`GroupCommit`)."""
        self.db, self.conversations = db, conversations
        self.identity, self.approvals = identity, approvals
        self._batches: GroupCommit[Finished, bool] = GroupCommit(
            "turns", self._write_batch, linger=linger
        )
        # One turn row per inbound event: a replayed event (`gateway inbox replay`) updates it.
        upsert = db.insert(Turn)
        kept = ("id", "inbox_event_id", "created_at")
        self._upsert_turn = upsert.on_conflict_do_update(
            index_elements=["inbox_event_id"],
            set_={c.name: upsert.excluded[c.name] for c in Turn.__table__.c if c.name not in kept},
        ).returning(Turn.id, Turn.inbox_event_id)

    def behind(self) -> bool:
        """Whether finished turns queue for their commit (`BEHIND_AT`): the process then claims
        no more turns until they are written. Claiming more would not finish turns sooner, only
        add turns waiting here, each holding its event and answer in memory."""
        return self._batches.backlog >= BEHIND_AT

    def written_within(self, seconds: float) -> int:
        """Finished turns written in the last `seconds` (`GroupCommit.written_within`)."""
        return self._batches.written_within(seconds)

    async def write(self, job: Finished) -> bool:
        """Whether it was written (False: the claim was lost, another process owns the event)."""
        return await self._batches.submit(job)

    async def close(self) -> None:
        await self._batches.close()

    async def _write_batch(self, jobs: list[Finished]) -> list[bool | BaseException]:
        """True per job written, False where the lease was lost. A row the database refuses
        fails alone: the batch is retried one job at a time."""
        try:
            return await self._write(jobs)
        except (DataError, IntegrityError):
            if len(jobs) == 1:
                raise
        results: list[bool | BaseException] = []
        for job in jobs:
            try:
                results.extend(await self._write([job]))
            except (DataError, IntegrityError) as exc:
                results.append(exc)
        return results

    async def _write(self, jobs: list[Finished]) -> list[bool | BaseException]:
        """Every effect of the jobs in one transaction, a few statements for the whole batch."""
        now = utcnow()
        async with self.db.statements() as st:
            settled = await settle_many(
                st,
                INBOX,
                [
                    (
                        job.row.id,
                        job.worker_id,
                        {
                            "status": job.outcome.status.value,
                            "processed_at": now,
                            "last_error": job.outcome.error,
                        },
                    )
                    for job in jobs
                ],
            )
            live = [job for job in jobs if job.row.id in settled]
            for job in live:
                await albums.absorb(st, job.absorbed, job.row.id, job.outcome.status.value, now)
            turns = [
                (job, job.outcome.turn)
                for job in live
                if job.outcome.turn is not None and job.project
            ]
            turn_ids: dict[int, int] = {}
            if turns:
                steps = [_step(job, turn) for job, turn in turns]
                conversation_ids = await self.conversations.advance(st, steps)
                values = [
                    _turn_values(job, turn, conversation_ids[turn.chat], now) for job, turn in turns
                ]
                written = await st.rows_many(self._upsert_turn, values)
                turn_ids = {inbox_id: turn_id for turn_id, inbox_id in written}
            queued = [
                queued_row
                for job in live
                if job.parts and job.project is not None and job.event.chat
                for queued_row in outbox.rows(
                    project_id=job.project.id,
                    channel=job.event.route,
                    account=job.event.account,
                    chat=job.event.chat,
                    parts=list(job.parts),
                    dedupe_key=f"{job.key}:{job.outcome.purpose.value}",
                    inbox_event_id=job.row.id,
                    turn_id=turn_ids.get(job.row.id),
                    options=job.event.reply_options(),
                )
            ]
            await outbox.insert(self.db, st, queued)
            for job in live:
                turn = job.outcome.turn
                if turn is not None and turn.asks:
                    await self._ask(st.conn, job, turn, turn_ids.get(job.row.id))
            contacts = [
                contact_of(job.event, sender_of(job.project, job.event), job.caps)
                for job in live
                if job.project is not None
                and job.caps is not None
                and job.event.forwardable
                and job.event.sender
                and _may_have_link(job)
            ]
            await self.identity.record_contacts(st, contacts)
        return [job.row.id in settled for job in jobs]

    async def _ask(
        self, conn: AsyncConnection, job: Finished, turn: CoreTurn, turn_id: int | None
    ) -> None:
        """Record the core's approval requests and queue their prompts (same transaction)."""
        event, project, caps = job.event, job.project, job.caps
        response_id = turn.result.response_id
        assert project is not None and caps is not None and response_id
        # Prompts go to the person's private chat where there is one, never into a group.
        private = caps.private_chat_is_sender and event.is_group and event.sender
        chat = (event.sender if private else event.chat) or "-"
        await self.approvals.add_core_approvals(
            conn,
            project,
            app_user_id=turn.user,
            asks=turn.asks,
            response_id=response_id,
            turn_id=turn_id,
            inbox_event_id=job.row.id,
            destination=Destination(event.route, event.account, chat, event.channel, caps.buttons),
            context={
                "channel": event.channel,
                "account": event.account,
                "chat": event.chat,
                "sender": event.sender,
                "is_group": event.is_group,
                "message_id": event.message_id,
                "thread": event.thread,
                "via": event.hints.get("via"),
                "linked": turn.linked,
                "conversation": turn.request.conversation,
            },
        )


def _may_have_link(job: Finished) -> bool:
    """Whether the sender may have an identity link to record where they were last heard from: a
    turn that found none skips the statement (it would match no row; one round trip fewer per
    batch where most senders are unlinked). Events that made no turn are recorded as before."""
    turn = job.outcome.turn
    return turn is None or turn.linked


def _new_thread_head(turn: CoreTurn) -> str | None:
    return turn.result.response_id if turn.result.ok else None


def _step(job: Finished, turn: CoreTurn) -> Step:
    """What the turn does to its chat's conversation. A continuation (which answers in the
    conversation its approvals were asked in) names none: it leaves the chat's current one
    alone."""
    continuation = job.event.kind == "resume"
    return Step(
        turn.chat,
        _new_thread_head(turn),
        None if continuation else turn.request.conversation,
        owner=conversation_owner(turn.request.user),
        continuation=continuation,
    )


def _turn_values(
    job: Finished, turn: CoreTurn, conversation_id: int, now: datetime
) -> dict[str, Any]:
    event, result, request = job.event, turn.result, turn.request
    assert job.project is not None
    return {
        "project_id": job.project.id,
        "inbox_event_id": job.row.id,
        "conversation_id": conversation_id,
        "channel": event.channel,
        "account": event.account,
        "chat": event.chat or "-",
        "user_ref": turn.user,
        "identity_linked": turn.linked,
        "idempotency_key": job.key,
        "request_id": result.request_id,
        "response_id": result.response_id,
        "trace_id": result.trace_id,
        "previous_response_id": request.previous_response_id,
        "conversation": request.conversation,
        "model": result.model or request.model,
        "status": (job.outcome.turn_status or TurnStatus.FAILED).value,
        "http_status": result.status,
        "usage": result.body.get("usage"),
        "cost": result.cost,
        "latency_ms": result.latency_ms,
        "error": job.outcome.error,
        "reason": result.reason,
        "completed_at": now,
    }
