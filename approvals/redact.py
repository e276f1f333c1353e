"""Human summaries of tool inputs with secrets and long values masked.

The summary is shown to the user in the prompt and sent to the app in lifecycle events, so it must
never carry a password or token the agent put in the arguments, nor a line break that would let
the agent write lines of the prompt itself.
"""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

MAX_VALUE = 80
MAX_SUMMARY = 600
MASK = "***"


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_SECRET_WORDS = _words(
    "password passwd passphrase pass pwd secret secrets token tokens auth authorization oauth "
    "credential credentials cookie cookies session sessionid signature otp pin cvv cvc apikey "
    "privatekey ssn"
)
"""Key tokens that mark a secret on their own (`x-auth-token`, `user_password`, `pin`)."""
_SECRET_PAIRS = frozenset(
    tuple(pair.split("_"))
    for pair in _words(
        "api_key access_key private_key secret_key signing_key encryption_key master_key "
        "card_number credit_card security_code set_cookie"
    )
)
"""Adjacent tokens that mark a secret together (`api_key`, `apiKey`, `card_number`)."""
_SECRET_SUFFIXES = ("password", "passwd", "token", "secret", "apikey")
"""Run-together keys (`accesstoken`, `clientsecret`): a token that ends with one of these."""
_KEY_TOKEN = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]+")
"""Control characters, line and paragraph separators, zero-width and bidi controls."""
_SECRET_VALUE = re.compile(
    r"\b(sk|pk|rk|ghp|gho|xox[abp]|AKIA)[-_A-Za-z0-9]{12,}|\bBearer\s+\S+|eyJ[A-Za-z0-9_-]{10,}\.",
)


def summarize_arguments(arguments: Any) -> str:
    """`key=value, ...` of a tool's arguments (a JSON string or object), redacted."""
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except ValueError:
            return _clip(redact_text(one_line(arguments)))
    if isinstance(arguments, dict):
        parts = [
            f"{one_line(str(key))}={_value(str(key), value)}" for key, value in arguments.items()
        ]
        return _clip(", ".join(parts))
    if arguments is None:
        return ""
    return _clip(redact_text(one_line(json.dumps(arguments, ensure_ascii=False))))


def redact_text(text: str) -> str:
    return _SECRET_VALUE.sub(MASK, text)


def one_line(text: str) -> str:
    """`text` with newlines and other control characters as single spaces: a value the agent
    chose cannot start a line of its own in a prompt (a forged "Reply YES ..." line)."""
    return _UNPRINTABLE.sub(" ", text)


def is_secret_key(key: str) -> bool:
    """Whether an argument named `key` holds a secret, judged on whole key tokens (split on
    `_`, `-`, `.`, spaces and camelCase): `api_key`, `apiKey`, `x-auth-token`, `client_secret`
    are; `author`, `shipping_address`, `spinner`, `opinion` are not."""
    tokens = [token.lower() for token in _KEY_TOKEN.findall(key)]
    if any(token in _SECRET_WORDS or token.endswith(_SECRET_SUFFIXES) for token in tokens):
        return True
    return any(pair in _SECRET_PAIRS for pair in itertools.pairwise(tokens))


def _value(key: str, value: Any) -> str:
    if is_secret_key(key):
        return MASK
    if isinstance(value, dict):
        inner = ", ".join(f"{one_line(str(k))}={_value(str(k), v)}" for k, v in value.items())
        return _cut("{" + inner + "}")
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return _cut(redact_text(one_line(text)))


def _cut(text: str) -> str:
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 1] + "…"


def _clip(text: str) -> str:
    return text if len(text) <= MAX_SUMMARY else text[: MAX_SUMMARY - 1] + "…"
