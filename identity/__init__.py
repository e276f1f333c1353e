"""Who is speaking: channel identities linked to the app's own users (`identity.store`), one-time
link codes (`identity.codes`) and what the chat is told (`identity.replies`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Identity:
    """`user` is what the core is given; None with a `refusal` when the turn is not forwarded."""

    user: str | None
    linked: bool
    refusal: str | None = None


__all__ = ["Identity"]
