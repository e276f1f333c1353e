"""Channel adapters: one module per provider, one shared protocol (`channels.base`)."""

from channels.base import ChannelAdapter
from channels.telegram import TelegramAdapter

ADAPTERS: dict[str, type[ChannelAdapter]] = {TelegramAdapter.channel: TelegramAdapter}

__all__ = ["ADAPTERS", "ChannelAdapter", "TelegramAdapter"]
