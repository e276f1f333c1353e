"""A message with nothing the agent can read: no text and no attachment the channel receives
(a poll, a dice roll). Photos, files, voice notes, locations and contacts are readable."""

from __future__ import annotations

from gateway.turn.context import TurnContext
from gateway.turn.core_input import readable
from gateway.turn.outcome import HandlerResult, Outcome, Step
from gateway.turn.replies import NO_TEXT_REPLY


class Unreadable:
    async def handle(self, ctx: TurnContext) -> HandlerResult:
        if readable(await ctx.prompt_text(), ctx.event.attachments, ctx.caps):
            return Step.PASS
        return Outcome.done(NO_TEXT_REPLY)
