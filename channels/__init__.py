"""Channel adapters: one module per provider, one shared protocol (`channels.base`).

Adapters are imported when an account of their channel is first used: a gateway that serves only
Telegram never loads the Twilio client (several MB per process).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator, Mapping

from channels.base import ChannelAdapter
from gateway.heap import freeze_long_lived

_ADAPTER_PATHS = {
    "telegram": "channels.telegram:TelegramAdapter",
    "sms": "channels.twilio:TwilioAdapter",
    "whatsapp": "channels.whatsapp:WhatsAppAdapter",
}


class _Adapters(Mapping[str, type[ChannelAdapter]]):
    """channel -> adapter class, imported on first lookup."""

    def __getitem__(self, channel: str) -> type[ChannelAdapter]:
        module, _, name = _ADAPTER_PATHS[channel].partition(":")
        first_import = module not in sys.modules
        adapter: type[ChannelAdapter] = getattr(importlib.import_module(module), name)
        if first_import:  # the provider library's objects live as long as the process
            freeze_long_lived()
        return adapter

    def __iter__(self) -> Iterator[str]:
        return iter(_ADAPTER_PATHS)

    def __len__(self) -> int:
        return len(_ADAPTER_PATHS)


ADAPTERS: Mapping[str, type[ChannelAdapter]] = _Adapters()

WEBHOOK_SEGMENTS: dict[str, str] = {"telegram": "telegram", "twilio": "sms", "whatsapp": "whatsapp"}
"""`/webhooks/<segment>/{account}` -> the channel whose account answers it (Twilio's account is
the `sms` account; it also carries WhatsApp traffic sent through Twilio)."""


def webhook_path(channel: str, account: str) -> str:
    segment = next(name for name, owner in WEBHOOK_SEGMENTS.items() if owner == channel)
    return f"/webhooks/{segment}/{account}"


__all__ = ["ADAPTERS", "WEBHOOK_SEGMENTS", "ChannelAdapter", "webhook_path"]
