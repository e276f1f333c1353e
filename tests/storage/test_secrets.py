"""Keys for secrets at rest: only real keys (32 random bytes, urlsafe base64) encrypt; a legacy
passphrase still opens what it wrote, only behind a real key, until `gateway secrets rotate`
moves the data off it. The generated key file is private to its owner."""

from __future__ import annotations

import base64
import os
import secrets
import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from gateway.config import Settings
from gateway.storage.db import Database
from gateway.storage.db.models import Project
from gateway.storage.secrets import (
    SecretBox,
    SecretKeyError,
    default_key_file,
    generate_key,
    load_secret_box,
)
from tests.auxil.cli import cli_env, failed, gateway, ok
from tests.auxil.databases import sqlite_copy
from tests.auxil.legacy_keys import written_by_an_earlier_release

PASSPHRASE = "correct horse battery staple"


# Fixed values, not fresh random ones: parallel test workers must collect the same test ids.
UNPADDED = base64.urlsafe_b64encode(bytes(range(32))).rstrip(b"=").decode()  # 43 chars, no "="
HEX_KEY = bytes(range(32)).hex()


@pytest.mark.parametrize(
    "key",
    [PASSPHRASE, "change-me", UNPADDED, HEX_KEY, "x" * 44],
    ids=["passphrase", "placeholder", "unpadded", "hex", "not-base64"],
)
def test_a_key_that_is_not_32_random_bytes_in_urlsafe_base64_is_refused(key: str) -> None:
    with pytest.raises(SecretKeyError) as refused:
        SecretBox([key])
    message = str(refused.value)
    assert "gateway secrets generate-key" in message and "\n" not in message
    assert key not in message


def test_a_legacy_passphrase_opens_old_data_only_behind_a_real_key() -> None:
    old = written_by_an_earlier_release(PASSPHRASE, '{"token": "t0k3n"}')
    box = SecretBox([generate_key(), PASSPHRASE])
    assert box.legacy_positions == [2]
    assert box.decrypt(old) == {"token": "t0k3n"} and box.needs_legacy_key(old)
    rotated = box.rotate(old)
    assert not box.needs_legacy_key(rotated)
    fresh = box.encrypt({"a": "b"})
    assert not box.needs_legacy_key(fresh)


def _sqlite_settings(tmp_path: Path, template: Path, **values: object) -> Settings:
    return Settings(database_url=sqlite_copy(template, tmp_path), **values)  # type: ignore[arg-type]


def test_the_generated_key_file_is_a_real_key_readable_by_its_owner_only(
    tmp_path: Path, _sqlite_template: Path
) -> None:
    settings = _sqlite_settings(tmp_path, _sqlite_template)
    box = load_secret_box(settings)
    key_file = default_key_file(settings)
    assert key_file == tmp_path / ".gateway-secret.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert Fernet(key_file.read_text().strip().encode())  # a Fernet key, not a passphrase
    token = box.encrypt({"k": "v"})
    assert load_secret_box(settings).decrypt(token) == {"k": "v"}  # the same key next time

    os.chmod(key_file, 0o640)
    with pytest.raises(SecretKeyError) as refused:
        load_secret_box(settings)
    assert str(key_file) in str(refused.value) and f"chmod 600 {key_file}" in str(refused.value)
    os.chmod(key_file, 0o604)
    with pytest.raises(SecretKeyError):
        load_secret_box(settings)
    os.chmod(key_file, 0o600)
    assert load_secret_box(settings).decrypt(token) == {"k": "v"}


def test_a_passphrase_in_gateway_secret_key_is_refused_with_one_line(
    tmp_path: Path, _sqlite_template: Path
) -> None:
    settings = _sqlite_settings(tmp_path, _sqlite_template, secret_key=SecretStr(PASSPHRASE))
    with pytest.raises(SecretKeyError, match="generate-key"):
        load_secret_box(settings)


async def test_rotate_moves_a_legacy_key_file_onto_a_new_key(
    tmp_path: Path, _sqlite_template: Path
) -> None:
    """A zero-config install of an earlier release: the key file holds a passphrase-like key.
    The gateway refuses it, and `gateway secrets rotate` (no key set) moves the data onto a new
    key in the file."""
    db_url = sqlite_copy(_sqlite_template, tmp_path)
    key_file = tmp_path / ".gateway-secret.key"
    legacy = secrets.token_urlsafe(32)  # what the key file held
    key_file.write_text(legacy)
    key_file.chmod(0o600)
    db = Database(db_url, pool_size=1)
    try:
        async with db.session() as session, session.begin():
            session.add(
                Project(
                    name="old", model="balanced", unlinked_policy="link_required",
                    core_key_encrypted=written_by_an_earlier_release(
                        legacy, '{"core_api_key": "ck-123"}'
                    ),
                )
            )  # fmt: skip
    finally:
        await db.close()
    env = cli_env(db_url, "http://127.0.0.1:9", GATEWAY_SECRET_KEY=None)
    failed(await gateway("projects", "list", env=env), "gateway secrets rotate")

    result = ok(await gateway("secrets", "rotate", env=env))
    assert "re-encrypted" in result.stdout
    new_key = key_file.read_text().strip()
    assert new_key != legacy and Fernet(new_key.encode())
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    ok(await gateway("projects", "list", env=env))
    db = Database(db_url, pool_size=1)
    try:
        async with db.session() as session:
            stored = await session.scalar(
                Project.__table__.select().with_only_columns(Project.core_key_encrypted)
                .where(Project.name == "old")
            )  # fmt: skip
    finally:
        await db.close()
    assert SecretBox([new_key]).decrypt(stored) == {"core_api_key": "ck-123"}


async def test_generate_key_prints_a_key_the_gateway_takes(tmp_path: Path) -> None:
    env = cli_env("sqlite+aiosqlite:///unused.db", "http://127.0.0.1:9")
    first = ok(await gateway("secrets", "generate-key", env=env)).stdout.strip()
    second = ok(await gateway("secrets", "generate-key", env=env)).stdout.strip()
    assert first != second and len(first) == 44
    SecretBox([first, second])
