"""Approval decisions that arrive as chat traffic: button presses and YES / NO replies.

Who may decide is settled here: the sender, resolved like any turn (linked app user, or the
channel user the project's policy forwards), must be the approval's own app user. Everything else
is refused, audited, and changes nothing (the service does the atomic part).
"""

from __future__ import annotations

import contextlib

import structlog

from approvals import prompts
from approvals.service import ApprovalService, ChatPlace, Decision
from approvals.tokens import TextDecision, Verdict, parse_action
from channels.base import ChannelAdapter
from channels.capabilities import capabilities
from gateway.messages import InboundEvent, SendError
from gateway.storage.projects import ProjectInfo
from identity import Identity

log = structlog.get_logger("approvals.decisions")


class ChannelDecisions:
    def __init__(self, approvals: ApprovalService) -> None:
        self.approvals = approvals

    async def button(
        self, project: ProjectInfo, adapter: ChannelAdapter, event: InboundEvent, identity: Identity
    ) -> list[str]:
        """A press on an approval button by the sender `identity`: decide, answer the press
        (Telegram's spinner), and return what to say in the chat (nothing when the prompt's own
        update says it)."""
        press = parse_action(event.action)
        verdict: Verdict = press.verdict if press else "denied"
        # A malformed payload is looked up like any token: not found, refused and audited.
        decision = await self.approvals.decide(
            token=press.token if press else (event.action or "")[:200],
            verdict=verdict,
            actor=_actor(event),
            source=event.channel,
            project_id=project.id,
            decider_user=identity.user or "",
        )
        text = _answer(decision, verdict)
        log.info("approval.button", won=decision.won, reason=decision.reason)
        with contextlib.suppress(SendError):
            await adapter.acknowledge_action(event, text)
        if capabilities(event.channel).action_answers or _told_in_prompt(decision, verdict, event):
            return []
        return [text]

    async def text(
        self, project: ProjectInfo, event: InboundEvent, parsed: TextDecision, identity: Identity
    ) -> list[str] | None:
        """A YES / NO reply from the sender `identity` (resolved by the caller, who needs it again
        when this answers None: not a decision after all, nothing of the sender's is waiting, so
        an ordinary message for the agent).

        With a code: the sender's pending approval with that code, wherever it was prompted.
        Without one: only the approval whose prompt is the latest this chat was sent (the user
        saw it here, last); otherwise, when something of theirs waits elsewhere, they are asked
        to answer with its code."""
        if identity.user is None:  # unlinked: may decide nothing (told how to link instead)
            if parsed.code is not None:
                await self._refuse_code(project, event, parsed.code)
            return None
        if parsed.code is not None:
            pending = await self.approvals.pending_for(project.id, identity.user)
            chosen = [p[0] for p in pending if p[1] == parsed.code]
            if not chosen:
                await self._refuse_code(project, event, parsed.code)
                return [prompts.NO_SUCH_CODE.format(code=parsed.code)]
            approval_id = chosen[0]
        else:
            here = await self._prompted_here(project, event, identity.user)
            if here is None:
                pending = await self.approvals.pending_for(project.id, identity.user)
                if not pending:
                    return None
                return [prompts.which_one([(code, tool) for _, code, tool in pending])]
            approval_id = here
        decision = await self.approvals.decide(
            approval_id=approval_id,
            verdict=parsed.verdict,
            actor=_actor(event),
            source=event.channel,
            project_id=project.id,
            decider_user=identity.user,
        )
        log.info("approval.text", won=decision.won, reason=decision.reason)
        if _told_in_prompt(decision, parsed.verdict, event):
            return []
        return [_answer(decision, parsed.verdict)]

    async def _prompted_here(
        self, project: ProjectInfo, event: InboundEvent, user: str
    ) -> str | None:
        """The approval a bare YES / NO in this chat answers: the user's latest prompt here, if
        it is still open and was not prompted together with another (then only a code says
        which)."""
        latest = await self.approvals.latest_prompt_in(project.id, user, ChatPlace.of(event))
        if len(latest) != 1:
            return None
        approval_id, still_open = latest[0]
        return approval_id if still_open else None

    async def _refuse_code(self, project: ProjectInfo, event: InboundEvent, code: str) -> None:
        """A code that is not the sender's: if it names someone else's approval, that is a
        refused decision (audited); the approval is untouched either way."""
        for approval_id in await self.approvals.pending_with_code(project.id, code):
            await self.approvals.decide(
                approval_id=approval_id,
                verdict="denied",
                actor=_actor(event),
                source=event.channel,
                project_id=project.id,
                decider_user="",  # never the owner: refused and audited
            )


def _actor(event: InboundEvent) -> str:
    return f"{event.channel}:{event.sender or event.chat or '-'}"


def _answer(decision: Decision, verdict: Verdict) -> str:
    approval = decision.approval
    if decision.won and approval is not None:
        if approval.status == verdict:
            return "Approved." if verdict == "approved" else "Denied."
        return prompts.ALREADY[approval.status]  # it ran out before the answer came
    if decision.reason == "already_decided" and approval is not None:
        return prompts.ALREADY.get(approval.status, prompts.INVALID)
    if decision.reason == "not_owner":
        return prompts.NOT_YOURS
    return prompts.INVALID


def _told_in_prompt(decision: Decision, verdict: Verdict, event: InboundEvent) -> bool:
    """A won decision queues its notice in the prompt's chat; the decider needs nothing more
    when that is where they are."""
    approval = decision.approval
    return bool(
        decision.won
        and approval is not None
        and approval.status == verdict
        and approval.channel == event.channel
    )
