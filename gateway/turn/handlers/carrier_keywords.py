"""STOP / START / HELP where they are carrier keywords (SMS), and silence for senders who opted
out. WhatsApp through the same Twilio account is not SMS: its chats have no carrier keywords."""

from __future__ import annotations

import structlog

from gateway.storage import optouts
from gateway.storage.db import Database
from gateway.turn.context import TurnContext
from gateway.turn.outcome import HandlerResult, Outcome, Step

log = structlog.get_logger("gateway.turn")


class CarrierKeywords:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def handle(self, ctx: TurnContext) -> HandlerResult:
        if not ctx.caps.carrier_keywords:
            return Step.PASS
        event, project_id = ctx.event, ctx.project.id
        word = optouts.keyword(event.text)
        address = event.sender or event.chat or "-"
        if word == "stop":
            await optouts.opt_out(self.db, project_id, event.channel, address, "keyword")
            log.info("sms.opted_out")
            return Outcome.done()  # the carrier / Twilio confirms; nothing more is sent
        if word == "start":
            await optouts.opt_in(self.db, project_id, event.channel, address)
            log.info("sms.opted_in")
            return Outcome.done(optouts.START_REPLY)
        if await optouts.is_opted_out(self.db, project_id, event.channel, address):
            return Outcome.ignored("the sender opted out (STOP)")
        if word == "help":
            return Outcome.done(ctx.settings.sms_help_text)
        return Step.PASS
