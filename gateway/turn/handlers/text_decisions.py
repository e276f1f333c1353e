"""`YES` / `NO` (optionally with a prompt's short code) typed where commands are typed words:
a decision on the sender's pending approval (bare: only the latest prompt of this chat; else the
sender is asked for the code). Not a decision after all (nothing of the sender's is waiting): an
ordinary message for the agent."""

from __future__ import annotations

from approvals.decisions import ChannelDecisions
from approvals.tokens import parse_text
from gateway.turn.context import TurnContext
from gateway.turn.outcome import HandlerResult, Outcome, Step


class TextDecisions:
    def __init__(self, decisions: ChannelDecisions) -> None:
        self.decisions = decisions

    async def handle(self, ctx: TurnContext) -> HandlerResult:
        if ctx.event.kind != "message" or ctx.caps.slash_commands:
            return Step.PASS
        decision = parse_text(ctx.event.text)
        if decision is None:
            return Step.PASS
        identity = await ctx.identity()
        replies = await self.decisions.text(ctx.project, ctx.event, decision, identity)
        return Step.PASS if replies is None else Outcome.done(*replies)
