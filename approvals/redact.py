"""Human summaries of tool inputs with secrets and long values masked.

The summary is shown to the user in the prompt and sent to the app in lifecycle events, so it must
never carry a password or token the agent put in the arguments.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_VALUE = 80
MAX_SUMMARY = 600
MASK = "***"
_SECRET_KEY = re.compile(
    r"pass(word|wd|phrase)?|secret|token|api[_-]?key|auth|credential|private|cookie|session|"
    r"signature|otp|pin|cvv|card",
    re.IGNORECASE,
)
_SECRET_VALUE = re.compile(
    r"\b(sk|pk|rk|ghp|gho|xox[abp]|AKIA)[-_A-Za-z0-9]{12,}|\bBearer\s+\S+|eyJ[A-Za-z0-9_-]{10,}\.",
)


def summarize_arguments(arguments: Any) -> str:
    """`key=value, ...` of a tool's arguments (a JSON string or object), redacted."""
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except ValueError:
            return _clip(redact_text(arguments))
    if isinstance(arguments, dict):
        parts = [f"{key}={_value(str(key), value)}" for key, value in arguments.items()]
        return _clip(", ".join(parts))
    if arguments is None:
        return ""
    return _clip(redact_text(json.dumps(arguments, ensure_ascii=False)))


def redact_text(text: str) -> str:
    return _SECRET_VALUE.sub(MASK, text)


def _value(key: str, value: Any) -> str:
    if _SECRET_KEY.search(key):
        return MASK
    if isinstance(value, dict):
        inner = ", ".join(f"{k}={_value(str(k), v)}" for k, v in value.items())
        return _cut("{" + inner + "}")
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return _cut(redact_text(text))


def _cut(text: str) -> str:
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 1] + "…"


def _clip(text: str) -> str:
    return text if len(text) <= MAX_SUMMARY else text[: MAX_SUMMARY - 1] + "…"
