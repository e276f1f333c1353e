"""A message with nothing the agent can read (no text: a photo, a sticker, a voice note)."""

from __future__ import annotations

from gateway.turn.context import TurnContext
from gateway.turn.outcome import HandlerResult, Outcome, Step
from gateway.turn.replies import NO_TEXT_REPLY


class Unreadable:
    async def handle(self, ctx: TurnContext) -> HandlerResult:
        return Step.PASS if await ctx.prompt_text() else Outcome.done(NO_TEXT_REPLY)
