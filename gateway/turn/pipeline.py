"""The turn pipeline: one claimed inbox event -> (command | core call) -> outbox rows.

Every effect of a turn (turn row, reply rows, conversation pointer, inbox status) is written in one
transaction fenced on the claim, after the core call. A crash anywhere before that commit leaves
the event claimable again; the retry reaches the core with the same idempotency key, so the core
answers with the same response and the user sees one reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy.exc import DataError, IntegrityError

from approvals.decisions import ChannelDecisions
from approvals.service import ApprovalService, CoreAsk, Destination
from approvals.tokens import is_approval_action, parse_text
from channels.base import ChannelAdapter
from gateway.config import Settings
from gateway.delivery import optouts
from gateway.delivery import status as delivery
from gateway.errors import NotFound
from gateway.messages import InboundEvent, SendError
from gateway.metrics import Metrics
from gateway.storage import outbox
from gateway.storage.backoff import retry_delay
from gateway.storage.batching import GroupCommit
from gateway.storage.db import Database
from gateway.storage.db.models import InboxEvent, Turn, utcnow
from gateway.storage.inbox import INBOX, event_key
from gateway.storage.projects import AccountDirectory, ProjectInfo
from gateway.storage.queue import retry_later, settle_many
from gateway.turn.commands import CommandContext, commands, text_command
from gateway.turn.conversations import ChatKey, Conversations, Step
from gateway.turn.core_client import CoreClient, CoreRequest, CoreResult
from identity import Identity
from identity import replies as identity_replies
from identity.store import Contact, IdentityStore, Sender

log = structlog.get_logger("gateway.turn.pipeline")

TYPING_EVERY_SECONDS = 4.0  # Telegram shows "typing" for at most 5 s per call.
TYPING_AFTER_SECONDS = 0.5
"""Fast answers need no indicator: it would cost a Bot API call per turn for nothing visible."""

NO_TEXT_REPLY = "I can only read text messages for now."
BUSY_REPLY = "I'm getting a lot of messages right now. Please try again in {seconds} seconds."
QUOTA_REPLY = "This assistant has reached its usage limit for now. Please try again later."
UNAVAILABLE_REPLY = "This assistant isn't available right now. The team has been told."
TEXT_COMMAND_CHANNELS = ("sms", "whatsapp")
"""Channels without slash commands: `LINK <code>` / `UNLINK` are read from the text."""
STATUS_ATTEMPTS = 4
"""Tries for a delivery status whose message is not (yet) known before it is set aside."""
FAILED_REPLY = "Sorry, something went wrong and I couldn't answer that. (ref {ref})"


@dataclass
class Outcome:
    """What a finished turn writes: inbox status, optional turn row and replies."""

    status: str
    replies: list[str]
    purpose: str = "reply"
    result: CoreResult | None = None
    turn_status: str | None = None
    error: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    asks: list[CoreAsk] = field(default_factory=list)
    """Approvals the core asked for (mcp_approval_request items)."""


class LeaseLost(Exception):
    """Another process took the event over; this one must write nothing."""


class TurnPipeline:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        directory: AccountDirectory,
        core: CoreClient,
        metrics: Metrics,
        wake_sender: Callable[[], None],
        identity: IdentityStore,
        approvals: ApprovalService,
    ) -> None:
        self.settings, self.db, self.directory = settings, db, directory
        self.identity = identity
        self.approvals = approvals
        self.decisions = ChannelDecisions(approvals, self._resolve)
        self.core, self.metrics, self.wake_sender = core, metrics, wake_sender
        self._cooldown_until: dict[int, float] = {}
        self.conversations = Conversations(db)
        self._background: set[asyncio.Task[None]] = set()
        self._finishes: GroupCommit[_Finish, bool] = GroupCommit("turns", self._write_finishes)
        # One turn row per inbound event: a replayed event (`gateway inbox replay`) updates it.
        upsert = db.insert(Turn)
        kept = ("id", "inbox_event_id", "created_at")
        self._upsert_turn = upsert.on_conflict_do_update(
            index_elements=["inbox_event_id"],
            set_={c.name: upsert.excluded[c.name] for c in Turn.__table__.c if c.name not in kept},
        ).returning(Turn.id, Turn.inbox_event_id)

    async def close(self) -> None:
        await self._finishes.close()
        await self.conversations.close()

    async def process(self, row: InboxEvent, worker_id: str) -> None:
        """Handle one claimed inbox row (as returned by the claim)."""
        event = InboundEvent.model_validate(row.payload)
        structlog.contextvars.bind_contextvars(inbox_id=row.id, request_id=row.request_id)
        try:
            try:
                project, adapter = await self.directory.get(event.route, event.account)
            except NotFound as exc:
                await self._finish(
                    row, worker_id, event, None, Outcome("failed", [], error=str(exc))
                )
                return
            key = event_key(project.name, event)
            structlog.contextvars.bind_contextvars(event_key=key)
            if row.attempts > self.settings.inbox_max_attempts + 2:
                # Claimed again and again without ever finishing: processing itself crashes.
                # Stop with an apology instead of looping forever.
                log.error("inbox.poisoned", attempts=row.attempts, last_error=row.last_error)
                error = f"gave up after {row.attempts} claims: {row.last_error}"
                outcome = Outcome(
                    "failed", [FAILED_REPLY.format(ref=row.id)], "notice", error=error
                )
                await self._finish(row, worker_id, event, project, outcome, adapter, key)
                return
            outcome = await self._decide(row, event, project, adapter, key, worker_id)
            if outcome is not None:
                await self._finish(row, worker_id, event, project, outcome, adapter, key)
        except LeaseLost:
            log.warning("inbox.lease_lost")
        finally:
            structlog.contextvars.clear_contextvars()

    async def _decide(
        self,
        row: InboxEvent,
        event: InboundEvent,
        project: ProjectInfo,
        adapter: ChannelAdapter,
        key: str,
        worker_id: str,
    ) -> Outcome | None:
        """Returns None when the event was rescheduled instead of finished."""
        if event.kind == "status":
            return await self._delivery_status(row, worker_id, event)
        if event.kind == "resume":
            return await self._resume(row, worker_id, event, project, adapter, key)
        if event.channel == "sms":  # carrier keywords; WhatsApp through Twilio is not SMS
            outcome = await self._sms_keywords(project, event)
            if outcome is not None:
                return outcome
        try:
            addressed = await adapter.is_addressed(event)
        except SendError as exc:  # getMe failed: cannot tell yet, try again later
            return await self._retry_or_fail(row, worker_id, f"bot identity: {exc.reason}")
        if not addressed:
            return Outcome("ignored", [])
        if type(adapter).mark_received is not ChannelAdapter.mark_received:
            self._in_background(adapter.mark_received(event))
        if event.kind == "action" and is_approval_action(event.action):
            return Outcome("done", await self.decisions.button(project, adapter, event))
        if event.kind == "action":
            with contextlib.suppress(SendError):
                await adapter.acknowledge_action(event)
            return Outcome("done", [])
        identity: Identity | None = None
        if event.kind == "message" and event.channel in TEXT_COMMAND_CHANNELS:
            decision = parse_text(event.text)
            if decision is not None:
                identity = await self._resolve(project, event)
                replies = await self.decisions.text(project, event, decision, identity)
                if replies is not None:
                    return Outcome("done", replies)
            parsed = text_command(event.text)
            if parsed is not None:
                event.kind, (event.command, event.args) = "command", parsed
        if event.kind == "command":
            ctx = CommandContext(
                event,
                project.name,
                lambda: self._reset(project, event),
                lambda code: self._redeem(project, event, code),
                lambda: self._unlink(project, event),
            )
            return Outcome("done", [await commands.run(ctx)])
        text = await adapter.prompt_text(event)
        if not text:
            return Outcome("done", [NO_TEXT_REPLY])
        if identity is None:
            identity = await self._resolve(project, event)
        if identity.refusal is not None:
            return Outcome("done", [identity.refusal])
        cooldown = self._cooldown_until.get(project.id, 0.0) - time.monotonic()
        if cooldown > 0:
            return Outcome("done", [BUSY_REPLY.format(seconds=max(1, round(cooldown)))])
        assert identity.user is not None
        chat = _chat_key(project, event)
        request = CoreRequest(
            base_url=project.core_base_url,
            api_key=project.core_api_key,
            idempotency_key=key,
            model=project.model,
            user=identity.user,
            input=text,
            previous_response_id=await self.conversations.last_response(chat),
            metadata=_core_metadata(event, identity.linked),
        )
        result = await self._call_core(adapter, event, request)
        if result.previous_response_missing and request.previous_response_id:
            log.warning("core.previous_response_lost", previous=request.previous_response_id)
            request.previous_response_id = None
            result = await self._call_core(adapter, event, request)
        meta = {
            "user": identity.user,
            "linked": identity.linked,
            "request": request,
            "chat": chat,
        }
        return await self._classify(row, worker_id, project, result, meta)

    async def _resume(
        self,
        row: InboxEvent,
        worker_id: str,
        event: InboundEvent,
        project: ProjectInfo,
        adapter: ChannelAdapter,
        key: str,
    ) -> Outcome | None:
        """The approvals of a core response are all decided: send the decisions back
        (`mcp_approval_response`, chained to that response) and relay the final answer."""
        response_id = str(event.hints.get("response_id"))
        decided = await self.approvals.decisions_for(project.id, response_id)
        if not decided or any(d.status == "pending" for d in decided):
            return Outcome("failed", [], error="no decided approvals for this response")
        items = [
            {
                "type": "mcp_approval_response",
                "approval_request_id": d.core_request_id,
                "approve": d.status == "approved",
                **({} if d.status == "approved" else {"reason": _refusal_reason(d)}),
            }
            for d in decided
        ]
        linked = bool((decided[0].context or {}).get("linked"))
        request = CoreRequest(
            base_url=project.core_base_url,
            api_key=project.core_api_key,
            idempotency_key=key,
            model=project.model,
            user=decided[0].app_user_id,
            input=items,
            previous_response_id=response_id,
            metadata=_core_metadata(event, linked),
        )
        result = await self._call_core(adapter, event, request)
        meta = {
            "user": decided[0].app_user_id,
            "linked": linked,
            "request": request,
            "chat": _chat_key(project, event),
        }
        return await self._classify(row, worker_id, project, result, meta)

    async def _delivery_status(
        self, row: InboxEvent, worker_id: str, event: InboundEvent
    ) -> Outcome | None:
        hints = event.hints
        moved = await delivery.record(
            self.db,
            event.route,
            str(hints.get("provider_message_id")),
            str(hints.get("status")),
            hints.get("error_code"),
        )
        if moved is None and row.attempts < STATUS_ATTEMPTS:
            # The callback can beat the commit that records the send's provider id.
            error = "no outbound message with this provider id yet"
            if not await retry_later(self.db, INBOX, row.id, worker_id, row.attempts, error):
                raise LeaseLost
            return None
        error = "no outbound message has this provider id" if moved is None else None
        return Outcome("done", [], error=error)

    async def _sms_keywords(self, project: ProjectInfo, event: InboundEvent) -> Outcome | None:
        """STOP / START / HELP, and silence for senders who opted out (None: a normal turn)."""
        word = optouts.keyword(event.text)
        address = event.sender or event.chat or "-"
        if word == "stop":
            await optouts.opt_out(self.db, project.id, event.channel, address, "keyword")
            log.info("sms.opted_out")
            return Outcome("done", [])  # the carrier / Twilio confirms; nothing more is sent
        if word == "start":
            await optouts.opt_in(self.db, project.id, event.channel, address)
            log.info("sms.opted_in")
            return Outcome("done", [optouts.START_REPLY])
        if await optouts.is_opted_out(self.db, project.id, event.channel, address):
            return Outcome("ignored", [], error="the sender opted out (STOP)")
        if word == "help":
            return Outcome("done", [self.settings.sms_help_text])
        return None

    async def _resolve(self, project: ProjectInfo, event: InboundEvent) -> Identity:
        """Linked senders speak as their app user; the others follow the project's policy."""
        sender = _sender(project, event)
        app_user = await self.identity.linked_user(sender)
        if app_user is not None:
            return Identity(app_user, linked=True)
        channel_user = Identity(f"{event.channel}:{sender[2]}", linked=False)
        if project.unlinked_policy == "channel_user":
            return channel_user
        if project.unlinked_policy == "allowlist" and await self.identity.allowed(sender):
            return channel_user
        if project.unlinked_policy == "allowlist":
            return Identity(None, linked=False, refusal=identity_replies.NOT_ALLOWED)
        return Identity(None, linked=False, refusal=identity_replies.how_to_link(event.channel))

    async def _redeem(self, project: ProjectInfo, event: InboundEvent, code: str) -> str:
        sender = _sender(project, event)
        result = await self.identity.redeem(sender, code, _contact(event, sender))
        log.info("identity.redeem", ok=result.app_user_id is not None, reason=result.reason)
        return identity_replies.redemption(result, event.channel)

    async def _unlink(self, project: ProjectInfo, event: InboundEvent) -> str:
        removed = await self.identity.unlink_sender(_sender(project, event))
        return identity_replies.unlinked(removed, event.channel)

    def _in_background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _classify(
        self,
        row: InboxEvent,
        worker_id: str,
        project: ProjectInfo,
        result: CoreResult,
        row_meta: dict[str, Any],
    ) -> Outcome | None:
        structlog.contextvars.bind_contextvars(
            response_id=result.response_id,
            trace_id=result.trace_id,
            core_request_id=result.request_id,
        )
        if result.ok:
            text = result.text
            asks = [
                CoreAsk(
                    core_request_id=item["id"],
                    tool=str(item.get("name") or "a tool"),
                    server_label=item.get("server_label")
                    if isinstance(item.get("server_label"), str)
                    else None,
                    arguments=item.get("arguments"),
                )
                for item in result.approval_requests
            ]
            return Outcome(
                "done",
                [text] if text else [],
                result=result,
                turn_status="awaiting_approval" if asks else "completed",
                error=None if text or asks else "core answered no output_text",
                meta=row_meta,
                asks=asks,
            )
        if result.status == 429:
            seconds = min(result.retry_after or 30.0, 300.0)
            self._cooldown_until[project.id] = time.monotonic() + seconds
            reply = BUSY_REPLY.format(seconds=max(1, round(seconds)))
            return Outcome(
                "done", [reply], "notice", result, "rate_limited", result.error, meta=row_meta
            )
        if result.status == 402:
            return Outcome(
                "done",
                [QUOTA_REPLY],
                "notice",
                result,
                "payment_required",
                result.error,
                meta=row_meta,
            )
        if result.status in (401, 403):
            log.error("core.unauthorized", status=result.status, error=result.error)
            return Outcome(
                "done",
                [UNAVAILABLE_REPLY],
                "notice",
                result,
                "unauthorized",
                result.error,
                meta=row_meta,
            )
        if result.status is None or result.status >= 500:
            return await self._retry_or_fail(
                row, worker_id, result.error or "core error", result=result, meta=row_meta
            )
        log.error("core.rejected", status=result.status, error=result.error)
        return Outcome(
            "failed",
            [FAILED_REPLY.format(ref=row.id)],
            "notice",
            result,
            "failed",
            result.error,
            meta=row_meta,
        )

    async def _retry_or_fail(
        self,
        row: InboxEvent,
        worker_id: str,
        error: str,
        *,
        result: CoreResult | None = None,
        meta: dict[str, Any] | None = None,
    ) -> Outcome | None:
        if row.attempts < self.settings.inbox_max_attempts:
            base, cap = self.settings.retry_base_seconds, self.settings.retry_cap_seconds
            delay = retry_delay(row.attempts, base, cap)
            log.warning("inbox.retry", attempt=row.attempts, delay=round(delay, 2), error=error)
            if not await retry_later(self.db, INBOX, row.id, worker_id, delay, error):
                raise LeaseLost
            return None
        log.error("inbox.failed", attempts=row.attempts, error=error)
        return Outcome(
            "failed",
            [FAILED_REPLY.format(ref=row.id)],
            "notice",
            result,
            "failed",
            error,
            meta=meta or {},
        )

    async def _call_core(
        self, adapter: ChannelAdapter, event: InboundEvent, request: CoreRequest
    ) -> CoreResult:
        # A timer, not a task: most answers come before it fires, and a timer costs far less.
        typing: list[asyncio.Task[None]] = []
        start = asyncio.get_running_loop().call_later(
            TYPING_AFTER_SECONDS,
            lambda: typing.append(asyncio.create_task(self._keep_typing(adapter, event))),
        )
        try:
            return await self.core.create_response(request)
        finally:
            start.cancel()
            for task in typing:
                task.cancel()

    async def _keep_typing(self, adapter: ChannelAdapter, event: InboundEvent) -> None:
        while event.chat:
            try:
                await adapter.send_typing(event.chat)
            except SendError as exc:
                log.debug("typing.failed", reason=exc.reason)
            await asyncio.sleep(TYPING_EVERY_SECONDS)

    async def _reset(self, project: ProjectInfo, event: InboundEvent) -> None:
        await self.conversations.reset(_chat_key(project, event))

    async def _finish(
        self,
        row: InboxEvent,
        worker_id: str,
        event: InboundEvent,
        project: ProjectInfo | None,
        outcome: Outcome,
        adapter: ChannelAdapter | None = None,
        key: str | None = None,
    ) -> None:
        parts: list[str] = []
        caps = adapter.capabilities_for(event.chat or "") if adapter is not None else None
        if outcome.replies and project is not None and caps is not None and event.chat:
            parts = [part for reply in outcome.replies for part in caps.split(reply)]
        buttons = caps is not None and caps.buttons
        job = _Finish(row, worker_id, event, project, outcome, parts, key or "", buttons)
        if not await self._finishes.submit(job):
            raise LeaseLost
        if parts:
            self.wake_sender()
        if outcome.turn_status is not None:
            self.metrics.turns.labels(event.channel, outcome.turn_status).inc()
            elapsed = (utcnow() - row.received_at).total_seconds()
            self.metrics.turn_seconds.labels(event.channel).observe(max(0.0, elapsed))
        log.info(
            "inbox.done",
            status=outcome.status,
            turn_status=outcome.turn_status,
            replies=len(outcome.replies),
        )

    async def _write_finishes(self, jobs: list[_Finish]) -> list[bool | BaseException]:
        """Group commit of finished turns: True per job written, False where the lease was lost.
        A row the database refuses fails alone: the batch is retried one job at a time."""
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

    async def _write(self, jobs: list[_Finish]) -> list[bool | BaseException]:
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
                            "status": job.outcome.status,
                            "processed_at": now,
                            "last_error": job.outcome.error,
                        },
                    )
                    for job in jobs
                ],
            )
            live = [job for job in jobs if job.row.id in settled]
            turns = [job for job in live if job.outcome.result is not None and job.project]
            turn_ids: dict[int, int] = {}
            if turns:
                steps = [
                    Step(job.outcome.meta["chat"], _new_thread_head(job.outcome)) for job in turns
                ]
                conversation_ids = await self.conversations.advance(st, steps)
                values = [
                    _turn_values(job, conversation_ids[step.chat], now)
                    for job, step in zip(turns, steps, strict=True)
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
                    parts=job.parts,
                    dedupe_key=f"{job.key}:{job.outcome.purpose}",
                    inbox_event_id=job.row.id,
                    turn_id=turn_ids.get(job.row.id),
                    options={"reply_to": job.event.message_id} if job.event.is_group else {},
                )
            ]
            await outbox.insert(self.db, st, queued)
            for job in live:
                if job.outcome.asks and job.project is not None:
                    await self._ask(st.conn, job, turn_ids.get(job.row.id))
            contacts = [
                _contact(job.event, _sender(job.project, job.event))
                for job in live
                if job.project is not None and job.event.forwardable and job.event.sender
            ]
            await self.identity.record_contacts(st, contacts)
        return [job.row.id in settled for job in jobs]

    async def _ask(self, conn: Any, job: _Finish, turn_id: int | None) -> None:
        """Record the core's approval requests and queue their prompts (same transaction)."""
        event, project, result = job.event, job.project, job.outcome.result
        assert project is not None and result is not None and result.response_id
        # Telegram: prompts go to the private chat with the person, never into a group.
        private = event.channel == "telegram" and event.is_group and event.sender
        chat = (event.sender if private else event.chat) or "-"
        await self.approvals.add_core_approvals(
            conn,
            project,
            app_user_id=job.outcome.meta["user"],
            asks=job.outcome.asks,
            response_id=result.response_id,
            turn_id=turn_id,
            inbox_event_id=job.row.id,
            destination=Destination(event.route, event.account, chat, event.channel, job.buttons),
            context={
                "channel": event.channel,
                "account": event.account,
                "chat": event.chat,
                "sender": event.sender,
                "is_group": event.is_group,
                "message_id": event.message_id,
                "via": event.hints.get("via"),
                "linked": job.outcome.meta["linked"],
            },
        )


