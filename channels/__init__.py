"""Channel adapters: one module per provider, one shared protocol (`channels.base`)."""

from channels.base import ChannelAdapter
from channels.telegram import TelegramAdapter
from channels.twilio import TwilioAdapter
from channels.whatsapp import WhatsAppAdapter

ADAPTERS: dict[str, type[ChannelAdapter]] = {
    adapter.channel: adapter for adapter in (TelegramAdapter, TwilioAdapter, WhatsAppAdapter)
}

WEBHOOK_SEGMENTS: dict[str, str] = {"telegram": "telegram", "twilio": "sms", "whatsapp": "whatsapp"}
"""`/webhooks/<segment>/{account}` -> the channel whose account answers it (Twilio's account is
the `sms` account; it also carries WhatsApp traffic sent through Twilio)."""


def webhook_path(channel: str, account: str) -> str:
    segment = next(name for name, owner in WEBHOOK_SEGMENTS.items() if owner == channel)
    return f"/webhooks/{segment}/{account}"


__all__ = [
    "ADAPTERS",
    "WEBHOOK_SEGMENTS",
    "ChannelAdapter",
    "TelegramAdapter",
    "TwilioAdapter",
    "WhatsAppAdapter",
    "webhook_path",
]
