"""End users' phone numbers in admin API answers, masked the way logs and support bundles mask
them (`+*******4567`), unless the global key asks for `?reveal=true`.

What carries one: an identity link's sender (and `created_by` when the link was made from a
chat), a proactive message's recipient, an approval's app user and decider when they are channel
identities (`sms:+1...`). Turn stories are masked when they are built (`gateway.ops.support`).
The gateway's own numbers (an account's `from_number`, link instructions) are not an end user's
and are shown as they are.
"""

from __future__ import annotations

from typing import Any

from channels.capabilities import BY_CHANNEL, mask_address
from gateway.logs import scrub
from gateway.schemas import ApprovalOut, IdentityLinkOut, MessageOut


def mask_identity(value: str | None) -> str | None:
    """`sms:+14155550123`, `chat:whatsapp:14155550123` -> the number masked; other text with
    an E.164 number in it: that number masked."""
    if not value:
        return value
    parts = value.split(":")
    for i, part in enumerate(parts[:-1]):
        caps = BY_CHANNEL.get(part)
        if caps is not None and caps.phone_addresses:
            rest = ":".join(parts[i + 1 :])
            return ":".join(parts[: i + 1]) + ":" + str(mask_address(part, rest))
    return scrub(value)


def masked(payload: Any) -> Any:
    """`payload` (a handler's answer: models, lists, dicts of lists) with phone numbers masked."""
    if isinstance(payload, IdentityLinkOut):
        return payload.model_copy(
            update={
                "sender": mask_address(payload.channel, payload.sender),
                "created_by": mask_identity(payload.created_by),
            }
        )
    if isinstance(payload, MessageOut):
        return payload.model_copy(update={"sender": mask_address(payload.channel, payload.sender)})
    if isinstance(payload, ApprovalOut):
        return payload.model_copy(
            update={
                "app_user_id": mask_identity(payload.app_user_id),
                "decided_by": mask_identity(payload.decided_by),
            }
        )
    if isinstance(payload, list):
        return [masked(item) for item in payload]
    if isinstance(payload, dict):
        return {key: masked(value) for key, value in payload.items()}
    return payload
