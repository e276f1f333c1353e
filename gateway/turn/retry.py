"""Putting an event back on the queue after a transient failure, or giving up with an apology."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import structlog

from gateway.storage import outbox
from gateway.storage.backoff import retry_delay
from gateway.storage.db import Database
from gateway.storage.db.models import utcnow
from gateway.storage.inbox import INBOX
from gateway.storage.queue import retry_later, settle_many
from gateway.turn.context import TurnContext
from gateway.turn.outcome import CoreTurn, HandlerResult, Outcome, Step, TurnStatus
from gateway.turn.replies import FAILED_REPLY

log = structlog.get_logger("gateway.turn")


class LeaseLost(Exception):
    """Another process took the event over; this one must write nothing."""


async def reschedule(db: Database, ctx: TurnContext, delay: float, error: str) -> Step:
    """Hand the event back for a later claim (raises `LeaseLost` if it is no longer ours)."""
    if not await retry_later(db, INBOX, ctx.row.id, ctx.worker_id, delay, error):
        raise LeaseLost
    return Step.RESCHEDULED


async def defer(
    db: Database, ctx: TurnContext, delay: float, error: str, notice: str | None = None
) -> Step:
    """Put the event back to wait `delay` seconds without spending one of its attempts (waiting
    out a rate limit is not a failure), and queue `notice` for the chat in the same transaction.

    The notice's key is `<event key>:busy`, so however often the event is deferred the chat hears
    it once. Raises `LeaseLost` (and writes nothing) if the event is no longer ours."""
    row, event = ctx.row, ctx.event
    async with db.statements() as st:
        if notice and event.chat:
            queued = outbox.rows(
                project_id=ctx.project.id,
                channel=event.route,
                account=event.account,
                chat=event.chat,
                parts=list(ctx.caps.split(notice)),
                dedupe_key=f"{ctx.key}:busy",
                inbox_event_id=row.id,
                options=event.reply_options(),
            )
            await outbox.insert(db, st, queued)
        values = {
            "status": INBOX.ready,
            "claimed_by": None,
            "next_attempt_at": utcnow() + timedelta(seconds=delay),
            "last_error": error[:2000],
            "attempts": max(0, row.attempts - 1),
        }
        if not await settle_many(st, INBOX, [(row.id, ctx.worker_id, values)]):
            raise LeaseLost  # leaving the block by an exception rolls the notice back
    return Step.RESCHEDULED


async def retry_or_fail(
    db: Database, ctx: TurnContext, error: str, *, turn: CoreTurn | None = None
) -> HandlerResult:
    """Retry later with backoff while attempts remain; then fail the turn with an apology."""
    row, settings = ctx.row, ctx.settings
    if row.attempts < settings.inbox_max_attempts:
        delay = retry_delay(row.attempts, settings.retry_base_seconds, settings.retry_cap_seconds)
        log.warning("inbox.retry", attempt=row.attempts, delay=round(delay, 2), error=error)
        return await reschedule(db, ctx, delay, error)
    log.error("inbox.failed", attempts=row.attempts, error=error)
    reply = FAILED_REPLY.format(ref=row.id)
    failed = Outcome.failed(error, reply, turn_status=TurnStatus.FAILED)
    return replace(failed, turn=turn)
