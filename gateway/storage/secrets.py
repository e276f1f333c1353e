"""Secrets at rest: channel tokens, core keys and webhook secrets are stored only as Fernet tokens.

`GATEWAY_SECRET_KEY` holds one or more comma-separated keys, newest first. The first encrypts;
every key decrypts, so a key is rotated by prepending a new one (`gateway secrets generate-key`),
running `gateway secrets rotate`, then dropping the old one.

A key is a Fernet key: 32 random bytes in urlsafe base64 (44 characters). Earlier releases also
took any passphrase (stretched with HKDF); such a *legacy* key is still accepted after the first
one, only so that `gateway secrets rotate` can move what it encrypted onto a real key
(`gateway verify` warns while one is configured). With no key set on SQLite, a generated key file
next to the database is used; it must not be readable by anyone but its owner.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import stat
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from gateway.config import Settings
from gateway.errors import StartupError
from gateway.logs import log

_FERNET_KEY = re.compile(r"[A-Za-z0-9_-]{43}=")
"""32 bytes in urlsafe base64 with its padding: exactly what `Fernet.generate_key()` prints."""
KEY_HINT = "generate one with `gateway secrets generate-key`"


class SecretKeyError(StartupError):
    """Stored secrets cannot be decrypted with the configured keys (or no usable key is set)."""


def generate_key() -> str:
    return Fernet.generate_key().decode()


def is_fernet_key(key: str) -> bool:
    return _FERNET_KEY.fullmatch(key) is not None


def _legacy_fernet(key: str) -> Fernet:
    """How earlier releases turned any key into a Fernet key (kept bit for bit: data written
    with a passphrase must still decrypt until it is rotated)."""
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
    def __init__(self, keys: list[str], where: str = "GATEWAY_SECRET_KEY") -> None:
        if not keys:
            raise SecretKeyError(f"{where} is empty ({KEY_HINT})")
        if not is_fernet_key(keys[0]):
            raise SecretKeyError(
                f"the first key of {where} is not a key (32 random bytes in urlsafe base64, "
                f"44 characters); {KEY_HINT}, put it first and keep the old one after it, then "
                "run `gateway secrets rotate`"
            )
        self._keys = keys
        self.where = where
        self.legacy_positions = [i + 1 for i, k in enumerate(keys) if not is_fernet_key(k)]
        """1-based positions of legacy (passphrase) keys: decrypt only, to be rotated off."""
        self._fernet = MultiFernet([_legacy_fernet(k) for k in keys])
        self._current = MultiFernet([Fernet(k.encode()) for k in keys if is_fernet_key(k)])

    def encrypt(self, values: dict[str, str]) -> str:
        return self._fernet.encrypt(json.dumps(values, sort_keys=True).encode()).decode()

    def decrypt(self, token: str | None) -> dict[str, str]:
        if not token:
            return {}
        try:
            return json.loads(self._fernet.decrypt(token.encode()))
        except InvalidToken as exc:
            raise SecretKeyError(
                f"stored secrets do not decrypt with {self.where} (wrong or rotated-out key)"
            ) from exc

    def needs_legacy_key(self, token: str) -> bool:
        """True when `token` opens only with a legacy key (it has not been rotated yet)."""
        try:
            self._current.decrypt(token.encode())
        except InvalidToken:
            return True
        return False

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


def default_key_file(settings: Settings) -> Path:
    """Next to the SQLite file, so a zero-config install keeps working across restarts."""
    db_path = settings.database_url.split("///", 1)[-1] or "gateway.db"
    return Path(db_path).resolve().parent / ".gateway-secret.key"


def parse_keys(text: str) -> list[str]:
    """Keys as `GATEWAY_SECRET_KEY` lists them: comma-separated, newest first."""
    return [k.strip() for k in text.split(",") if k.strip()]


def read_key_file(path: Path) -> list[str]:
    """The keys of the generated key file, refused when anyone but its owner may read it."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise SecretKeyError(
            f"the key file {path} is accessible by group or others (mode {mode:o}): "
            f"run `chmod 600 {path}`"
        )
    return parse_keys(path.read_text())


def write_key_file(path: Path, keys: list[str], *, replace: bool) -> bool:
    """Write `keys` with mode 0600 through a temporary file. Without `replace`, only when the
    file does not exist yet (two processes starting together keep one key); False if it did."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(",".join(keys) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        if replace:
            os.replace(temp, path)
            return True
        try:
            os.link(temp, path)
        except FileExistsError:
            return False
        return True
    finally:
        temp.unlink(missing_ok=True)


def load_secret_box(settings: Settings) -> SecretBox:
    keys = settings.secret_keys()
    if keys:
        box = SecretBox(keys)
        if box.legacy_positions:
            log.warning(
                "secrets.legacy_key",
                positions=box.legacy_positions,
                hint="run `gateway secrets rotate`, then drop the old-format key",
            )
        return box
    if not settings.is_sqlite:
        raise SecretKeyError(
            f"GATEWAY_SECRET_KEY is required with a PostgreSQL DATABASE_URL ({KEY_HINT})"
        )
    key_file = default_key_file(settings)
    if not key_file.exists():
        write_key_file(key_file, [generate_key()], replace=False)
    keys = read_key_file(key_file)
    if keys and not is_fernet_key(keys[0]):
        raise SecretKeyError(
            f"the key file {key_file} holds a key of an old format (a passphrase): run "
            "`gateway secrets rotate` once to move the stored secrets onto a new key"
        )
    return SecretBox(keys, where=f"the key file {key_file}")
