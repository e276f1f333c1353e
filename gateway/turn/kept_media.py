"""A message's media with GATEWAY_MEDIA_RETENTION_HOURS > 0: what an earlier try of the turn
kept is reused, only the rest is downloaded, and what was downloaded is kept at once (before the
core call), so a turn retried after a crash or a core 5xx does not download it again.

Keeping is best effort: a database error while saving is logged and the turn goes on with the
bytes it holds."""

from __future__ import annotations

import structlog
from sqlalchemy.exc import SQLAlchemyError

from gateway.messages import Attachment
from gateway.storage.media_store import KeptMedia, MediaStore
from gateway.turn.context import TurnContext
from gateway.turn.media import FetchedMedia, MediaFetcher, MediaResult

log = structlog.get_logger("gateway.turn")


class KeptMediaFetcher:
    """The fetcher, with the event's kept items looked up first and new ones saved."""

    def __init__(self, fetcher: MediaFetcher, store: MediaStore) -> None:
        self.fetcher, self.store = fetcher, store

    async def fetch(self, ctx: TurnContext, attachments: list[Attachment]) -> MediaResult:
        kept = {
            item.position: item
            for item in await self.store.load(ctx.row.id)
            if item.position < len(attachments) and attachments[item.position].is_media
        }
        result = MediaResult(
            fetched=[
                FetchedMedia(attachments[position], item.data, item.mime_type, item.filename)
                for position, item in sorted(kept.items())
            ]
        )
        missing = [a for i, a in enumerate(attachments) if a.is_media and i not in kept]
        if kept:
            log.info("media.reused", items=len(kept))
        if not missing:
            return result
        used = sum(len(item.data) for item in result.fetched)
        fresh = await self.fetcher.fetch(ctx.adapter, ctx.caps, missing, used)
        await self._save(ctx, attachments, fresh.fetched)
        positions = {id(a): i for i, a in enumerate(attachments)}
        result.fetched = sorted(
            [*result.fetched, *fresh.fetched], key=lambda item: positions[id(item.attachment)]
        )
        result.failures = fresh.failures
        return result

    async def _save(
        self, ctx: TurnContext, attachments: list[Attachment], fetched: list[FetchedMedia]
    ) -> None:
        positions = {id(a): i for i, a in enumerate(attachments)}
        items = [
            KeptMedia(
                positions[id(item.attachment)],
                item.attachment.kind,
                item.mime_type,
                item.filename,
                item.data,
            )
            for item in fetched
        ]
        try:
            await self.store.save(ctx.project.id, ctx.row.id, items)
        except SQLAlchemyError as exc:
            log.warning("media.keep_failed", error=type(exc).__name__)
