"""In-chat commands (`/start`, `/help`, `/new`): one registry, handled by the gateway, never
forwarded to the core as text."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from gateway.messages import InboundEvent


@dataclass
class CommandContext:
    event: InboundEvent
    project: str
    reset_conversation: Callable[[], Awaitable[None]]


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

    async def run(self, ctx: CommandContext) -> str:
        command = self._commands.get(ctx.event.command or "")
        if command is None:
            return f"I don't know /{ctx.event.command}. Send /help to see what I understand."
        return await command.handler(ctx)


commands = CommandRegistry()


@commands.command("start", help="say hello")
async def _start(ctx: CommandContext) -> str:
    name = (ctx.event.display_name or "").split(" ")[0]
    greeting = f"Hi {name}!" if name else "Hi!"
    return f"{greeting} I'm your assistant. Send me a message to get started, or /help."


@commands.command("help", help="show this help")
async def _help(ctx: CommandContext) -> str:
    return commands.help_text()


@commands.command("new", help="start a new conversation (forget the context so far)")
async def _new(ctx: CommandContext) -> str:
    await ctx.reset_conversation()
    return "Started a new conversation."
