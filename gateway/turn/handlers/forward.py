"""The message goes to the core in the chat's conversation; its answer is the reply.

The project's `threading` says how the core learns the context: `conversation` (the contract:
the gateway's conversation id) or `previous_response` (the chat's last response id, for cores
that only chain).

A message with media is fetched here, after the identity gate (never a download for a sender
who is refused); an item that cannot be fetched is told to the user, before the answer, and the
rest of the message still goes to the core."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import structlog

from gateway.turn.context import TurnContext
from gateway.turn.conversations import (
    Conversations,
    Thread,
    conversation_owner,
    new_conversation_id,
)
from gateway.turn.core_client import CoreRequest
from gateway.turn.core_input import CoreInputs
from gateway.turn.core_turn import CoreCaller, core_metadata
from gateway.turn.outcome import HandlerResult, Outcome
from gateway.turn.replies import NO_TEXT_REPLY

log = structlog.get_logger("gateway.turn")


class Forward:
    def __init__(
        self,
        caller: CoreCaller,
        conversations: Conversations,
        inputs: CoreInputs,
        media_slots: asyncio.Semaphore,
    ) -> None:
        self.caller, self.conversations, self.inputs = caller, conversations, inputs
        self.media_slots = media_slots
        """Turns holding downloaded media (bytes and their base64 until the core answered):
        thousands of text turns may wait on the core at once, but only this many heavy ones."""

    async def handle(self, ctx: TurnContext) -> HandlerResult:
        if any(item.is_media for item in ctx.event.attachments):
            async with self.media_slots:
                return await self._forward(ctx)
        return await self._forward(ctx)

    async def _forward(self, ctx: TurnContext) -> HandlerResult:
        identity = await ctx.identity()
        assert identity.user is not None  # IdentityGate ran first
        if ctx.event.attachments:  # downloads and transcription take a while: show typing
            async with self.caller.typing_shown(ctx):
                message = await self.inputs.build(ctx)
        else:
            message = await self.inputs.build(ctx)
        if message.value is None:  # only media, and none of it could be fetched
            return Outcome.done(*(message.told or (NO_TEXT_REPLY,)), error=message.error)
        # Not the conversation of someone the sender was linked as (or not linked as) before.
        thread = (await self.conversations.current(ctx.chat)).continued_by(
            conversation_owner(identity.user)
        )
        chained = ctx.project.threading == "previous_response"
        request = CoreRequest(
            base_url=ctx.project.core_base_url,
            api_key=ctx.project.core_api_key,
            idempotency_key=ctx.key,
            model=ctx.project.model,
            user=identity.user,
            input=message.value,
            previous_response_id=thread.last_response_id if chained else None,
            metadata=_metadata(ctx, identity.linked, thread),
            conversation=None
            if chained
            else thread.conversation_id or new_conversation_id(ctx.key),
        )
        result = await self.caller.call(ctx, request)
        if result.previous_response_missing and request.previous_response_id:
            log.warning("core.previous_response_lost", previous=request.previous_response_id)
            request.previous_response_id = None
            result = await self.caller.call(ctx, request)
        settled = await self.caller.settle(
            ctx, request, result, user=identity.user, linked=identity.linked
        )
        if message.told and isinstance(settled, Outcome):
            return replace(settled, replies=message.told + settled.replies)
        return settled


def _metadata(ctx: TurnContext, linked: bool, thread: Thread) -> dict[str, str]:
    """The core's metadata, with the chat's start context (a `/start` deep link's payload)."""
    metadata = core_metadata(ctx, linked)
    if thread.start_param:
        metadata["start_param"] = thread.start_param
    return metadata
