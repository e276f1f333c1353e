"""WhatsApp Cloud API webhook payloads (Graph API v23), one per message type, status and system
event. Sources are named per fixture: "Meta" is the messages webhook reference
(developers.facebook.com/docs/whatsapp/cloud-api/webhooks/payload-examples and
.../webhooks/reference/messages), "pywa" / "whatsapp-api-js" those libraries' test fixtures."""

from __future__ import annotations

from typing import Any

from gateway.dev.fake_whatsapp import (
    DEFAULT_DISPLAY_NUMBER,
    DEFAULT_PHONE_NUMBER_ID,
    DEFAULT_WABA_ID,
)
from tests.corpus.model import Fixture, Outcome

FORWARDED, ANSWERED, RECORDED, STATUS = (
    Outcome.FORWARDED,
    Outcome.ANSWERED,
    Outcome.RECORDED,
    Outcome.STATUS,
)

WA_ID = "16315551181"
TIMESTAMP = "1767225600"

_ids = iter(range(1, 1_000_000))


def wamid() -> str:
    return f"wamid.HBgLMTYzMTU1NTExODEVAgASGBQzQUNPUlBVUz{next(_ids):06d}AA=="


def payload(
    *, messages: list[dict[str, Any]] | None = None, statuses: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """Meta's envelope: one entry, one `messages` change for the fake's number."""
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {
            "display_phone_number": DEFAULT_DISPLAY_NUMBER,
            "phone_number_id": DEFAULT_PHONE_NUMBER_ID,
        },
    }
    if messages is not None:
        value["contacts"] = [{"profile": {"name": "Kerry Fisher"}, "wa_id": WA_ID}]
        value["messages"] = messages
    if statuses is not None:
        value["statuses"] = statuses
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": DEFAULT_WABA_ID, "changes": [{"value": value, "field": "messages"}]}],
    }


def message(kind: str, body: Any = None, **extra: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"from": WA_ID, "id": wamid(), "timestamp": TIMESTAMP, "type": kind}
    if body is not None:
        item[kind] = body
    return item | extra


FIXTURES: list[Fixture] = [
    # Meta: payload examples, "Text Messages"
    Fixture(
        "message/text",
        payload(messages=[message("text", {"body": "this is a text message"})]),
        (FORWARDED,),
    ),
    # Meta: payload examples, "Reaction Messages"
    Fixture(
        "message/reaction",
        payload(messages=[message("reaction", {"message_id": wamid(), "emoji": "\U0001f600"})]),
        (RECORDED,),
    ),
    # Meta: payload examples, "Status: Message Sent" (a pricing object, conversation origin)
    Fixture(
        "status/sent",
        payload(
            statuses=[
                {
                    "id": wamid(),
                    "status": "sent",
                    "timestamp": TIMESTAMP,
                    "recipient_id": WA_ID,
                    "conversation": {
                        "id": "CONVERSATION_ID",
                        "expiration_timestamp": TIMESTAMP,
                        "origin": {"type": "service"},
                    },
                    "pricing": {
                        "billable": True,
                        "pricing_model": "CBP",
                        "category": "service",
                    },
                }
            ]
        ),
        (STATUS,),
    ),
]
