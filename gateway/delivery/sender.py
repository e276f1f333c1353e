"""The outbox sender: one claimed outbound row -> one paced provider send -> recorded result.

The row is marked `sent` in its own short transaction right after the provider answers: that is
the only window in which a crash can repeat a send (docs/delivery.md).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import structlog
from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError

from channels.capabilities import Capabilities
from gateway.config import Settings
from gateway.delivery.pacing import Pacer
from gateway.errors import NotFound
from gateway.messages import OutboundMessage, SendError
from gateway.metrics import Metrics
from gateway.storage import optouts
from gateway.storage.backoff import retry_delay
from gateway.storage.batching import GroupCommit
from gateway.storage.db import Database
from gateway.storage.db.models import OutboundMessage as OutboundRow
from gateway.storage.db.models import utcnow
from gateway.storage.outbox import OUTBOX
from gateway.storage.projects import AccountDirectory
from gateway.storage.queue import extend, retry_later, settle, settle_each

log = structlog.get_logger("gateway.delivery.sender")

POISON_ATTEMPTS = 100
"""Claims (429 waits included) after which a row that never settles is dead-lettered."""

OptionsRenderer = Callable[[dict[str, Any]], dict[str, Any]]
"""A row's stored options -> the options its send carries (the runtime hands in the approval
prompts' buttons renderer; the sender knows no kind of row in particular)."""


def _as_stored(options: dict[str, Any]) -> dict[str, Any]:
    return options


