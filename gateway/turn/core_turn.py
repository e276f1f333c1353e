"""One call to the responses core on behalf of a turn, and what its answer means for the chat.

The core's answer is classified once: a reply (and the approvals it asks for), a 429 the turn
waits out on the queue (`cooldowns`: per user, or the project's when the core says so), a 402
quota notice, a 401/403 the operator must fix, a 5xx or connection error
retried with backoff, anything else a failure with a reference the operator can trace.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import uuid
from collections.abc import AsyncIterator, Callable

import structlog

from approvals.service import CoreAsk
from gateway.delivery.pacing import TokenBucket
from gateway.messages import SendError
from gateway.metrics import Metrics
from gateway.storage.db import Database
from gateway.storage.db.models import utcnow
from gateway.turn.context import TurnContext
from gateway.turn.cooldowns import Cooldowns, limit_scope
from gateway.turn.core_client import CoreClient, CoreRequest, CoreResult
from gateway.turn.core_limits import CoreLimits
from gateway.turn.outcome import CoreTurn, HandlerResult, InboxStatus, Outcome, Purpose, TurnStatus
from gateway.turn.replies import (
    BUSY_REPLY,
    EMPTY_REPLY,
    FAILED_REPLY,
    QUOTA_REPLY,
    UNAVAILABLE_REPLY,
)
from gateway.turn.retry import defer, retry_or_fail

log = structlog.get_logger("gateway.turn")

TYPING_AFTER_SECONDS = 0.5
"""Fast answers need no indicator: it would cost a Bot API call per turn for nothing visible."""
DEFAULT_RETRY_AFTER_SECONDS = 30.0
"""A 429 without `Retry-After`: long enough that a user costs the core at most two calls a
minute while it is overloaded, short enough to answer within the default total wait."""
MIN_DEFER_SECONDS = 1.0
"""`Retry-After: 0` must not become a tight loop of calls the core keeps refusing."""
MAX_METADATA_VALUE = 512
"""The Responses API's limit on one metadata value."""


def core_metadata(ctx: TurnContext, linked: bool) -> dict[str, str]:
    """The request's string metadata: the project's feature, the channel as the source; for a
    tap (a quick-reply or list button), the payload behind the title the agent reads."""
    metadata = {
        "feature": ctx.project.feature,
        "source": ctx.event.channel,
        "channel_account": ctx.event.account,
        "identity_linked": str(linked).lower(),
    }
    if ctx.event.kind == "action" and ctx.event.action:
        metadata["tap_payload"] = ctx.event.action[:MAX_METADATA_VALUE]
    return metadata


