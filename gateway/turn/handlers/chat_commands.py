"""In-chat commands (`gateway.turn.commands`): answered by the gateway, never sent to the core."""

from __future__ import annotations

from gateway.turn.commands import CommandContext, CommandRegistry
from gateway.turn.context import TurnContext
from gateway.turn.conversations import Conversations
from gateway.turn.outcome import HandlerResult, Outcome, Step


class Commands:
    def __init__(self, registry: CommandRegistry, conversations: Conversations) -> None:
        self.registry, self.conversations = registry, conversations

    async def handle(self, ctx: TurnContext) -> HandlerResult:
        if ctx.command is None:
            return Step.PASS
        command = CommandContext(ctx, ctx.command.args, self.conversations)
        return Outcome.done(await self.registry.run(ctx.command.name, command))
