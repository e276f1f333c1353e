"""How a user redeems a link code on each channel the project has: the Telegram deep link
(`https://t.me/<bot>?start=<code>`), `LINK <code>` to the SMS number or on WhatsApp."""

from __future__ import annotations

import structlog

from gateway.errors import NotFound
from gateway.messages import SendError
from gateway.storage.projects import AccountDirectory, ProjectStore

log = structlog.get_logger("identity.instructions")


async def link_instructions(
    store: ProjectStore, directory: AccountDirectory, project: str, code: str
) -> dict[str, str]:
    instructions: dict[str, str] = {}
    for account in await store.list_accounts(project):
        if not account.enabled or account.channel in instructions:
            continue
        if account.channel == "telegram":
            instructions["telegram"] = await _telegram(directory, account.account, code)
        elif account.channel == "sms":
            number = account.config.get("from_number")
            to = f" to {number}" if number else ""
            instructions["sms"] = f"Text LINK {code}{to}"
        elif account.channel == "whatsapp":
            instructions["whatsapp"] = f"Send LINK {code} to the business number on WhatsApp"
    return instructions


async def _telegram(directory: AccountDirectory, account: str, code: str) -> str:
    """The deep link needs the bot's username (getMe, cached by the adapter); without it, the
    command works too."""
    try:
        _, adapter = await directory.get("telegram", account)
        me = await adapter.identity()  # type: ignore[attr-defined]
        if me.username:
            return f"https://t.me/{me.username}?start={code}"
    except (NotFound, SendError) as exc:
        log.warning("instructions.telegram_unavailable", error=str(exc))
    return f"Send /link {code} to the bot on Telegram"
