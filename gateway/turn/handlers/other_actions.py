"""A button press that is not an approval decision: acknowledged (Telegram stops the spinner),
nothing more."""

from __future__ import annotations

import contextlib

from gateway.messages import SendError
from gateway.turn.context import TurnContext
from gateway.turn.outcome import HandlerResult, Outcome, Step


class OtherActions:
    async def handle(self, ctx: TurnContext) -> HandlerResult:
        if ctx.event.kind != "action":
            return Step.PASS
        with contextlib.suppress(SendError):
            await ctx.adapter.acknowledge_action(ctx.event)
        return Outcome.done()
