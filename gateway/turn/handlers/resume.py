"""The approvals a core response waited for are all decided: send the decisions back to the core
(`mcp_approval_response` items in the conversation that asked, or chained to that response) and
relay its final answer."""

from __future__ import annotations

from approvals.service import ApprovalService, DecidedApproval
from gateway.turn.context import TurnContext
from gateway.turn.core_client import CoreRequest
from gateway.turn.core_turn import CoreCaller, core_metadata
from gateway.turn.outcome import HandlerResult, Outcome, Step


class ResumeAfterApprovals:
    def __init__(self, approvals: ApprovalService, caller: CoreCaller) -> None:
        self.approvals, self.caller = approvals, caller

    async def handle(self, ctx: TurnContext) -> HandlerResult:
        if ctx.event.kind != "resume":
            return Step.PASS
        response_id = str(ctx.event.hints.get("response_id"))
        decided = await self.approvals.decisions_for(ctx.project.id, response_id)
        if not decided or any(d.status == "pending" for d in decided):
            return Outcome.failed("no decided approvals for this response")
        items = [
            {
                "type": "mcp_approval_response",
                "approval_request_id": d.core_request_id,
                "approve": d.status == "approved",
                **({} if d.status == "approved" else {"reason": _refusal_reason(d)}),
            }
            for d in decided
        ]
        user = decided[0].app_user_id
        asked = decided[0].context or {}
        linked = bool(asked.get("linked"))
        # The conversation the approval was asked in (not the chat's current one: `/new` may
        # have started another meanwhile); approvals asked before conversations existed, or in
        # a chaining project, answer the response itself.
        conversation = asked.get("conversation")
        if ctx.project.threading == "previous_response" or not isinstance(conversation, str):
            conversation = None
        request = CoreRequest(
            base_url=ctx.project.core_base_url,
            api_key=ctx.project.core_api_key,
            idempotency_key=ctx.key,
            model=ctx.project.model,
            user=user,
            input=items,
            previous_response_id=None if conversation else response_id,
            metadata=core_metadata(ctx, linked),
            conversation=conversation,
        )
        result = await self.caller.call(ctx, request)
        return await self.caller.settle(ctx, request, result, user=user, linked=linked)


def _refusal_reason(decided: DecidedApproval) -> str:
    if decided.status == "expired":
        return "the approval request expired without an answer"
    return f"denied by the user via {decided.decision_source or 'the gateway'}"
