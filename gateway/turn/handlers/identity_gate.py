"""Senders the project's unlinked policy does not forward are told how to link (or that the
assistant is not available to them); nothing reaches the core."""

from __future__ import annotations

from gateway.turn.context import TurnContext
from gateway.turn.outcome import HandlerResult, Outcome, Step


class IdentityGate:
    async def handle(self, ctx: TurnContext) -> HandlerResult:
        identity = await ctx.identity()
        return Step.PASS if identity.refusal is None else Outcome.done(identity.refusal)
