"""One call to the responses core on behalf of a turn, and what its answer means for the chat.

The core's answer is classified once: a reply (and the approvals it asks for), a 429 that makes
the project wait, a 402 quota notice, a 401/403 the operator must fix, a 5xx or connection error
retried with backoff, anything else a failure with a reference the operator can trace.
"""

from __future__ import annotations

import asyncio
import time

import structlog

from approvals.service import CoreAsk
from gateway.messages import SendError
from gateway.storage.db import Database
from gateway.turn.context import TurnContext
from gateway.turn.core_client import CoreClient, CoreRequest, CoreResult
from gateway.turn.outcome import CoreTurn, HandlerResult, InboxStatus, Outcome, Purpose, TurnStatus
from gateway.turn.replies import BUSY_REPLY, FAILED_REPLY, QUOTA_REPLY, UNAVAILABLE_REPLY
from gateway.turn.retry import retry_or_fail

log = structlog.get_logger("gateway.turn")

TYPING_EVERY_SECONDS = 4.0  # Telegram shows "typing" for at most 5 s per call.
TYPING_AFTER_SECONDS = 0.5
"""Fast answers need no indicator: it would cost a Bot API call per turn for nothing visible."""
MAX_COOLDOWN_SECONDS = 300.0


def core_metadata(ctx: TurnContext, linked: bool) -> dict[str, str]:
    return {
        "feature": "channel_gateway",
        "source": ctx.event.channel,
        "channel_account": ctx.event.account,
        "identity_linked": str(linked).lower(),
    }


class CoreCaller:
    def __init__(self, core: CoreClient, db: Database) -> None:
        self.core, self.db = core, db
        self._cooldown_until: dict[int, float] = {}

    def cooldown_left(self, project_id: int) -> float:
        """Seconds the project must still wait after the core's last 429 (<= 0: none)."""
        return self._cooldown_until.get(project_id, 0.0) - time.monotonic()

    async def call(self, ctx: TurnContext, request: CoreRequest) -> CoreResult:
        """The core's answer, with a typing indicator while it takes long (where one exists)."""
        if not ctx.caps.typing:
            return await self.core.create_response(request)
        # A timer, not a task: most answers come before it fires, and a timer costs far less.
        typing: list[asyncio.Task[None]] = []
        start = asyncio.get_running_loop().call_later(
            TYPING_AFTER_SECONDS,
            lambda: typing.append(asyncio.create_task(self._keep_typing(ctx))),
        )
        try:
            return await self.core.create_response(request)
        finally:
            start.cancel()
            for task in typing:
                task.cancel()

    async def _keep_typing(self, ctx: TurnContext) -> None:
        while ctx.event.chat:
            try:
                await ctx.adapter.send_typing(ctx.event.chat)
            except SendError as exc:
                log.debug("typing.failed", reason=exc.reason)
            await asyncio.sleep(TYPING_EVERY_SECONDS)

    async def settle(
        self, ctx: TurnContext, request: CoreRequest, result: CoreResult, *, user: str, linked: bool
    ) -> HandlerResult:
        """What the core's answer means: the outcome to write, or a retry later."""
        structlog.contextvars.bind_contextvars(
            response_id=result.response_id,
            trace_id=result.trace_id,
            core_request_id=result.request_id,
        )
        if result.ok:
            asks = tuple(_ask(item) for item in result.approval_requests)
            turn = CoreTurn(request, result, user=user, linked=linked, chat=ctx.chat, asks=asks)
            text = result.text
            return Outcome(
                InboxStatus.DONE,
                (text,) if text else (),
                error=None if text or asks else "core answered no output_text",
                turn_status=TurnStatus.AWAITING_APPROVAL if asks else TurnStatus.COMPLETED,
                turn=turn,
            )
        turn = CoreTurn(request, result, user=user, linked=linked, chat=ctx.chat)
        if result.status == 429:
            seconds = min(result.retry_after or 30.0, MAX_COOLDOWN_SECONDS)
            self._cooldown_until[ctx.project.id] = time.monotonic() + seconds
            busy = BUSY_REPLY.format(seconds=max(1, round(seconds)))
            return _notice(busy, TurnStatus.RATE_LIMITED, result, turn)
        if result.status == 402:
            return _notice(QUOTA_REPLY, TurnStatus.PAYMENT_REQUIRED, result, turn)
        if result.status in (401, 403):
            log.error("core.unauthorized", status=result.status, error=result.error)
            return _notice(UNAVAILABLE_REPLY, TurnStatus.UNAUTHORIZED, result, turn)
        if result.status is None or result.status >= 500:
            return await retry_or_fail(self.db, ctx, result.error or "core error", turn=turn)
        log.error("core.rejected", status=result.status, error=result.error)
        return Outcome(
            InboxStatus.FAILED,
            (FAILED_REPLY.format(ref=ctx.row.id),),
            purpose=Purpose.NOTICE,
            error=result.error,
            turn_status=TurnStatus.FAILED,
            turn=turn,
        )


def _notice(text: str, status: TurnStatus, result: CoreResult, turn: CoreTurn) -> Outcome:
    """The core said no for now: the user is told why, the turn row keeps the core's error."""
    return Outcome(
        InboxStatus.DONE,
        (text,),
        purpose=Purpose.NOTICE,
        error=result.error,
        turn_status=status,
        turn=turn,
    )


def _ask(item: dict[str, object]) -> CoreAsk:
    label = item.get("server_label")
    return CoreAsk(
        core_request_id=str(item["id"]),
        tool=str(item.get("name") or "a tool"),
        server_label=label if isinstance(label, str) else None,
        arguments=item.get("arguments"),
    )
