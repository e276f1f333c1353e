"""A provider's delivery report (sent, delivered, read, failed) for an earlier outbox message."""

from __future__ import annotations

from gateway.delivery import status as delivery
from gateway.storage.db import Database
from gateway.turn.context import TurnContext
from gateway.turn.outcome import HandlerResult, Outcome, Step
from gateway.turn.retry import reschedule

STATUS_ATTEMPTS = 4
"""Tries for a delivery status whose message is not (yet) known before it is set aside."""


class DeliveryStatus:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def handle(self, ctx: TurnContext) -> HandlerResult:
        event = ctx.event
        if event.kind != "status":
            return Step.PASS
        hints = event.hints
        moved = await delivery.record(
            self.db,
            ctx.project.id,
            event.route,
            event.account,
            str(hints.get("provider_message_id")),
            str(hints.get("status")),
            hints.get("error_code"),
        )
        if moved is None and ctx.row.attempts < STATUS_ATTEMPTS:
            # The callback can beat the commit that records the send's provider id.
            error = "no outbound message with this provider id yet"
            return await reschedule(self.db, ctx, ctx.row.attempts, error)
        if moved is None:
            return Outcome.done(error="no outbound message has this provider id")
        return Outcome.done()
