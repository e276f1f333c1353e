"""A press on an approval prompt's button: a decision (approvals.decisions)."""

from __future__ import annotations

from approvals.decisions import ChannelDecisions
from approvals.tokens import is_approval_action
from gateway.turn.context import TurnContext
from gateway.turn.outcome import HandlerResult, Outcome, Step


class ApprovalButtons:
    def __init__(self, decisions: ChannelDecisions) -> None:
        self.decisions = decisions

    async def handle(self, ctx: TurnContext) -> HandlerResult:
        if ctx.event.kind != "action" or not is_approval_action(ctx.event.action):
            return Step.PASS
        identity = await ctx.identity()
        replies = await self.decisions.button(ctx.project, ctx.adapter, ctx.event, identity)
        return Outcome.done(*replies)
