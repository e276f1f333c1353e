"""One-time link codes: short, easy to type on a phone, stored only as a keyed hash.

Eight characters from an alphabet without look-alikes (no 0/O, 1/I/L, 5/S, 2/Z, 8/B), shown as
`ABCD-EFGH`; case, dashes and spaces are ignored when typed back. 24^8 ~ 1.1e11 codes, a code
lives 10 minutes and a sender gets 5 failed tries per 15 minutes: guessing is hopeless.
"""

from __future__ import annotations

import re
import secrets

ALPHABET = "ACDEFGHJKMNPQRTUVWXY3467"
LENGTH = 8
_TYPED = re.compile(r"[\s\-_.]+")


def new_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    return f"{raw[:4]}-{raw[4:]}"


def normalize(typed: str) -> str | None:
    """The canonical code, or None when `typed` cannot be one (wrong length or characters)."""
    code = _TYPED.sub("", typed).upper()
    if len(code) != LENGTH or any(ch not in ALPHABET for ch in code):
        return None
    return code
