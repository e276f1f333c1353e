"""The turn's handlers, one small module each, in the order they are asked.

Like python-telegram-bot's handler groups, the first handler that does not pass decides the
event; the order is the turn's policy, readable in one place (`turn_handlers`).
"""

from __future__ import annotations

import asyncio

from approvals.decisions import ChannelDecisions
from approvals.service import ApprovalService
from gateway.storage.db import Database
from gateway.turn.commands import commands as command_registry
from gateway.turn.conversations import Conversations
from gateway.turn.core_input import CoreInputs
from gateway.turn.core_turn import CoreCaller
from gateway.turn.handlers.addressed import Addressed, Spawn
from gateway.turn.handlers.album import Album
from gateway.turn.handlers.approval_buttons import ApprovalButtons
from gateway.turn.handlers.carrier_keywords import CarrierKeywords
from gateway.turn.handlers.chat_commands import Commands
from gateway.turn.handlers.delivery_status import DeliveryStatus
from gateway.turn.handlers.forward import Forward
from gateway.turn.handlers.identity_gate import IdentityGate
from gateway.turn.handlers.other_actions import OtherActions
from gateway.turn.handlers.resume import ResumeAfterApprovals
from gateway.turn.handlers.text_decisions import TextDecisions
from gateway.turn.handlers.unreadable import Unreadable
from gateway.turn.outcome import Handler


def turn_handlers(
    *,
    db: Database,
    approvals: ApprovalService,
    caller: CoreCaller,
    conversations: Conversations,
    inputs: CoreInputs,
    spawn: Spawn,
    album_wait_seconds: float,
    media_concurrency: int,
) -> list[Handler]:
    decisions = ChannelDecisions(approvals)
    return [
        DeliveryStatus(db),  # provider reports about earlier sends
        ResumeAfterApprovals(approvals, caller),  # the approvals a response waited for are decided
        CarrierKeywords(db),  # STOP / START / HELP, and silence after STOP
        Album(db, album_wait_seconds),  # the parts of an album gathered into one message
        Addressed(db, spawn),  # group chats: only when spoken to
        ApprovalButtons(decisions),
        OtherActions(),
        TextDecisions(decisions),  # YES / NO where commands are typed words
        Commands(command_registry, conversations),
        Unreadable(),  # nothing to read: say so
        IdentityGate(),  # the unlinked policy may refuse
        # media fetched, then the core answers
        Forward(caller, conversations, inputs, asyncio.Semaphore(media_concurrency)),
    ]


__all__ = ["turn_handlers"]
