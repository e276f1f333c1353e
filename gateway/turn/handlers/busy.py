"""While the core's last 429 for the project is in force, users are told when to try again."""

from __future__ import annotations

from gateway.turn.context import TurnContext
from gateway.turn.core_turn import CoreCaller
from gateway.turn.outcome import HandlerResult, Outcome, Step
from gateway.turn.replies import BUSY_REPLY


class Busy:
    def __init__(self, caller: CoreCaller) -> None:
        self.caller = caller

    async def handle(self, ctx: TurnContext) -> HandlerResult:
        left = self.caller.cooldown_left(ctx.project.id)
        if left <= 0:
            return Step.PASS
        return Outcome.done(BUSY_REPLY.format(seconds=max(1, round(left))))
