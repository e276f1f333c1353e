"""What the user reads: the prompt, the prompt once closed, and the outcome notices."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from approvals.redact import one_line

DECIDED = {"approved": "Approved", "denied": "Denied", "expired": "Expired"}
ICON = {"approved": "✅", "denied": "❌", "expired": "⌛"}


@dataclass(frozen=True)
class PromptFacts:
    tool: str
    summary: str
    expires_at: datetime
    created_at: datetime
    short_code: str


def _minutes(facts: PromptFacts) -> str:
    seconds = max(0, int((facts.expires_at - facts.created_at).total_seconds()))
    if seconds < 120:
        return f"{seconds} seconds"
    return f"{round(seconds / 60)} minutes"


def prompt_text(facts: PromptFacts, *, buttons: bool, with_code: bool) -> str:
    """Buttons (Telegram, WhatsApp Cloud): the buttons do the asking. Text (SMS, WhatsApp via
    Twilio): ends with the reply to send, naming the short code when the user has several."""
    head = f"Approval needed: {one_line(facts.summary)}"  # the agent writes no line of its own
    if buttons:
        return f"{head}\nThis request expires in {_minutes(facts)}."
    if with_code:
        code = facts.short_code
        return f"{head}\nReply YES {code} to approve or NO {code} to deny."
    return f"{head}\nReply YES to approve or NO to deny."


def footer(facts: PromptFacts) -> str:
    return f"Expires in {_minutes(facts)}"


def closed_prompt_text(facts: PromptFacts, status: str) -> str:
    """The prompt edited after the decision (buttons gone)."""
    return f"Approval needed: {one_line(facts.summary)}\n{ICON[status]} {DECIDED[status]}."


def outcome_text(facts: PromptFacts, status: str) -> str:
    tool = one_line(facts.tool)
    if status == "approved":
        return f"{tool} was approved. Going ahead."
    if status == "denied":
        return f"{tool} was denied. It will not run."
    return f"The approval request for {tool} expired. Nothing was done."


ALREADY = {
    "approved": "That request was already approved.",
    "denied": "That request was already denied.",
    "expired": "That request has expired; nothing was done.",
}
NOT_YOURS = "Only the person this request is for can decide it."
INVALID = "That approval button is no longer valid."
NO_SUCH_CODE = "No request waiting for you has the code {code}."


def which_one(pending: list[tuple[str, str]]) -> str:
    """A bare YES / NO that answers no prompt of this chat while requests wait (prompted in
    another chat, or not the latest prompt here): name them by code and tool."""
    lines = [f"{code}: {tool}" for code, tool in pending]
    first = pending[0][0]
    head = "You have several requests waiting:" if len(pending) > 1 else "A request is waiting:"
    return (
        head
        + "\n"
        + "\n".join(lines)
        + f"\nTo decide, reply YES or NO with the code, for example YES {first}."
    )


ELSEWHERE = {
    "approved": "{tool} had already been approved elsewhere; that decision stands.",
    "denied": "{tool} had already been denied elsewhere; it will not run.",
    "expired": "The approval request for {tool} had already expired; nothing was done.",
}
"""A decision made here reached the core after it was decided (or expired) there."""
NOT_DELIVERED = "Your decision on {tool} could not be delivered to the app; it was not applied."
