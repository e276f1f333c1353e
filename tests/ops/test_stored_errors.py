"""Error texts the gateway keeps (`last_error`, a turn's `error`) never hold a secret: an
exception quoting a Bot API URL carries the bot token, and those texts are stored, listed by
`gateway outbox list` / `inbox list`, support bundles and the admin API."""

from __future__ import annotations

import json

from sqlalchemy import String, Text, select

from gateway.storage.db.models import Base, ErrorText, OutboundMessage
from tests.auxil import updates
from tests.auxil.cli import as_json, cli_env, gateway, rows
from tests.auxil.harness import SECRET_KEY, Harness, eventually

LEAKED = "123:ABCdefGhIJKlmnOPQRstuVWxyz_0123456789"
URL = f"https://api.telegram.org/bot{LEAKED}/sendMessage"


async def _failed(h: Harness) -> OutboundMessage | None:
    assert h.runtime is not None
    async with h.runtime.db.session() as session:
        query = select(OutboundMessage).where(OutboundMessage.status == "failed")
        return (await session.scalars(query)).first()


async def test_a_send_failure_quoting_the_token_is_stored_and_listed_without_it(
    harness: Harness,
) -> None:
    harness.telegram.fail_next("sendMessage", status=400, description=f"Bad Request: {URL}")
    await harness.post_update(updates.message("hello"))
    failed = await eventually(lambda: _failed(harness))
    assert failed is not None

    stored = await rows(harness.db_url, "SELECT last_error FROM outbound_messages")
    text = json.dumps(stored).lower()  # PTB recases the description
    assert "telegram 400" in text and "api.telegram.org/bot<bot-token>/sendmessage" in text
    assert LEAKED.lower() not in text and "123:abc" not in text

    env = cli_env(harness.db_url, harness.telegram_url, GATEWAY_SECRET_KEY=SECRET_KEY)
    listed = as_json(await gateway("outbox", "list", "--json", env=env))
    assert len(listed) == 1 and "/bot<bot-token>/" in listed[0]["reason"]
    assert "123:abc" not in json.dumps(listed).lower()

    # A row written before the scrubbing existed is scrubbed when it is listed.
    async with harness.runtime.db.engine.begin() as conn:  # type: ignore[union-attr]
        await conn.exec_driver_sql(
            f"UPDATE outbound_messages SET last_error = 'InvalidUrlClientError: {URL}'"
        )
    listed = as_json(await gateway("outbox", "list", "--json", env=env))
    assert "/bot<bot-token>/" in listed[0]["reason"] and LEAKED not in json.dumps(listed)


def test_every_error_text_column_is_scrubbed() -> None:
    """Any text column named like an error (`last_error`, `error`) is an `ErrorText`; the
    provider's short delivery error code is the one exception."""
    columns = {
        f"{table.name}.{column.name}": column
        for table in Base.metadata.sorted_tables
        for column in table.columns
        if "error" in column.name and isinstance(column.type, (String, Text, ErrorText))
    }
    assert {"inbox_events.last_error", "turns.error", "outbound_messages.last_error",
            "webhook_deliveries.last_error"} <= set(columns)  # fmt: skip
    unscrubbed = [
        name
        for name, column in columns.items()
        if not isinstance(column.type, ErrorText) and name != "outbound_messages.delivery_error"
    ]
    assert unscrubbed == []
