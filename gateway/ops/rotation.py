"""Key rotation: re-encrypt every encrypted column under the newest GATEWAY_SECRET_KEY key.

The columns are those `gateway.storage.encrypted` finds in the models. A generated key file that
still holds a legacy (passphrase-derived) key is moved onto a new key here: the new key is put in
front of the old one in the file, everything is re-encrypted, then the old key is dropped.
"""

from __future__ import annotations

from pathlib import Path

from gateway.config import Settings
from gateway.storage import encrypted
from gateway.storage.db import Database
from gateway.storage.db.schema import ensure_current
from gateway.storage.secrets import (
    SecretBox,
    SecretKeyError,
    default_key_file,
    generate_key,
    is_fernet_key,
    load_secret_box,
    read_key_file,
    write_key_file,
)


def _rotate(box: SecretBox, token: str, what: str) -> str:
    try:
        return box.rotate(token)
    except SecretKeyError:
        raise SecretKeyError(
            f"the secrets of {what} do not decrypt with any key in {box.where}; keep the "
            "key they were written with in the list (after the new one) and run rotate again; "
            "nothing was changed"
        ) from None


def _upgrade_key_file(settings: Settings) -> Path | None:
    """With no GATEWAY_SECRET_KEY on SQLite and a key file whose newest key is a legacy one:
    put a new key in front of it; the file, to drop the old key from once all is rotated."""
    if settings.secret_keys() or not settings.is_sqlite:
        return None
    path = default_key_file(settings)
    if not path.exists():
        return None
    keys = read_key_file(path)
    if not keys or is_fernet_key(keys[0]):
        return None
    write_key_file(path, [generate_key(), *keys], replace=True)
    return path


async def rotate_all(settings: Settings) -> int:
    """All or nothing: one transaction, so a key missing from the list changes no row."""
    upgraded = _upgrade_key_file(settings)
    box = load_secret_box(settings)
    db = Database(settings.database_url, pool_size=1)
    try:
        await ensure_current(db)
        async with db.engine.begin() as conn:
            rows = await encrypted.sealed_rows(conn)
            for row in rows:
                tokens = {
                    column: _rotate(box, token, row.describe(column))
                    for column, token in row.tokens.items()
                }
                await encrypted.store(conn, row, tokens)
    finally:
        await db.close()
    if upgraded is not None:
        write_key_file(upgraded, read_key_file(upgraded)[:1], replace=True)
    return encrypted.count(rows)
