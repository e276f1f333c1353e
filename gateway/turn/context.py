"""One claimed event and everything a handler needs about it, built once per event.

Like aiogram's middleware-built handler data, the context is assembled before the first handler
runs (the project and the route's adapter looked up, the chat key and the command computed) so
no handler repeats a lookup or rewrites the event. The sender's identity costs a database read
that most non-message events never need: it is resolved on first use, then kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from channels.base import ChannelAdapter
from channels.capabilities import Capabilities
from gateway.config import Settings
from gateway.messages import InboundEvent
from gateway.storage.inbox import ClaimedEvent
from gateway.storage.projects import ProjectInfo
from gateway.turn.commands import text_command
from gateway.turn.conversations import ChatKey, conversation_chat
from identity import Identity
from identity.resolve import SenderResolver


@dataclass(frozen=True)
class CommandCall:
    """A command the user sent: `/name args` or, where there are no slash commands, a typed
    `LINK <code>` / `UNLINK`."""

    name: str
    args: tuple[str, ...]


@dataclass
class TurnContext:
    row: ClaimedEvent
    """The claimed inbox row, without its payload (attempt count, receive time)."""
    worker_id: str
    event: InboundEvent
    project: ProjectInfo
    adapter: ChannelAdapter
    """The route's adapter: answers, acknowledges and sends for this account."""
    caps: Capabilities
    """What this chat's channel can do (WhatsApp over Twilio differs from SMS on one account)."""
    key: str
    """The event's stable key: the core's idempotency key and the prefix of every reply's key."""
    chat: ChatKey
    """The conversation's key: the chat, or in a group (and a thread) the chat and the sender."""
    settings: Settings
    command: CommandCall | None
    resolver: SenderResolver
    absorbed: tuple[int, ...] = ()
    """Inbox rows this event took in (the other parts of an album): settled with it."""
    _identity: Identity | None = field(default=None, repr=False)
    _prompt: str | None = field(default=None, repr=False)

    @classmethod
    def build(
        cls,
        *,
        row: ClaimedEvent,
        worker_id: str,
        event: InboundEvent,
        project: ProjectInfo,
        adapter: ChannelAdapter,
        key: str,
        settings: Settings,
        resolver: SenderResolver,
    ) -> TurnContext:
        caps = adapter.capabilities_for(event.chat or "")
        return cls(
            row=row,
            worker_id=worker_id,
            event=event,
            project=project,
            adapter=adapter,
            caps=caps,
            key=key,
            chat=(
                project.id,
                event.channel,
                event.account,
                conversation_chat(
                    event.chat, event.sender, is_group=event.is_group, thread=event.thread
                ),
            ),
            settings=settings,
            command=_command(event, caps),
            resolver=resolver,
        )

    def replace_event(self, event: InboundEvent, absorbed: tuple[int, ...]) -> None:
        """The event is `event` from here on (an album's parts gathered into one), taking in
        the inbox rows `absorbed`."""
        self.event, self.absorbed = event, absorbed
        self.command = _command(event, self.caps)
        self._prompt = None

    async def identity(self) -> Identity:
        """The sender as the core will know them (resolved once per event)."""
        if self._identity is None:
            self._identity = await self.resolver.resolve(self.project, self.event)
        return self._identity

    async def prompt_text(self) -> str:
        """The text for the core (without the bot's own @mention, say); empty: nothing to read."""
        if self._prompt is None:
            self._prompt = await self.adapter.prompt_text(self.event)
        return self._prompt


def _command(event: InboundEvent, caps: Capabilities) -> CommandCall | None:
    if event.kind == "command":
        return CommandCall(event.command or "", tuple(event.args))
    if event.kind == "message" and not caps.slash_commands:
        typed = text_command(event.text)
        if typed is not None:
            return CommandCall(typed[0], tuple(typed[1]))
    return None
