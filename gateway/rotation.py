"""Key rotation: re-encrypt every stored secret under the newest GATEWAY_SECRET_KEY key."""

from __future__ import annotations

from sqlalchemy import select

from gateway.config import Settings
from gateway.db import Database
from gateway.db.models import ChannelAccount, Project
from gateway.secrets import load_secret_box


async def rotate_all(settings: Settings) -> int:
    box = load_secret_box(settings)
    db = Database(settings.database_url, pool_size=1)
    count = 0
    try:
        async with db.session() as session, session.begin():
            for account in (await session.scalars(select(ChannelAccount))).all():
                account.secrets_encrypted = box.rotate(account.secrets_encrypted)
                count += 1
            for project in (await session.scalars(select(Project))).all():
                if project.core_key_encrypted:
                    project.core_key_encrypted = box.rotate(project.core_key_encrypted)
                    count += 1
    finally:
        await db.close()
    return count