class OutboxSender:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        directory: AccountDirectory,
        pacers: dict[str, Pacer],
        metrics: Metrics,
        render_options: OptionsRenderer = _as_stored,
    ) -> None:
        self.settings, self.db, self.directory = settings, db, directory
        self.pacers, self.metrics = pacers, metrics
        self.render_options = render_options
        self._sent_marks: GroupCommit[tuple[int, str, dict[str, Any]], bool] = GroupCommit(
            "sent-marks", self._write_sent_marks
        )

    async def send(self, row: OutboundRow, worker_id: str) -> None:
        """Send one claimed outbox row (as returned by the claim)."""
        bound = log.bind(outbox_id=row.id, outbox_key=row.dedupe_key, channel=row.channel)
        try:
            _, adapter = await self.directory.get(row.channel, row.account)
        except NotFound as exc:
            await self._give_up(row, worker_id, "failed", str(exc))
            return
        if row.attempts > POISON_ATTEMPTS:
            reason = f"gave up after {row.attempts} claims: {row.last_error}"
            await self._give_up(row, worker_id, "dead", reason)
            return
        caps = adapter.capabilities_for(row.chat)
        if caps.carrier_keywords and await optouts.is_opted_out(
            self.db, row.project_id, row.channel, row.chat
        ):
            await self._give_up(row, worker_id, "failed", "recipient opted out (STOP)")
            return
        pacer = self.pacers.get(row.channel)
        if pacer is not None:
            await pacer.wait(row.account, row.chat, is_group=adapter.is_group_chat(row.chat))
        message = OutboundMessage(
            channel=row.channel,
            account=row.account,
            chat=row.chat,
            text=row.text,
            reply_to=(row.options or {}).get("reply_to"),
            options=await self._render_options(row),
        )
        # Renew-before-send: a holder whose lease ran out (it stalled, another process took the
        # row over) must not send; a fresh lease covers the send and the mark that follows. A
        # claim made moments ago (our own clock set `lease_until`) still has most of its lease
        # left, which covers a send (15 s timeout) without a database round trip.
        assert row.lease_until is not None, "a claimed outbox row always has a lease"
        left = (row.lease_until - utcnow()).total_seconds()
        if left < self.settings.lease_seconds / 2 and not await extend(
            self.db, OUTBOX, row.id, worker_id, self.settings.lease_seconds
        ):
            bound.warning("outbox.lease_lost_before_send")
            return
        try:
            result = await adapter.send(message)
        except SendError as exc:
            await self._failed(row, worker_id, exc, pacer, caps)
            return
        await self._mark_sent(row, worker_id, result.provider_message_id)
        self.metrics.sends.labels(row.channel, "sent").inc()
        bound.info("outbox.sent", provider_message_id=result.provider_message_id)

    async def _render_options(self, row: OutboundRow) -> dict[str, Any]:
        """The row's options through the `render_options` hook (approval prompts get their
        buttons: tokens are derived at send time, never stored); an edit of an earlier message
        gets that message's provider id (sent before it: the chat's rows go out in order). An
        edit whose target never went out becomes a new message."""
        options = dict(self.render_options(dict(row.options or {})))
        edit_of = options.pop("edit_of", None)
        if isinstance(edit_of, str):
            async with self.db.session() as session:
                target = await session.scalar(
                    select(OutboundRow.provider_message_id).where(
                        OutboundRow.dedupe_key == edit_of, OutboundRow.status == "sent"
                    )
                )
            if target:
                options["edit_message_id"] = target
        return options

    async def _failed(
        self,
        row: OutboundRow,
        worker_id: str,
        exc: SendError,
        pacer: Pacer | None,
        caps: Capabilities,
    ) -> None:
        logger = log.bind(outbox_id=row.id, channel=row.channel, attempt=row.attempts)
        if exc.new_chat:
            await self._move_chat(row, exc.new_chat)
            await retry_later(self.db, OUTBOX, row.id, worker_id, 0.0, exc.reason)
            logger.info("outbox.chat_migrated", new_chat=exc.new_chat)
            return
        if exc.retry_after is not None:
            if pacer is not None:
                pacer.pause(row.account, row.chat, exc.retry_after)
            await retry_later(self.db, OUTBOX, row.id, worker_id, exc.retry_after, exc.reason)
            self.metrics.sends.labels(row.channel, "rate_limited").inc()
            logger.warning("outbox.rate_limited", retry_after=exc.retry_after)
            return
        if exc.permanent:
            if exc.opted_out and caps.carrier_keywords:
                await optouts.opt_out(self.db, row.project_id, row.channel, row.chat, "provider")
            await self._give_up(row, worker_id, "failed", exc.reason)
            return
        if row.attempts >= self.settings.outbox_max_attempts:
            reason = f"gave up after {row.attempts} attempts: {exc.reason}"
            await self._give_up(row, worker_id, "dead", reason)
            return
        base, cap = self.settings.retry_base_seconds, self.settings.retry_cap_seconds * 5
        delay = retry_delay(row.attempts, base, cap)
        await retry_later(self.db, OUTBOX, row.id, worker_id, delay, exc.reason)
        self.metrics.sends.labels(row.channel, "retry").inc()
        logger.warning("outbox.retry", delay=round(delay, 2), reason=exc.reason)

    async def _mark_sent(self, row: OutboundRow, worker_id: str, message_id: str | None) -> None:
        """The provider has the message: record that, retrying through database trouble while
        the lease is still ours (heartbeats keep it), because giving up would resend it."""
        delay = 0.05
        deadline = time.monotonic() + max(300.0, self.settings.lease_seconds)
        values = {"status": "sent", "provider_message_id": message_id, "last_error": None}
        while True:
            try:
                await self._sent_marks.submit((row.id, worker_id, {**values, "sent_at": utcnow()}))
                return
            except (SQLAlchemyError, OSError) as exc:
                if time.monotonic() > deadline:
                    raise
                log.warning("outbox.mark_sent_retry", outbox_id=row.id, error=type(exc).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def _write_sent_marks(
        self, marks: list[tuple[int, str, dict[str, Any]]]
    ) -> list[bool | BaseException]:
        """Group commit of "sent" marks, on the pool reserved for lease writes."""
        async with self.db.statements(transaction=False, control=True) as st:
            await settle_each(st, OUTBOX, marks)
        return [True] * len(marks)

    async def close(self) -> None:
        await self._sent_marks.close()

    async def _give_up(self, row: OutboundRow, worker_id: str, status: str, reason: str) -> None:
        """Final failure: `failed` (the provider refused for good) or `dead` (retries spent)."""
        await self._settle(row, worker_id, status=status, last_error=reason)
        self.metrics.sends.labels(row.channel, status).inc()
        log.error(f"outbox.{status}", outbox_id=row.id, channel=row.channel, reason=reason)

    async def _settle(self, row: OutboundRow, worker_id: str, **values: object) -> None:
        async with self.db.control_statement() as conn:
            if not await settle(conn, OUTBOX, row.id, worker_id, **values):
                log.warning("outbox.lease_lost", outbox_id=row.id)

    async def _move_chat(self, row: OutboundRow, new_chat: str) -> None:
        """The provider moved the chat to a new id (Telegram: a group became a supergroup):
        this and every later row of the chat go to the new id."""
        old_key = row.chat_key
        new_key = f"{row.channel}:{row.account}:{new_chat}"
        async with self.db.engine.begin() as conn:
            await conn.execute(
                update(OutboundRow)
                .where(
                    OutboundRow.chat_key == old_key, OutboundRow.status.in_(("queued", "sending"))
                )
                .values(chat=new_chat, chat_key=new_key)
            )
