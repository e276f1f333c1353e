"""The message goes to the core, chained to the chat's conversation; its answer is the reply."""

from __future__ import annotations

import structlog

from gateway.turn.context import TurnContext
from gateway.turn.conversations import Conversations
from gateway.turn.core_client import CoreRequest
from gateway.turn.core_turn import CoreCaller, core_metadata
from gateway.turn.outcome import HandlerResult

log = structlog.get_logger("gateway.turn")


class Forward:
    def __init__(self, caller: CoreCaller, conversations: Conversations) -> None:
        self.caller, self.conversations = caller, conversations

    async def handle(self, ctx: TurnContext) -> HandlerResult:
        identity = await ctx.identity()
        assert identity.user is not None  # IdentityGate ran first
        request = CoreRequest(
            base_url=ctx.project.core_base_url,
            api_key=ctx.project.core_api_key,
            idempotency_key=ctx.key,
            model=ctx.project.model,
            user=identity.user,
            input=await ctx.prompt_text(),
            previous_response_id=await self.conversations.last_response(ctx.chat),
            metadata=core_metadata(ctx, identity.linked),
        )
        result = await self.caller.call(ctx, request)
        if result.previous_response_missing and request.previous_response_id:
            log.warning("core.previous_response_lost", previous=request.previous_response_id)
            request.previous_response_id = None
            result = await self.caller.call(ctx, request)
        return await self.caller.settle(
            ctx, request, result, user=identity.user, linked=identity.linked
        )
