"""Key rotation and `gateway verify` cover every encrypted column: the columns are listed here
from the migrated database by name, independently of the code that rotates them, so a secret
column added later without being covered fails this test."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import inspect, select, text

from gateway.ops.rotation import rotate_all
from gateway.ops.verify import run_checks
from gateway.storage.db import Database
from gateway.storage.db.models import InboxEvent
from gateway.storage.media_store import KeptMedia
from gateway.storage.secrets import SecretBox, SecretKeyError, generate_key
from tests.auxil import updates
from tests.auxil.harness import SECRET_KEY, Harness, settings_for
from tests.auxil.legacy_keys import written_by_an_earlier_release

NEW_KEY = generate_key()


async def _encrypted_columns(db: Database) -> dict[str, list[str]]:
    """Every column of the live schema whose name says it holds ciphertext."""

    def listing(sync_conn: Any) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        schema = inspect(sync_conn)
        for table in schema.get_table_names():
            names = [c["name"] for c in schema.get_columns(table) if "encrypt" in c["name"]]
            if names:
                found[table] = names
        return found

    async with db.engine.connect() as conn:
        return await conn.run_sync(listing)


async def _fill(db: Database, box: SecretBox, columns: dict[str, list[str]]) -> None:
    """Every encrypted column of every row set, under `box`, to what it held (if anything) plus
    a value naming its place."""
    async with db.engine.begin() as conn:
        for table, names in columns.items():
            query = text(f"SELECT id, {', '.join(names)} FROM {table}")
            rows = (await conn.execute(query)).all()
            assert rows, f"no {table} row to test rotation with: give the fixture one"
            for row_id, *held in rows:
                values = {
                    n: box.encrypt({**box.decrypt(old), "probe": f"{table}.{n}.{row_id}"})
                    for n, old in zip(names, held, strict=True)
                }
                assigns = ", ".join(f"{n} = :{n}" for n in names)
                await conn.execute(
                    text(f"UPDATE {table} SET {assigns} WHERE id = :id"), {**values, "id": row_id}
                )


async def _stored(db: Database, columns: dict[str, list[str]]) -> dict[str, str]:
    found: dict[str, str] = {}
    async with db.engine.connect() as conn:
        for table, names in columns.items():
            for row in await conn.execute(text(f"SELECT id, {', '.join(names)} FROM {table}")):
                for name, value in zip(names, row[1:], strict=True):
                    found[f"{table}.{name}.{row[0]}"] = value
    return found


async def _keep_a_media_item(harness: Harness) -> None:
    """A message's photo kept (media retention), so `media_items` has a row to rotate."""
    await harness.post_update(updates.message("hello"))
    await harness.telegram.wait_for("sendMessage", 1)
    assert harness.runtime is not None
    async with harness.runtime.db.session() as session:
        event = (await session.scalars(select(InboxEvent))).one()
    photo = KeptMedia(0, "image", "image/jpeg", None, b"\xff\xd8\xff")
    await harness.runtime.media_store.save(event.project_id, event.id, [photo])


async def test_rotation_and_verify_cover_every_encrypted_column(harness: Harness) -> None:
    await _keep_a_media_item(harness)
    await harness.stop_gateway()
    db = Database(harness.db_url, pool_size=1)
    try:
        columns = await _encrypted_columns(db)
        assert {"projects", "channel_accounts"} <= set(columns)
        assert len(columns["projects"]) >= 4  # core key, approval webhook, core admin + events
        await _fill(db, SecretBox([SECRET_KEY]), columns)
        before = await _stored(db, columns)

        settings = settings_for(
            harness.db_url, harness.telegram_url, harness.core_url,
            secret_key=f"{NEW_KEY},{SECRET_KEY}",
        )  # fmt: skip
        assert await rotate_all(settings) == len(before)

        # The old key is dropped: every value opens with the new key alone, and holds what it held.
        after = await _stored(db, columns)
        new_only, old_only = SecretBox([NEW_KEY]), SecretBox([SECRET_KEY])
        for place, token in after.items():
            assert new_only.decrypt(token)["probe"] == place
            with pytest.raises(SecretKeyError):
                old_only.decrypt(token)
        checks = await run_checks(
            settings_for(harness.db_url, harness.telegram_url, harness.core_url,
                         secret_key=NEW_KEY),
            "default", None,
        )  # fmt: skip
        secret_row = next(c for c in checks if c.name == "secret_key")
        assert secret_row.status == "PASS" and f"{len(after)} stored" in secret_row.reason

        # Verify opens every one: any single column under a key it does not have is a FAIL
        # naming that column.
        stranger = SecretBox([generate_key()])
        for table, names in columns.items():
            for name in names:
                async with db.engine.begin() as conn:
                    good = (await conn.execute(text(f"SELECT id, {name} FROM {table}"))).first()
                    assert good is not None
                    await conn.execute(
                        text(f"UPDATE {table} SET {name} = :v WHERE id = :id"),
                        {"v": stranger.encrypt({"x": "y"}), "id": good[0]},
                    )
                checks = await run_checks(
                    settings_for(harness.db_url, harness.telegram_url, harness.core_url,
                                 secret_key=NEW_KEY),
                    "default", None,
                )  # fmt: skip
                assert (checks[-1].name, checks[-1].status) == ("secret_key", "FAIL")
                assert f"({name})" in checks[-1].reason and table in checks[-1].reason
                async with db.engine.begin() as conn:
                    await conn.execute(
                        text(f"UPDATE {table} SET {name} = :v WHERE id = :id"),
                        {"v": good[1], "id": good[0]},
                    )
    finally:
        await db.close()


async def test_verify_flags_a_legacy_passphrase_key_until_nothing_needs_it(
    harness: Harness,
) -> None:
    await harness.stop_gateway()
    passphrase = "an old passphrase from an earlier release"
    db = Database(harness.db_url, pool_size=1)
    try:
        async with db.engine.begin() as conn:
            held = (await conn.execute(text("SELECT core_key_encrypted FROM projects"))).scalar()
            core_key = SecretBox([SECRET_KEY]).decrypt(held)
            await conn.execute(
                text("UPDATE projects SET core_key_encrypted = :v"),
                {"v": written_by_an_earlier_release(passphrase, json.dumps(core_key))},
            )
    finally:
        await db.close()
    settings = settings_for(
        harness.db_url, harness.telegram_url, harness.core_url,
        secret_key=f"{SECRET_KEY},{passphrase}",
    )  # fmt: skip

    async def secret_row() -> tuple[str, str]:
        checks = await run_checks(settings, "default", None)
        row = next(c for c in checks if c.name == "secret_key")
        assert passphrase not in row.reason
        return row.status, row.reason

    status, reason = await secret_row()
    assert status == "WARN" and "key #2 is an old-format" in reason
    assert "1 of them still need it: run `gateway secrets rotate`" in reason
    await rotate_all(settings)
    status, reason = await secret_row()
    assert status == "WARN" and "no stored secret needs it any more: drop it" in reason
