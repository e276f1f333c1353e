"""In-chat commands (`/start [code]`, `/link <code>`, `/unlink`, `/help`, `/new`): one registry,
handled by the gateway, never forwarded to the core as text. Channels without slash commands
(SMS, WhatsApp) recognise `LINK <code>` and `UNLINK` in the text (`text_command`). Linking and
unlinking themselves are identity behaviour (`identity.resolve`); this module only binds them to
the words a user types."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from identity.codes import normalize as link_code

if TYPE_CHECKING:
    from gateway.turn.context import TurnContext
    from gateway.turn.conversations import Conversations


@dataclass(frozen=True)
class CommandContext:
    turn: TurnContext
    args: tuple[str, ...]
    conversations: Conversations

    async def link(self, code: str) -> str:
        """Redeem a link code for the sender; answers what to tell them."""
        turn = self.turn
        return await turn.resolver.redeem(turn.project, turn.event, code, turn.caps)

    async def unlink(self) -> str:
        return await self.turn.resolver.unlink(self.turn.project, self.turn.event)

    async def remember_start(self, start_param: str) -> None:
        """Keep a deep link's payload as the chat's start context for the agent."""
        await self.conversations.remember_start(self.turn.chat, start_param)


_TEXT_COMMAND = re.compile(r"\s*(link|unlink)\b[\s:]*(.*?)\s*", re.IGNORECASE | re.DOTALL)


def text_command(text: str | None) -> tuple[str, list[str]] | None:
    """`LINK ABCD-EFGH` / `unlink` typed as a whole message (SMS, WhatsApp)."""
    match = _TEXT_COMMAND.fullmatch(text or "")
    if match is None or len(text or "") > 64:
        return None
    name, rest = match.group(1).lower(), match.group(2)
    if name == "unlink" and rest:
        return None  # "unlink my card please" is a message for the agent
    return name, [rest] if rest else []


Handler = Callable[[CommandContext], Awaitable[str]]


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    handler: Handler


class CommandRegistry:
    def __init__(self) -> None:
        self._commands: dict[str, Command] = {}

    def command(self, name: str, help: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self._commands[name] = Command(name, help, handler)
            return handler

        return register

    def help_text(self) -> str:
        lines = [f"/{c.name} - {c.help}" for c in self._commands.values()]
        return "Send me a message and I'll answer. Commands:\n" + "\n".join(lines)

    async def run(self, name: str, ctx: CommandContext) -> str:
        command = self._commands.get(name)
        if command is None:
            return f"I don't know /{name}. Send /help to see what I understand."
        return await command.handler(ctx)


commands = CommandRegistry()


@commands.command("start", help="say hello (with a code from the app: link your account)")
async def _start(ctx: CommandContext) -> str:
    """The deep link t.me/<bot>?start=<payload>: a payload shaped like a link code is redeemed;
    any other (a referral, a campaign) is the chat's start context, and the user is greeted."""
    payload = " ".join(ctx.args)
    if payload and link_code(payload) is not None:
        return await ctx.link(payload)
    if payload:
        await ctx.remember_start(payload)
    return _greeting(ctx)


def _greeting(ctx: CommandContext) -> str:
    name = (ctx.turn.event.display_name or "").split(" ")[0]
    greeting = f"Hi {name}!" if name else "Hi!"
    return f"{greeting} I'm your assistant. Send me a message to get started, or /help."


@commands.command("help", help="show this help")
async def _help(ctx: CommandContext) -> str:
    return commands.help_text()


@commands.command("new", help="start a new conversation (forget the context so far)")
async def _new(ctx: CommandContext) -> str:
    await ctx.conversations.reset(ctx.turn.chat)
    return "Started a new conversation."


@commands.command("link", help="link your app account: /link <code from the app>")
async def _link(ctx: CommandContext) -> str:
    if not ctx.args:
        return "Send the code from the app after the command, like: /link ABCD-EFGH"
    return await ctx.link(" ".join(ctx.args))


@commands.command("unlink", help="unlink your app account from this chat")
async def _unlink(ctx: CommandContext) -> str:
    return await ctx.unlink()
