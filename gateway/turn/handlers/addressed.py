"""Whether the gateway answers at all: in a group chat only when spoken to (a mention, a reply
to the bot, a command). An event the gateway will handle is marked received (WhatsApp: read)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from channels.base import ChannelAdapter
from gateway.messages import SendError
from gateway.storage.db import Database
from gateway.turn.context import TurnContext
from gateway.turn.outcome import HandlerResult, Outcome, Step
from gateway.turn.retry import retry_or_fail

Spawn = Callable[[Coroutine[Any, Any, None]], None]


class Addressed:
    def __init__(self, db: Database, spawn: Spawn) -> None:
        self.db, self.spawn = db, spawn

    async def handle(self, ctx: TurnContext) -> HandlerResult:
        adapter = ctx.adapter
        try:
            addressed = await adapter.is_addressed(ctx.event)
        except SendError as exc:  # getMe failed: cannot tell yet, try again later
            return await retry_or_fail(self.db, ctx, f"bot identity: {exc.reason}")
        if not addressed:
            return Outcome.ignored()
        if type(adapter).mark_received is not ChannelAdapter.mark_received:
            self.spawn(adapter.mark_received(ctx.event))  # best effort, off the turn's path
        return Step.PASS
