"""Unguessable button tokens and the YES / NO grammar of text replies.

A button carries `ap:<token>:y|n`, never the approval id. The token is an HMAC of the approval id
under the gateway's secret key: nothing to store in plain text (the approval row keeps a hash for
lookup, the outbox row only the approval id), and the sender derives it again when it renders the
buttons.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Any, Literal

Verdict = Literal["approved", "denied"]

ACTION_PREFIX = "ap:"
_ACTION = re.compile(r"^ap:([A-Za-z0-9_-]{16,64}):([yn])$")
_TEXT = re.compile(r"^\s*(yes|approve|no|deny)\b[\s,:#]*(\d{4,8})?\s*[.!]*\s*$", re.IGNORECASE)
"""The whole message is one decision word, optionally a prompt's code, optionally `.` or `!`.
Anything else (`y`, `ok`, `approved`, `yes please`, `no thanks`) is an ordinary message. Codes
are six digits; four to eight are read, so a code shown before the change still works."""
_YES = {"yes", "approve"}


class ApprovalTokens:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def token_for(self, approval_id: str) -> str:
        digest = hmac.new(self._key, f"approval-token:{approval_id}".encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(digest.digest()[:18]).decode().rstrip("=")

    @staticmethod
    def lookup_hash(token: str) -> str:
        """What the approval row stores to find the approval a token belongs to."""
        return hashlib.sha256(f"approval-token:{token}".encode()).hexdigest()

    def buttons(self, approval_id: str) -> list[dict[str, str]]:
        token = self.token_for(approval_id)
        return [
            {"id": f"{ACTION_PREFIX}{token}:y", "title": "Approve"},
            {"id": f"{ACTION_PREFIX}{token}:n", "title": "Deny"},
        ]

    def render_options(self, options: dict[str, Any]) -> dict[str, Any]:
        """The outbox sender's options hook: an approval prompt's row (`approval_prompt`: the
        approval id) goes out with its buttons; any other row's options are left as they are."""
        approval_id = options.get("approval_prompt")
        if isinstance(approval_id, str):
            return {**options, "buttons": self.buttons(approval_id)}
        return options


@dataclass(frozen=True)
class ButtonPress:
    token: str
    verdict: Verdict


@dataclass(frozen=True)
class TextDecision:
    verdict: Verdict
    code: str | None


def parse_action(action: str | None) -> ButtonPress | None:
    """A button payload of ours (`ap:<token>:y|n`), or None for anything else."""
    match = _ACTION.match(action or "")
    if match is None:
        return None
    return ButtonPress(match[1], "approved" if match[2] == "y" else "denied")


def is_approval_action(action: str | None) -> bool:
    return (action or "").startswith(ACTION_PREFIX)


def parse_text(text: str | None) -> TextDecision | None:
    """`YES`, `no`, `Approve 482913`, `deny #482913` ... (case-insensitive), or None."""
    match = _TEXT.match(text or "")
    if match is None:
        return None
    verdict: Verdict = "approved" if match[1].lower() in _YES else "denied"
    return TextDecision(verdict, match[2])


def tokens_from(box: object) -> ApprovalTokens:
    """The process's token key, derived from the newest GATEWAY_SECRET_KEY (a `SecretBox`)."""
    return ApprovalTokens(box.derive("approval-tokens", "v1").encode())  # type: ignore[attr-defined]
