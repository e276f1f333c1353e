"""Small helpers shared by the HTTP-based adapters (Twilio, WhatsApp Cloud API)."""

from __future__ import annotations

import email.utils
import math
import re
import time
from collections.abc import Mapping
from typing import Any, TypeGuard

from pydantic import ValidationError

from gateway.messages import InboundEvent, WebhookRejected

DEFAULT_RETRY_AFTER = 5.0
"""Seconds to wait after a rate limit that did not say how long."""
MAX_RETRY_AFTER = 3600.0

MEDIA_KINDS = ("image", "audio", "video")
_TYPE_KINDS = {"application/ogg": "audio"}
"""Types whose major part does not say the kind."""
_BSUID = re.compile(r"[A-Z]{2}(?:\.[A-Z]{2,8})?\.[0-9A-Za-z]{1,128}")
"""Meta's business-scoped user id: a country code, a period, up to 128 letters and digits (a
parent id has a middle part: `US.ENT.11815799212886844830`)."""


def is_bsuid(value: object) -> TypeGuard[str]:
    """Whether `value` is a WhatsApp business-scoped user id (BSUID, `US.13491208655302741918`):
    how Meta names a user who adopted a username, where it may no longer give the number. A
    phone number (digits, `+digits`) never is one."""
    return isinstance(value, str) and _BSUID.fullmatch(value) is not None


def header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive header lookup that works for plain dicts as well as multidicts."""
    value = headers.get(name)
    if value is not None:
        return value
    wanted = name.lower()
    for key, candidate in headers.items():
        if isinstance(key, str) and key.lower() == wanted:
            return candidate
    return None


def parse_retry_after(value: str | None, default: float = DEFAULT_RETRY_AFTER) -> float:
    """Seconds from a `Retry-After` header (delta-seconds or HTTP-date), clamped to a sane range;
    `default` when absent or unreadable."""
    if not value:
        return default
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return default
        seconds = when.timestamp() - time.time()
    if not math.isfinite(seconds):
        return default
    return min(max(seconds, 1.0), MAX_RETRY_AFTER)


def mime_essence(mime_type: str | None) -> str:
    """`Audio/OGG; codecs=opus` -> `audio/ogg` (empty when none)."""
    return (mime_type or "").partition(";")[0].strip().lower()


def attachment_kind(mime_type: str | None) -> str:
    """`image`, `audio`, `video` or `document`, from a MIME type (case and parameters
    ignored; anything else is a file: `document`)."""
    essence = mime_essence(mime_type)
    major = essence.partition("/")[0]
    return _TYPE_KINDS.get(essence) or (major if major in MEDIA_KINDS else "document")


def make_event(**fields: Any) -> InboundEvent:
    """Build an event; provider values that break a field limit are the client's fault (400),
    never a server error."""
    try:
        return InboundEvent(**fields)
    except ValidationError as exc:
        where = ", ".join(".".join(map(str, err["loc"])) for err in exc.errors()) or "event"
        raise WebhookRejected(400, "malformed_event", f"invalid field(s): {where}") from None
