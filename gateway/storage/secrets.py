"""Secrets at rest: channel tokens and core keys are stored only as Fernet tokens.

`GATEWAY_SECRET_KEY` holds one or more comma-separated keys. The first encrypts; every key decrypts,
so a key is rotated by prepending the new one, running `gateway secrets rotate`, then dropping the
old one. A key may be a Fernet key or any passphrase (stretched with HKDF to 32 bytes).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from gateway.config import Settings


class SecretKeyError(RuntimeError):
    """Stored secrets cannot be decrypted with the configured keys (or no key is configured)."""


def _fernet_for(key: str) -> Fernet:
    try:
        if len(base64.urlsafe_b64decode(key.encode())) == 32:
            return Fernet(key.encode())
    except (ValueError, TypeError):
        pass
    stretched = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"channel-gateway", info=b"secrets-at-rest"
    ).derive(key.encode())
    return Fernet(base64.urlsafe_b64encode(stretched))


class SecretBox:
    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise SecretKeyError("GATEWAY_SECRET_KEY is empty")
        self._keys = keys
        self._fernet = MultiFernet([_fernet_for(k) for k in keys])

    def encrypt(self, values: dict[str, str]) -> str:
        return self._fernet.encrypt(json.dumps(values, sort_keys=True).encode()).decode()

    def decrypt(self, token: str | None) -> dict[str, str]:
        if not token:
            return {}
        try:
            return json.loads(self._fernet.decrypt(token.encode()))
        except InvalidToken as exc:
            raise SecretKeyError(
                "stored secrets do not decrypt with GATEWAY_SECRET_KEY (wrong or rotated-out key)"
            ) from exc

    def rotate(self, token: str) -> str:
        """Re-encrypt under the first (newest) key."""
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken as exc:
            raise SecretKeyError(
                "a stored secret does not decrypt with any configured key"
            ) from exc

    def keyed_hashes(self, purpose: str, material: str) -> list[str]:
        """HMAC-SHA256 of `material` under every key, newest first: store the first, look up
        by any, so values hashed before a key rotation still match after it."""
        return [
            hmac.new(key.encode(), f"{purpose}:{material}".encode(), hashlib.sha256).hexdigest()
            for key in self._keys
        ]

    def derive(self, purpose: str, material: str) -> str:
        """A stable, URL-safe value derived from `material` (e.g. a webhook secret from a token)."""
        digest = hmac.new(self._keys[0].encode(), f"{purpose}:{material}".encode(), hashlib.sha256)
        return digest.hexdigest()[:48]


def _default_key_file(settings: Settings) -> Path:
    """Next to the SQLite file, so a zero-config install keeps working across restarts."""
    db_path = settings.database_url.split("///", 1)[-1] or "gateway.db"
    return Path(db_path).resolve().parent / ".gateway-secret.key"


def load_secret_box(settings: Settings) -> SecretBox:
    keys = settings.secret_keys()
    if keys:
        return SecretBox(keys)
    if not settings.is_sqlite:
        raise SecretKeyError(
            "GATEWAY_SECRET_KEY is required with a PostgreSQL DATABASE_URL "
            "(generate one: python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    key_file = _default_key_file(settings)
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(32))
    return SecretBox([key_file.read_text().strip()])
