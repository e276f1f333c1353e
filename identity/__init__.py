"""Who is speaking: channel identity -> the user id the core is given.

Until identity linking lands, the only policy is `channel_user`: the sender is forwarded as
`<channel>:<sender>` and marked unlinked, so the core can still keep per-person memory.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.messages import InboundEvent


@dataclass(frozen=True)
class Identity:
    user: str
    linked: bool


def resolve(policy: str, event: InboundEvent) -> Identity:
    if policy != "channel_user":
        raise ValueError(f"unknown unlinked-sender policy {policy!r}")
    return Identity(user=f"{event.channel}:{event.sender}", linked=False)
