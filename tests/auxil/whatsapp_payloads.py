"""WhatsApp Cloud API messages the fake's builders do not make, in the documented shapes.

Sources: Meta's messages webhook reference (developers.facebook.com/documentation/
business-messaging/whatsapp/webhooks/reference/messages: `order`, `unsupported`, `system`), and
whatsapp-api-js's server types (`ServerUnsupportedMessage`, `ServerUnknownMessage`,
`ServerOrderMessage`). The interactive message that carries only `errors` is the one issue 24
saw refused: Meta sends it when it cannot give the reply's body.
"""

from __future__ import annotations

import time
from typing import Any

from gateway.dev.fake_whatsapp import new_wamid

UNSUPPORTED_ERROR = {
    "code": 131051,
    "title": "Message type unknown",
    "message": "Message type unknown",
    "error_data": {"details": "Message type is currently not supported."},
}


def _base(from_: str, kind: str, message_id: str | None = None) -> dict[str, Any]:
    return {
        "from": from_,
        "id": message_id or new_wamid(),
        "timestamp": str(int(time.time())),
        "type": kind,
    }


def order_message(
    from_: str, catalog_id: str, items: list[tuple[str, int, float, str]], text: str = ""
) -> dict[str, Any]:
    """A catalog cart: (product_retailer_id, quantity, item_price, currency) per item."""
    order: dict[str, Any] = {
        "catalog_id": catalog_id,
        "product_items": [
            {"product_retailer_id": sku, "quantity": n, "item_price": price, "currency": cur}
            for sku, n, price, cur in items
        ],
    }
    if text:
        order["text"] = text
    return _base(from_, "order") | {"order": order}


def unsupported_message(from_: str, what: str = "poll_creation") -> dict[str, Any]:
    """Something the Cloud API does not deliver to businesses (a poll, a view-once photo)."""
    return _base(from_, "unsupported") | {
        "errors": [UNSUPPORTED_ERROR],
        "unsupported": {"type": what},
    }


def unknown_message(from_: str) -> dict[str, Any]:
    """The older form of the same: `type: unknown`, errors only."""
    return _base(from_, "unknown") | {"errors": [UNSUPPORTED_ERROR]}


def errors_only(from_: str, kind: str = "interactive") -> dict[str, Any]:
    """A message of a known type whose body Meta could not give: `errors`, no body."""
    return _base(from_, kind) | {"errors": [UNSUPPORTED_ERROR]}


def system_message(from_: str, new_wa_id: str) -> dict[str, Any]:
    """The user changed their number."""
    body = f"User {from_} changed from {from_} to {new_wa_id}"
    system = {"body": body, "wa_id": new_wa_id, "type": "user_changed_number"}
    return _base(from_, "system") | {"system": system}
