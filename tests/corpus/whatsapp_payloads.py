"""WhatsApp Cloud API webhook payloads (Graph API v23), one per message type, status and system
event, and the batches Meta sends. Sources are named per fixture: "Meta <page>" is the messages
webhook reference's page of that type (`REF` below + `/messages/<page>`), "pywa" the pywa
library's test fixtures (github.com/david-lev/pywa, tests/data/updates/*.json), "whatsapp-api-js"
that library's server types (github.com/Secreto31126/whatsapp-api-js, src/types.ts). Ids and
numbers are the fake's, so the payloads route to the configured account."""

from __future__ import annotations

from typing import Any

from gateway.dev.fake_whatsapp import (
    DEFAULT_DISPLAY_NUMBER,
    DEFAULT_PHONE_NUMBER_ID,
    DEFAULT_WABA_ID,
)
from tests.corpus.model import JPEG, MP3, MP4, OGG, PDF, WEBP, Fixture, Outcome

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


def value(
    *,
    messages: list[dict[str, Any]] | None = None,
    statuses: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A `messages` change's value for the fake's number (contacts when it carries messages)."""
    found: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {
            "display_phone_number": DEFAULT_DISPLAY_NUMBER,
            "phone_number_id": DEFAULT_PHONE_NUMBER_ID,
        },
    }
    if messages is not None:
        found["contacts"] = [{"profile": {"name": "Kerry Fisher"}, "wa_id": WA_ID}]
        found["messages"] = messages
    if statuses is not None:
        found["statuses"] = statuses
    return found | extra


def envelope(*changes: dict[str, Any], entries: int = 1) -> dict[str, Any]:
    """Meta's envelope: `entries` entries of the WABA, each with `changes` (field, value)."""
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {"id": DEFAULT_WABA_ID, "changes": list(changes[i::entries])} for i in range(entries)
        ],
    }


def payload(
    *, messages: list[dict[str, Any]] | None = None, statuses: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """One entry, one `messages` change for the fake's number."""
    return envelope({"value": value(messages=messages, statuses=statuses), "field": "messages"})


def field_change(field: str, change_value: dict[str, Any]) -> dict[str, Any]:
    """A change of another webhook field (account, template, number quality), with its `time`."""
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": DEFAULT_WABA_ID,
                "time": int(TIMESTAMP),
                "changes": [{"value": change_value, "field": field}],
            }
        ],
    }


def message(kind: str, body: Any = None, **extra: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"from": WA_ID, "id": wamid(), "timestamp": TIMESTAMP, "type": kind}
    if body is not None:
        item[kind] = body
    return item | extra


def media(media_id: str, mime_type: str, **extra: Any) -> dict[str, Any]:
    """A media body as Meta gives it: id, MIME type, the file's SHA-256 (base64)."""
    return {
        "mime_type": mime_type,
        "sha256": "eIp4wG4Zs1jv2pRWpoFhU6YpXq4NBlSAb9M3Ul0nY7c=",
        "id": media_id,
        **extra,
    }


def status(state: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": wamid(),
        "status": state,
        "timestamp": TIMESTAMP,
        "recipient_id": WA_ID,
    } | extra


PRICING = {
    "billable": True,
    "pricing_model": "PMP",
    "category": "service",
    "type": "free_customer_service",
}
CONVERSATION = {
    "id": "c0ffee0000000000000000000000cafe",
    "expiration_timestamp": TIMESTAMP,
    "origin": {"type": "service"},
}
UNSUPPORTED_ERROR = {
    "code": 131051,
    "title": "Message type unknown",
    "message": "Message type unknown",
    "error_data": {"details": "Message type is currently not supported."},
}


REF = "https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference"
"""Meta's messages webhook reference; "Meta <page>" below is `{REF}/messages/<page>`."""