class CoreCaller:
    def __init__(
        self,
        core: CoreClient,
        db: Database,
        metrics: Metrics,
        wake_sender: Callable[[], None],
    ) -> None:
        self.core, self.db, self.metrics, self.wake_sender = core, db, metrics, wake_sender
        self.cooldowns = Cooldowns()
        self.limits = CoreLimits()
        self._typing: dict[tuple[str, str], TokenBucket] = {}

    async def call(self, ctx: TurnContext, request: CoreRequest) -> CoreResult:
        """The core's answer, with a typing indicator while it takes long (where one exists).

        The call waits for one of the project's slots (`core_limits`: at most its
        `core_concurrency` at once, fewer after the core said it is overloaded). While a 429
        for the user (or the project) is in force the core is not called: the answer is that
        429 again (`local`), with the time still to wait as its `Retry-After`; it is checked
        once the slot is ours, so the turns queued for a slot when a 429 comes back do not
        call either."""
        limit = self.limits.of(ctx.project.id, ctx.project.core_concurrency)
        async with self.typing_shown(ctx), limit.slot():
            wait = self.cooldowns.left(ctx.project.id, request.user)
            if wait is not None:
                return CoreResult(
                    header_request_id=f"gwreq_{uuid.uuid4().hex}",
                    latency_ms=0,
                    status=429,
                    body={"reason": wait.reason} if wait.reason else {},
                    retry_after=wait.seconds,
                    error=f"core 429 {wait.reason or ''}: an earlier 429 is in force, not called",
                    local=True,
                )
            result = await self.core.create_response(request)
        if result.status == 429 and limit_scope(result.reason) == "project":
            limit.limited()
        elif result.ok:
            limit.answered()
        return result

    @contextlib.asynccontextmanager
    async def typing_shown(self, ctx: TurnContext) -> AsyncIterator[None]:
        """A typing indicator while the body runs longer than `TYPING_AFTER_SECONDS`, where the
        channel has one (the core call; a message's media downloads and transcription)."""
        if not ctx.caps.typing:
            yield
            return
        # A timer, not a task: most answers come before it fires, and a timer costs far less.
        typing: list[asyncio.Task[None]] = []
        start = asyncio.get_running_loop().call_later(
            TYPING_AFTER_SECONDS,
            lambda: typing.append(asyncio.create_task(self._keep_typing(ctx))),
        )
        try:
            yield
        finally:
            start.cancel()
            for task in typing:
                task.cancel()

    async def _keep_typing(self, ctx: TurnContext) -> None:
        """Until cancelled (the answer came), as often as one indicator lasts on the channel,
        within the account's typing budget: with a thousand turns waiting on the core, a
        thousand indicators at once would cost the provider's rate limit (Telegram's ~30
        requests/s per bot, shared with the replies) and the process's CPU; past the budget a
        chat skips an indicator rather than queue for it."""
        budget = self._typing_budget(ctx)
        while True:
            if budget.try_take():
                try:
                    await ctx.adapter.send_typing(ctx.event)
                except SendError as exc:
                    log.debug("typing.failed", reason=exc.reason)
            await asyncio.sleep(ctx.caps.typing_every_seconds)

    def _typing_budget(self, ctx: TurnContext) -> TokenBucket:
        key = (ctx.event.route, ctx.event.account)
        bucket = self._typing.get(key)
        if bucket is None:
            rate = ctx.settings.typing_per_second
            bucket = self._typing[key] = TokenBucket(rate, max(1.0, rate))
        return bucket

    async def settle(
        self, ctx: TurnContext, request: CoreRequest, result: CoreResult, *, user: str, linked: bool
    ) -> HandlerResult:
        """What the core's answer means: the outcome to write, or a retry later."""
        # Every later log line of the turn (`core.*`, `inbox.done`) carries these.
        structlog.contextvars.bind_contextvars(
            response_id=result.response_id,
            core_request_id=result.request_id,
            trace_id=result.trace_id,
            user=request.user,
            feature=request.metadata.get("feature"),
            idempotency_key=request.idempotency_key,
            core_status=result.status,
            reason=result.reason,
        )
        if result.status != 429:
            self.cooldowns.clear(ctx.project.id, request.user)  # the core took the call
        if result.ok:
            asks = tuple(_ask(item) for item in result.approval_requests)
            text = result.text
            turn = CoreTurn.kept(
                request, result, user=user, linked=linked, chat=ctx.chat, asks=asks
            )
            if not text and not asks:
                log.warning("core.empty_answer")
                return _notice(
                    EMPTY_REPLY, TurnStatus.COMPLETED, result, turn, "core answered no output_text"
                )
            return Outcome(
                InboxStatus.DONE,
                answer=text or None,
                turn_status=TurnStatus.AWAITING_APPROVAL if asks else TurnStatus.COMPLETED,
                turn=turn,
            )
        turn = CoreTurn.kept(request, result, user=user, linked=linked, chat=ctx.chat)
        if result.unusable:  # too large to read: the same answer would come again
            log.error("core.unusable_answer", status=result.status, error=result.error)
            return _apology(ctx, TurnStatus.FAILED, result, turn)
        if result.status == 429:
            return await self._wait_out(ctx, request, result, turn)
        if result.status == 402:
            return _notice(QUOTA_REPLY, TurnStatus.PAYMENT_REQUIRED, result, turn)
        if result.status in (401, 403):
            log.error("core.unauthorized", status=result.status, error=result.error)
            return _notice(UNAVAILABLE_REPLY, TurnStatus.UNAUTHORIZED, result, turn)
        if result.status is None or result.status >= 500:
            return await retry_or_fail(self.db, ctx, result.error or "core error", turn=turn)
        log.error("core.rejected", status=result.status, error=result.error)
        return _apology(ctx, TurnStatus.FAILED, result, turn)

    async def _wait_out(
        self, ctx: TurnContext, request: CoreRequest, result: CoreResult, turn: CoreTurn
    ) -> HandlerResult:
        """A 429 never drops the message: the event goes back on the queue until the core's
        `Retry-After` (its chat's later messages wait behind it, in order), the chat is told
        once when that is a long wait, and the apology comes only when the wait would end past
        the configured total (`core_max_defer_seconds`, counted from the message's arrival)."""
        settings = ctx.settings
        scope = limit_scope(result.reason)
        wait = max(
            MIN_DEFER_SECONDS,
            DEFAULT_RETRY_AFTER_SECONDS if result.retry_after is None else result.retry_after,
        )
        if not result.local:
            limit = min(wait, settings.core_max_defer_seconds)
            self.cooldowns.note(ctx.project.id, request.user, scope, limit, result.reason)
        waited = (utcnow() - ctx.row.received_at).total_seconds()
        if waited + wait > settings.core_max_defer_seconds:
            log.warning("core.rate_limit_gave_up", scope=scope, waited=round(waited, 1))
            return _apology(ctx, TurnStatus.RATE_LIMITED, result, turn)
        long_wait = wait > settings.core_busy_notice_seconds
        notice = BUSY_REPLY.format(seconds=math.ceil(wait)) if long_wait else None
        self.metrics.core_deferrals.labels(scope).inc()
        log.info("core.deferred", scope=scope, seconds=round(wait, 1), called=not result.local)
        step = await defer(self.db, ctx, wait, result.error or "core 429", notice)
        if notice:
            self.wake_sender()
        return step


def _notice(
    text: str, status: TurnStatus, result: CoreResult, turn: CoreTurn, error: str | None = None
) -> Outcome:
    """The core said no for now: the user is told why, the turn row keeps the core's error."""
    return Outcome(
        InboxStatus.DONE,
        (text,),
        purpose=Purpose.NOTICE,
        error=error or result.error,
        turn_status=status,
        turn=turn,
    )


def _apology(ctx: TurnContext, status: TurnStatus, result: CoreResult, turn: CoreTurn) -> Outcome:
    """Given up: the apology names the reference operators trace (`gateway trace <ref>`)."""
    return Outcome(
        InboxStatus.FAILED,
        (FAILED_REPLY.format(ref=ctx.row.id),),
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
