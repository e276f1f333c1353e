"""A tap that is not an approval decision.

A tap that carries the title the user saw (a WhatsApp quick-reply or list row, a Twilio
`ButtonText`) is something the user said: it passes on and reaches the agent like a typed
message, its title as the text and its payload as metadata `tap_payload` (`core_metadata`).
A tap without a title is a Telegram callback query (the Bot API sends only the button's data):
the gateway only ever sends approval buttons there, so it is a stale or foreign button, and
it is acknowledged (the spinner stops) and nothing more."""

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
        if await ctx.prompt_text():
            return Step.PASS  # said by the user: the next handlers treat it as a message
        return Outcome.done()