FIXTURES: list[Fixture] = [
    # Meta text (and {REF}/messages: the incoming-message example)
    Fixture(
        "message/text",
        payload(messages=[message("text", {"body": "this is a text message"})]),
        (FORWARDED,),
    ),
    # Meta text, "context" of a reply; pywa tests/data/updates/message.json "reply"
    Fixture(
        "message/text-reply",
        payload(
            messages=[
                message(
                    "text",
                    {"body": "replied text"},
                    context={"from": DEFAULT_DISPLAY_NUMBER, "id": wamid()},
                )
            ]
        ),
        (FORWARDED,),
    ),
    # pywa tests/data/updates/message.json "forwarded"
    Fixture(
        "message/text-forwarded",
        payload(
            messages=[message("text", {"body": "forwarded text"}, context={"forwarded": True})]
        ),
        (FORWARDED,),
    ),
    # pywa tests/data/updates/message.json "forwarded_many_times"
    Fixture(
        "message/text-frequently-forwarded",
        payload(
            messages=[
                message(
                    "text",
                    {"body": "text forwarded many times"},
                    context={"frequently_forwarded": True},
                )
            ]
        ),
        (FORWARDED,),
    ),
    # Meta text, "referral" (a Click to WhatsApp ad); pywa tests/data/updates/message.json
    # "referral"
    Fixture(
        "message/text-ad-referral",
        payload(
            messages=[
                message(
                    "text",
                    {"body": "Hi! I saw your ad, is it still available?"},
                    referral={
                        "source_url": "https://fb.me/3cr4Wqqkv",
                        "source_id": "120226305854810726",
                        "source_type": "ad",
                        "body": "Summer sale: 20% off every plan",
                        "headline": "Chat with us",
                        "media_type": "image",
                        "image_url": "https://scontent.xx.fbcdn.net/v/t45.1600-4/ad.jpg",
                        "ctwa_clid": "Afc3nYt4TTydumlFFsatFz8bW3XJoTa3MA",
                        "welcome_message": {"text": "Hi there! Let us know how we can help."},
                    },
                )
            ]
        ),
        (FORWARDED,),
    ),
    # Meta business-scoped user ids (developers.facebook.com/documentation/business-messaging/
    # whatsapp/business-scoped-user-ids): `from_user_id` next to
    # `from`, the contact's `user_id`; as captured in a public repository's replay script
    # (a `from_logical_id` too)
    Fixture(
        "message/text-with-bsuid",
        envelope(
            {
                "value": value(
                    messages=[
                        message(
                            "text",
                            {"body": "Hey"},
                            from_user_id="US.13491208655302741918",
                            from_logical_id="95000398405635",
                        )
                    ]
                )
                | {
                    "contacts": [
                        {
                            "profile": {"name": "Kerry Fisher"},
                            "wa_id": WA_ID,
                            "user_id": "US.13491208655302741918",
                            "country_code": "US",
                        }
                    ]
                },
                "field": "messages",
            }
        ),
        (FORWARDED,),
    ),
    # A user who adopted a username (Meta business-scoped user ids, from June 2026) may come
    # without `from`, only `from_user_id`: the sender is the BSUID, answered by BSUID (the send
    # API's `recipient`).
    Fixture(
        "message/text-username-only",
        envelope(
            {
                "value": value(
                    messages=[
                        {
                            "from_user_id": "US.13491208655302741999",
                            "id": wamid(),
                            "timestamp": TIMESTAMP,
                            "type": "text",
                            "text": {"body": "hi, I only have a username"},
                        }
                    ]
                )
                | {
                    "contacts": [
                        {
                            "profile": {"name": "Robin"},
                            "username": "@robin",
                            "user_id": "US.13491208655302741999",
                        }
                    ]
                },
                "field": "messages",
            }
        ),
        (FORWARDED,),
    ),
    # Meta image (caption); pywa tests/data/updates/message.json "image"
    Fixture(
        "message/image",
        payload(
            messages=[
                message(
                    "image",
                    media("wa-corpus-image", "image/jpeg", caption="what is this?"),
                )
            ]
        ),
        (FORWARDED,),
        media={"wa-corpus-image": (JPEG, "image/jpeg")},
    ),
    # Meta sticker; pywa tests/data/updates/message.json "static_sticker"
    Fixture(
        "message/sticker-static",
        payload(
            messages=[message("sticker", media("wa-corpus-sticker", "image/webp", animated=False))]
        ),
        (FORWARDED,),
        media={"wa-corpus-sticker": (WEBP, "image/webp")},
    ),
    # Meta sticker; pywa tests/data/updates/message.json "animated_sticker"
    Fixture(
        "message/sticker-animated",
        payload(
            messages=[
                message(
                    "sticker",
                    media("wa-corpus-sticker-anim", "image/webp", animated=True),
                )
            ]
        ),
        (FORWARDED,),
        media={"wa-corpus-sticker-anim": (WEBP, "image/webp")},
    ),
    # Meta audio (an audio file: `voice` false); pywa tests/data/updates/message.json "audio"
    Fixture(
        "message/audio",
        payload(messages=[message("audio", media("wa-corpus-audio", "audio/mpeg", voice=False))]),
        (FORWARDED,),
        media={"wa-corpus-audio": (MP3, "audio/mpeg")},
    ),
    # Meta audio (a voice note: `voice` true); pywa tests/data/updates/message.json "voice"
    Fixture(
        "message/voice",
        payload(
            messages=[
                message(
                    "audio",
                    media("wa-corpus-voice", "audio/ogg; codecs=opus", voice=True),
                )
            ]
        ),
        (FORWARDED,),
        media={"wa-corpus-voice": (OGG, "audio/ogg")},
    ),
    # Meta video (caption, forwarded); pywa tests/data/updates/message.json "video"
    Fixture(
        "message/video",
        payload(
            messages=[
                message(
                    "video",
                    media("wa-corpus-video", "video/mp4", caption="look at this"),
                    context={"forwarded": True},
                )
            ]
        ),
        (FORWARDED,),
        media={"wa-corpus-video": (MP4, "video/mp4")},
    ),
    # Meta document (filename, caption); pywa tests/data/updates/message.json "document"
    Fixture(
        "message/document",
        payload(
            messages=[
                message(
                    "document",
                    media(
                        "wa-corpus-document",
                        "application/pdf",
                        filename="invoice-2026-01.pdf",
                        caption="my invoice",
                    ),
                )
            ]
        ),
        (FORWARDED,),
        media={"wa-corpus-document": (PDF, "application/pdf")},
    ),
    # Meta location (the user's own position); pywa tests/data/updates/message.json
    # "current_location"
    Fixture(
        "message/location",
        payload(messages=[message("location", {"latitude": 12.25089, "longitude": 43.90539})]),
        (FORWARDED,),
    ),
    # Meta location (a named place: name, address, url); pywa tests/data/updates/message.json
    # "chosen_location"
    Fixture(
        "message/location-named",
        payload(
            messages=[
                message(
                    "location",
                    {
                        "latitude": 37.4611978,
                        "longitude": -122.2164385,
                        "name": "Meta HQ",
                        "address": "1 Hacker Way, Menlo Park, CA 94025",
                        "url": "https://maps.google.com/?cid=2000000000000000000",
                    },
                )
            ]
        ),
        (FORWARDED,),
    ),
    # Meta contacts (one card: name, phones, emails, org, urls, addresses, birthday)
    Fixture(
        "message/contacts-one",
        payload(
            messages=[
                message(
                    "contacts",
                    [
                        {
                            "addresses": [
                                {
                                    "street": "1 Hacker Way",
                                    "city": "Menlo Park",
                                    "state": "CA",
                                    "zip": "94025",
                                    "country": "United States",
                                    "country_code": "us",
                                    "type": "WORK",
                                }
                            ],
                            "birthday": "1990-01-31",
                            "emails": [{"email": "barbara@example.com", "type": "WORK"}],
                            "name": {
                                "formatted_name": "Barbara J. Johnson",
                                "first_name": "Barbara",
                                "last_name": "Johnson",
                                "middle_name": "Joana",
                            },
                            "org": {"company": "Lucky Shrub", "title": "Manager"},
                            "phones": [
                                {
                                    "phone": "+1 (650) 555-1234",
                                    "wa_id": "16505551234",
                                    "type": "WORK",
                                }
                            ],
                            "urls": [{"url": "https://www.luckyshrub.com", "type": "WORK"}],
                        }
                    ],
                )
            ]
        ),
        (FORWARDED,),
    ),
    # pywa tests/data/updates/message.json "contacts" (three cards, one without a last name)
    Fixture(
        "message/contacts-several",
        payload(
            messages=[
                message(
                    "contacts",
                    [
                        {
                            "name": {
                                "first_name": "Chandler",
                                "last_name": "Bing",
                                "formatted_name": "Chandler Bing",
                            },
                            "phones": [{"phone": "+1 555-555-5555", "type": "CELL"}],
                        },
                        {
                            "name": {"first_name": "Monica", "formatted_name": "Monica"},
                            "phones": [
                                {"phone": "+1 666-666-6666", "wa_id": "16666666666", "type": "HOME"}
                            ],
                        },
                        {
                            "name": {
                                "first_name": "Rachel",
                                "last_name": "Green",
                                "formatted_name": "Rachel Green",
                            },
                            "phones": [{"phone": "+1 777-777-7777", "type": "WORK"}],
                        },
                    ],
                )
            ]
        ),
        (FORWARDED,),
    ),
    # Meta interactive, "button_reply"; pywa tests/data/updates/callback_button.json "button"
    Fixture(
        "interactive/button_reply",
        payload(
            messages=[
                message(
                    "interactive",
                    {"type": "button_reply", "button_reply": {"id": "plan-pro", "title": "Pro"}},
                    context={"from": DEFAULT_DISPLAY_NUMBER, "id": wamid()},
                )
            ]
        ),
        (FORWARDED,),
    ),
    # Meta interactive, "list_reply" (with a description); pywa
    # tests/data/updates/callback_selection.json "description"
    Fixture(
        "interactive/list_reply",
        payload(
            messages=[
                message(
                    "interactive",
                    {
                        "type": "list_reply",
                        "list_reply": {
                            "id": "slot-0930",
                            "title": "9:30 tomorrow",
                            "description": "Berlin office, room 2",
                        },
                    },
                    context={"from": DEFAULT_DISPLAY_NUMBER, "id": wamid()},
                )
            ]
        ),
        (FORWARDED,),
    ),
    # Meta interactive, "nfm_reply" (a completed Flow); pywa
    # tests/data/updates/flow_completion.json "completion"
    Fixture(
        "interactive/nfm_reply",
        payload(
            messages=[
                message(
                    "interactive",
                    {
                        "type": "nfm_reply",
                        "nfm_reply": {
                            "response_json": '{"comment_text":"Fast delivery","delivery_rating'
                            '":"4","flow_token":"AQAAAAACS5FpgQ_cAAAAAD0QI3s."}',
                            "body": "Sent",
                            "name": "flow",
                        },
                    },
                    context={"from": DEFAULT_DISPLAY_NUMBER, "id": wamid()},
                )
            ]
        ),
        (FORWARDED,),
    ),
    # Meta interactive, "call_permission_reply" (Calling API: the user allowed calls); pywa
    # tests/data/updates/call_permission_update.json "accept". The gateway never asks for call
    # permission: a reply to someone else's request, recorded.
    Fixture(
        "interactive/call_permission_reply",
        payload(
            messages=[
                message(
                    "interactive",
                    {
                        "type": "call_permission_reply",
                        "call_permission_reply": {
                            "response": "accept",
                            "expiration_timestamp": 1767830400,
                            "response_source": "user_action",
                        },
                    },
                    context={"from": DEFAULT_PHONE_NUMBER_ID, "id": wamid()},
                )
            ]
        ),
        (RECORDED,),
    ),
    # Meta button (a template's quick-reply button); pywa tests/data/updates/callback_button.json
    # "quick_reply"
    Fixture(
        "message/button",
        payload(
            messages=[
                message(
                    "button",
                    {"payload": "STOP_PROMOTIONS", "text": "Stop promotions"},
                    context={"from": DEFAULT_DISPLAY_NUMBER, "id": wamid()},
                )
            ]
        ),
        (FORWARDED,),
    ),
    # Meta reaction; pywa tests/data/updates/message.json "reaction"
    Fixture(
        "message/reaction",
        payload(messages=[message("reaction", {"message_id": wamid(), "emoji": "\U0001f600"})]),
        (RECORDED,),
    ),
    # Meta reaction (removed: an empty emoji); pywa tests/data/updates/message.json
    # "unreaction_empty" and "unreaction_no_emoji"
    Fixture(
        "message/reaction-removed",
        payload(
            messages=[
                message("reaction", {"message_id": wamid(), "emoji": ""}),
                message("reaction", {"message_id": wamid()}),
            ]
        ),
        (RECORDED, RECORDED),
    ),
    # Meta order; pywa tests/data/updates/message.json "order" (empty text)
    Fixture(
        "message/order",
        payload(
            messages=[
                message(
                    "order",
                    {
                        "catalog_id": "354160437058781",
                        "text": "Please deliver after 6pm",
                        "product_items": [
                            {
                                "product_retailer_id": "HAMBURGER",
                                "quantity": 3,
                                "item_price": 30,
                                "currency": "USD",
                            },
                            {
                                "product_retailer_id": "FRENCH_FRIES",
                                "quantity": "2",
                                "item_price": 3.5,
                                "currency": "USD",
                            },
                        ],
                    },
                )
            ]
        ),
        (FORWARDED,),
    ),
    # Meta system ("customer_changed_number", the payload examples' older form)
    Fixture(
        "message/system-customer-changed-number",
        payload(
            messages=[
                message(
                    "system",
                    {
                        "body": f"NAME changed from {WA_ID} to 16315551182",
                        "new_wa_id": "16315551182",
                        "type": "customer_changed_number",
                    },
                )
            ]
        ),
        (RECORDED,),
    ),
    # Meta system ("user_changed_number"); pywa tests/data/updates/system.json
    # "phone_number_change"
    Fixture(
        "message/system-user-changed-number",
        payload(
            messages=[
                message(
                    "system",
                    {
                        "body": f"User A changed from {WA_ID} to 16315551183",
                        "wa_id": "16315551183",
                        "type": "user_changed_number",
                    },
                )
            ]
        ),
        (RECORDED,),
    ),
    # Meta system (identity change, with `identity`); pywa tests/data/updates/system.json
    # "identity_change"
    Fixture(
        "message/system-identity-changed",
        payload(
            messages=[
                message(
                    "system",
                    {"body": "User identity changed", "type": "customer_identity_changed"},
                    identity={
                        "acknowledged": True,
                        "created_timestamp": TIMESTAMP,
                        "hash": "DXn4ZG1rsRg=",
                    },
                )
            ]
        ),
        (RECORDED,),
    ),
    # pywa tests/data/updates/system.json "user_id_change" (business-scoped user ids: no `from`)
    Fixture(
        "message/system-user-id-changed",
        payload(
            messages=[
                {
                    "id": wamid(),
                    "timestamp": TIMESTAMP,
                    "system": {
                        "body": "User changed from CO.1234567890 to MX.0987654321",
                        "user_id": "MX.0987654321",
                        "previous_user_id": "CO.1234567890",
                        "type": "user_changed_user_id",
                    },
                    "type": "system",
                }
            ]
        ),
        (RECORDED,),
    ),
    # Meta request_welcome (the user opened the chat for the first time); pywa
    # tests/data/updates/chat_opened.json
    Fixture(
        "message/request_welcome",
        payload(messages=[message("request_welcome")]),
        (RECORDED,),
    ),
    # Meta unsupported (a poll, with `unsupported.type` and the 131051 error); whatsapp-api-js
    # ServerUnsupportedMessage
    Fixture(
        "message/unsupported",
        payload(
            messages=[
                message(
                    "unsupported",
                    {"type": "poll_creation"},
                    errors=[UNSUPPORTED_ERROR],
                )
            ]
        ),
        (ANSWERED,),
    ),
    # pywa tests/data/updates/message.json "unsupported"; whatsapp-api-js ServerUnknownMessage
    # (`type: unknown`, errors only)
    Fixture(
        "message/unknown",
        payload(messages=[message("unknown", errors=[UNSUPPORTED_ERROR])]),
        (ANSWERED,),
    ),
    # Meta errors: a known type (interactive) whose body Meta could not give
    Fixture(
        "interactive/errors-only",
        payload(
            messages=[
                message(
                    "interactive",
                    errors=[
                        {
                            "code": 131000,
                            "title": "Something went wrong",
                            "message": "Something went wrong",
                            "error_data": {"details": "Unsupported webhook payload"},
                        }
                    ],
                )
            ]
        ),
        (RECORDED,),
    ),
    # pywa tests/data/updates/message.json "interactive_message_with_err": an interactive
    # without a body, the error on the change (both recorded)
    Fixture(
        "interactive/change-errors",
        envelope(
            {
                "value": value(
                    messages=[
                        message(
                            "interactive",
                            context={"from": DEFAULT_DISPLAY_NUMBER, "id": wamid()},
                        )
                    ],
                    errors=[
                        {
                            "code": 131000,
                            "title": "Something went wrong",
                            "message": "Something went wrong",
                            "error_data": {"details": "Unsupported webhook payload"},
                        }
                    ],
                ),
                "field": "messages",
            }
        ),
        (RECORDED, RECORDED),
    ),
    # A type newer than the adapter (Meta adds types; shaped like Meta's others)
    Fixture(
        "message/future-type",
        payload(messages=[message("hologram", {"id": "9000", "duration": 3})]),
        (ANSWERED,),
    ),
    # Meta edit (Coexistence numbers: the user edited a text they sent); pywa
    # tests/data/updates/edited_message.json "edit_text". An edit is recorded, as on Telegram.
    Fixture(
        "message/edit",
        payload(
            messages=[
                message(
                    "edit",
                    {
                        "original_message_id": wamid(),
                        "message": {"type": "text", "text": {"body": "Text was edited"}},
                    },
                )
            ]
        ),
        (RECORDED,),
    ),
    # Meta revoke (Coexistence numbers: the user deleted a message); pywa
    # tests/data/updates/deleted_message.json "revoke". Not something the user said: recorded.
    Fixture(
        "message/revoke",
        payload(messages=[message("revoke", {"original_message_id": wamid()})]),
        (RECORDED,),
    ),
    # Meta group (a message a user wrote in a group the business number is in: `group_id`).
    # Recorded: the adapter answers 1:1 chats only, and an answer to the sender's number would
    # take the group's talk private (groups would need sends to the group id).
    Fixture(
        "message/group-text",
        payload(
            messages=[
                message(
                    "text",
                    {"body": "hello group"},
                    group_id="Y2FwaV9ncm91cDoxNjMxNTU1MTE4MToxMjAzNjMzODk3NDE5NDg1NTQ=",
                )
            ]
        ),
        (RECORDED,),
    ),
    # Meta status: sent (conversation and per-message pricing); pywa
    # tests/data/updates/message_status.json "sent"
    Fixture(
        "status/sent",
        payload(statuses=[status("sent", conversation=CONVERSATION, pricing=PRICING)]),
        (STATUS,),
    ),
    # Meta status: delivered; pywa tests/data/updates/message_status.json "delivered"
    Fixture(
        "status/delivered",
        payload(statuses=[status("delivered", pricing=PRICING)]),
        (STATUS,),
    ),
    # Meta status: read; pywa tests/data/updates/message_status.json "read"
    Fixture("status/read", payload(statuses=[status("read")]), (STATUS,)),
    # Meta status: played (a voice message the user played)
    Fixture("status/played", payload(statuses=[status("played")]), (STATUS,)),
    # Meta status: failed (errors); pywa tests/data/updates/message_status.json "failed"
    Fixture(
        "status/failed",
        payload(
            statuses=[
                status(
                    "failed",
                    errors=[
                        {
                            "code": 131047,
                            "title": "Re-engagement message",
                            "message": "Re-engagement message",
                            "error_data": {
                                "details": "Message failed to send because more than 24 hours "
                                "have passed since the customer last replied to this number."
                            },
                            "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/"
                            "support/error-codes/",
                        }
                    ],
                )
            ]
        ),
        (STATUS,),
    ),
    # Meta status: the older conversation-based pricing (CBP) with a conversation origin
    Fixture(
        "status/conversation-pricing",
        payload(
            statuses=[
                status(
                    "delivered",
                    conversation={
                        "id": "c0ffee0000000000000000000000beef",
                        "origin": {"type": "utility"},
                    },
                    pricing={"billable": True, "pricing_model": "CBP", "category": "utility"},
                )
            ]
        ),
        (STATUS,),
    ),
    # Meta business-scoped user ids: a status for a username-only user (`recipient_user_id`, no
    # `recipient_id`)
    Fixture(
        "status/username-only-recipient",
        payload(
            statuses=[
                {
                    "id": wamid(),
                    "status": "delivered",
                    "timestamp": TIMESTAMP,
                    "recipient_user_id": "US.13491208655302741999",
                    "pricing": PRICING,
                }
            ]
        ),
        (STATUS,),
    ),
    # Meta status with `biz_opaque_callback_data`; pywa tests/data/updates/message_status.json
    # "with_tracker"
    Fixture(
        "status/biz_opaque_callback_data",
        payload(
            statuses=[
                status(
                    "sent",
                    biz_opaque_callback_data="campaign=spring;variant=b",
                    conversation=CONVERSATION,
                    pricing=PRICING,
                )
            ]
        ),
        (STATUS,),
    ),
    # {REF}/messages: "several messages in one change" (Meta batches a user's burst)
    Fixture(
        "batch/several-messages",
        payload(
            messages=[
                message("text", {"body": "first"}),
                message("text", {"body": "second"}),
                message("location", {"latitude": 52.52, "longitude": 13.405}),
            ]
        ),
        (FORWARDED, FORWARDED, FORWARDED),
    ),
    # {REF}/messages: messages and statuses in one change value
    Fixture(
        "batch/messages-and-statuses",
        payload(
            messages=[message("text", {"body": "thanks!"})],
            statuses=[status("delivered"), status("read")],
        ),
        (FORWARDED, STATUS, STATUS),
    ),
    # Meta's envelope: several entries, several changes each (one for another number of the
    # same WABA, skipped); pywa tests/data/updates shapes
    Fixture(
        "batch/several-entries-and-changes",
        envelope(
            {
                "value": value(messages=[message("text", {"body": "entry one"})]),
                "field": "messages",
            },
            {"value": value(statuses=[status("sent")]), "field": "messages"},
            {"value": value(statuses=[status("read")]), "field": "messages"},
            {
                "value": value(messages=[message("text", {"body": "for another number"})])
                | {
                    "metadata": {
                        "display_phone_number": "15550000000",
                        "phone_number_id": "999999999999999",
                    }
                },
                "field": "messages",
            },
            entries=2,
        ),
        (FORWARDED, STATUS, STATUS),
    ),
    # A batch with one item of the wrong shape (a message without its id, a status whose id is
    # a number): that item recorded, its siblings processed
    Fixture(
        "batch/one-wrong-shape",
        payload(
            messages=[
                message("text", {"body": "before the odd one"}),
                {"from": WA_ID, "timestamp": TIMESTAMP, "type": "text", "text": {"body": "no id"}},
                message("text", {"body": "after the odd one"}),
            ],
            statuses=[status("delivered", id=12345), status("read")],
        ),
        (FORWARDED, RECORDED, FORWARDED, RECORDED, STATUS),
    ),
    # Other webhook fields: WABA management, not user messages, nothing stored (the gateway
    # subscribes to `messages`; these are acknowledged and dropped). Meta
    # {REF}/message_template_status_update; pywa tests/data/updates/template_status_update.json
    Fixture(
        "field/message_template_status_update",
        field_change(
            "message_template_status_update",
            {
                "event": "APPROVED",
                "message_template_id": 12345678,
                "message_template_name": "order_update",
                "message_template_language": "en_US",
                "reason": "NONE",
            },
        ),
        (),
    ),
    # Meta {REF}/message_template_quality_update; pywa
    # tests/data/updates/template_quality_update.json
    Fixture(
        "field/message_template_quality_update",
        field_change(
            "message_template_quality_update",
            {
                "previous_quality_score": "GREEN",
                "new_quality_score": "YELLOW",
                "message_template_id": 806312974732579,
                "message_template_name": "welcome_template",
                "message_template_language": "en-US",
            },
        ),
        (),
    ),
    # Meta {REF}/account_update; pywa tests/data/updates/account_update.json
    # "account_restriction"
    Fixture(
        "field/account_update",
        field_change(
            "account_update",
            {
                "event": "ACCOUNT_RESTRICTION",
                "restriction_info": [
                    {
                        "restriction_type": "RESTRICTED_BIZ_INITIATED_MESSAGING",
                        "expiration": 1767312000,
                    },
                ],
            },
        ),
        (),
    ),
    # Meta {REF}/phone_number_quality_update
    Fixture(
        "field/phone_number_quality_update",
        field_change(
            "phone_number_quality_update",
            {
                "display_phone_number": DEFAULT_DISPLAY_NUMBER,
                "event": "FLAGGED",
                "current_limit": "TIER_10K",
            },
        ),
        (),
    ),
    # Meta {REF}/phone_number_name_update
    Fixture(
        "field/phone_number_name_update",
        field_change(
            "phone_number_name_update",
            {
                "display_phone_number": DEFAULT_DISPLAY_NUMBER,
                "decision": "APPROVED",
                "requested_verified_name": "Lucky Shrub",
                "rejection_reason": None,
            },
        ),
        (),
    ),
    # Meta {REF}/calls (Calling API: a user calls the business number); pywa
    # tests/data/updates/call_connect.json "user_initiated". Calls are not messages: nothing
    # stored (the number's calling is off unless the operator turns it on).
    Fixture(
        "field/calls",
        envelope(
            {
                "value": value(
                    calls=[
                        {
                            "id": "wacid.HBgLMTYzMTU1NTExODEVAgARGBJDT1JQVVNDQUxMMDAwMDAxAA==",
                            "from": WA_ID,
                            "to": DEFAULT_DISPLAY_NUMBER,
                            "event": "connect",
                            "timestamp": TIMESTAMP,
                            "direction": "USER_INITIATED",
                            "session": {"sdp": "v=0\r\n", "sdp_type": "offer"},
                        }
                    ],
                    contacts=[{"profile": {"name": "Kerry Fisher"}, "wa_id": WA_ID}],
                ),
                "field": "calls",
            }
        ),
        (),
    ),
    # Meta {REF}/business_capability_update
    Fixture(
        "field/business_capability_update",
        field_change(
            "business_capability_update",
            {"max_daily_conversation_per_phone": 1000, "max_phone_numbers_per_business": 2},
        ),
        (),
    ),
]
