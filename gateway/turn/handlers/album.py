"""An album is one message: the parts of a Telegram media group arrive as separate updates, and
the worker holding the first waits until no new part has arrived for `album_wait_seconds` (at
most `ALBUM_MAX_WAIT_FACTOR` times that from the first part's arrival), then hands the rest of
the turn one event carrying every part's attachments and the caption. The parts it took are
settled with the turn (`gateway.storage.albums.absorb`); a part arriving after that is a message
of its own.

Runs before the group check: only the captioned part mentions the bot, and the album is what
the group check has to judge.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta

from gateway.messages import InboundEvent
from gateway.storage.albums import MAX_PARTS, AlbumPart, waiting_parts
from gateway.storage.db import Database
from gateway.storage.db.models import utcnow
from gateway.turn.context import TurnContext
from gateway.turn.outcome import HandlerResult, Step

ALBUM_MAX_WAIT_FACTOR = 5


class Album:
    def __init__(self, db: Database, wait_seconds: float) -> None:
        self.db, self.wait = db, timedelta(seconds=wait_seconds)

    async def handle(self, ctx: TurnContext) -> HandlerResult:
        album = ctx.event.hints.get("album")
        if album is None or ctx.absorbed:
            return Step.PASS
        parts = await self._gather(ctx, str(album))
        if parts:
            events = [InboundEvent.model_validate(part.payload) for part in parts]
            ctx.replace_event(merged(ctx.event, events), tuple(part.id for part in parts))
        return Step.PASS

    async def _gather(self, ctx: TurnContext, album: str) -> list[AlbumPart]:
        first = ctx.row.received_at
        deadline = first + ALBUM_MAX_WAIT_FACTOR * self.wait
        while True:
            parts = await waiting_parts(self.db, ctx.row.chat_key, ctx.row.id, album)
            latest = max([first, *(part.received_at for part in parts)])
            left = (min(latest + self.wait, deadline) - utcnow()).total_seconds()
            if left <= 0 or len(parts) + 1 >= MAX_PARTS:
                return parts
            await asyncio.sleep(left)


def merged(first: InboundEvent, rest: Sequence[InboundEvent]) -> InboundEvent:
    """One message of an album's parts: every attachment in order, the captions (usually one)
    as its text; mentions and the message to reply to are the captioned part's. The key stays
    the first part's (`event_id`), so a retried album reaches the core with the same key."""
    parts = [first, *rest]
    captions = list(dict.fromkeys(part.text for part in parts if part.text))
    base = next((part for part in parts if part.text), first)
    return base.model_copy(
        update={
            "event_id": first.event_id,
            "text": "\n".join(captions) or None,
            "attachments": [item for part in parts for item in part.attachments],
        },
        deep=True,
    )