def _core_metadata(event: InboundEvent, linked: bool) -> dict[str, str]:
    return {
        "feature": "channel_gateway",
        "source": event.channel,
        "channel_account": event.account,
        "identity_linked": str(linked).lower(),
    }


def _refusal_reason(decided: Any) -> str:
    if decided.status == "expired":
        return "the approval request expired without an answer"
    return f"denied by the user via {decided.decision_source or 'the gateway'}"


@dataclass
class _Finish:
    """One finished turn waiting for the group commit."""

    row: InboxEvent
    worker_id: str
    event: InboundEvent
    project: ProjectInfo | None
    outcome: Outcome
    parts: list[str]
    key: str
    buttons: bool = False
    """Whether the route's adapter renders approval buttons."""


def _sender(project: ProjectInfo, event: InboundEvent) -> Sender:
    return (project.id, event.channel, event.sender or event.chat or "-")


def _contact(event: InboundEvent, sender: Sender) -> Contact:
    """Where to reach this person later: Telegram's private chat with them (never a group);
    SMS and WhatsApp the address they wrote from, through the account that received it."""
    chat = sender[2] if event.channel == "telegram" else (event.chat or sender[2])
    return Contact(sender, event.route, event.account, chat)


def _chat_key(project: ProjectInfo, event: InboundEvent) -> ChatKey:
    return (project.id, event.channel, event.account, event.chat or "-")


def _new_thread_head(outcome: Outcome) -> str | None:
    result = outcome.result
    return result.response_id if result is not None and result.ok else None


def _turn_values(job: _Finish, conversation_id: int, now: datetime) -> dict[str, Any]:
    outcome, event = job.outcome, job.event
    result = outcome.result
    assert result is not None and job.project is not None
    request: CoreRequest = outcome.meta["request"]
    return {
        "project_id": job.project.id,
        "inbox_event_id": job.row.id,
        "conversation_id": conversation_id,
        "channel": event.channel,
        "account": event.account,
        "chat": event.chat or "-",
        "user_ref": outcome.meta["user"],
        "identity_linked": outcome.meta["linked"],
        "idempotency_key": job.key,
        "request_id": result.request_id,
        "response_id": result.response_id,
        "trace_id": result.trace_id,
        "previous_response_id": request.previous_response_id,
        "model": result.body.get("model") or request.model,
        "status": outcome.turn_status or "failed",
        "http_status": result.status,
        "usage": result.body.get("usage"),
        "cost": result.cost,
        "latency_ms": result.latency_ms,
        "error": outcome.error,
        "completed_at": now,
    }
