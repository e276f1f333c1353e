"""What a handler answers: an `Outcome` (the turn is finished: what to write and to say), or a
`Step` (pass to the next handler, or the event was put back on the queue)."""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass, replace
from enum import Enum, StrEnum
from typing import TYPE_CHECKING, Protocol

from approvals.service import CoreAsk
from gateway.turn.conversations import ChatKey
from gateway.turn.core_client import CoreRequest, CoreResult

if TYPE_CHECKING:
    from gateway.turn.context import TurnContext


class Step(Enum):
    PASS = "pass"
    """Not this handler's event: the next one decides."""
    RESCHEDULED = "rescheduled"
    """The event went back on the queue for later; nothing is written now."""


class InboxStatus(StrEnum):
    DONE = "done"
    FAILED = "failed"
    IGNORED = "ignored"


class TurnStatus(StrEnum):
    """A core turn's status as stored on the turn row and counted in metrics."""

    COMPLETED = "completed"
    AWAITING_APPROVAL = "awaiting_approval"
    RATE_LIMITED = "rate_limited"
    PAYMENT_REQUIRED = "payment_required"
    UNAUTHORIZED = "unauthorized"
    FAILED = "failed"


class Purpose(StrEnum):
    """Part of a reply's outbox key: a redelivered or replayed event never doubles either."""

    REPLY = "reply"
    """The answer to the user's message."""
    NOTICE = "notice"
    """Something the gateway says instead of an answer (busy, failed, unavailable)."""


@dataclass(frozen=True)
class CoreTurn:
    """A call to the core that becomes a turn row."""

    request: CoreRequest
    result: CoreResult
    user: str
    """The app user (or the unlinked sender's stable id) the core was given."""
    linked: bool
    chat: ChatKey
    asks: tuple[CoreAsk, ...] = ()
    """Approvals the core asked for (mcp_approval_request items)."""

    @classmethod
    def kept(
        cls,
        request: CoreRequest,
        result: CoreResult,
        *,
        user: str,
        linked: bool,
        chat: ChatKey,
        asks: tuple[CoreAsk, ...] = (),
    ) -> CoreTurn:
        """The call as the turn keeps it until its writes commit: the request without its input
        (the messages and media sent) and the result without its output items (read into the
        answer and `asks` by then). The turn row and the approvals need neither, and a turn
        may wait for that commit behind hundreds of others."""
        return cls(replace(request, input=None), result.without_output(), user, linked, chat, asks)


@dataclass(frozen=True)
class Outcome:
    """A finished event: its inbox status, what to say in the chat, and the core turn, if any."""

    status: InboxStatus
    replies: tuple[str, ...] = ()
    """What the gateway itself says, plain text, sent first."""
    _: KW_ONLY
    answer: str | None = None
    """The agent's answer (Markdown), rendered in the channel's markup and sent after
    `replies` (`Capabilities.render`)."""
    purpose: Purpose = Purpose.REPLY
    error: str | None = None
    turn_status: TurnStatus | None = None
    """Set when the user's turn ended here (counted in metrics; stored with `turn`)."""
    turn: CoreTurn | None = None

    @classmethod
    def done(cls, *replies: str, error: str | None = None) -> Outcome:
        return cls(InboxStatus.DONE, replies, error=error)

    @classmethod
    def ignored(cls, reason: str | None = None) -> Outcome:
        return cls(InboxStatus.IGNORED, error=reason)

    @classmethod
    def failed(cls, error: str, *replies: str, turn_status: TurnStatus | None = None) -> Outcome:
        """Given up: the apology (if any) is a notice, the reason goes to the inbox row."""
        return cls(
            InboxStatus.FAILED,
            replies,
            purpose=Purpose.NOTICE,
            error=error,
            turn_status=turn_status,
        )


HandlerResult = Outcome | Step


class Handler(Protocol):
    """One step of a turn. Handlers run in order; the first that does not `Step.PASS` decides."""

    async def handle(self, ctx: TurnContext) -> HandlerResult: ...
