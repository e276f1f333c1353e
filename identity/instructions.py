"""How a user redeems a link code on each channel the project has, as each channel's adapter
says (`ChannelAdapter.link_instructions`: the Telegram deep link, `LINK <code>` to the SMS number
or on WhatsApp)."""

from __future__ import annotations

import structlog

from gateway.errors import NotFound
from gateway.storage.projects import AccountDirectory, ProjectStore

log = structlog.get_logger("identity.instructions")


async def link_instructions(
    store: ProjectStore, directory: AccountDirectory, project: str, code: str
) -> dict[str, str]:
    """channel -> how to redeem `code` there (each channel's first enabled account says)."""
    instructions: dict[str, str] = {}
    for account in await store.list_accounts(project):
        if not account.enabled or account.channel in instructions:
            continue
        try:
            _, adapter = await directory.get(account.channel, account.account)
        except NotFound as exc:  # disabled since it was listed
            log.warning("instructions.account_unavailable", error=str(exc))
            continue
        instructions[account.channel] = await adapter.link_instructions(code)
    return instructions
