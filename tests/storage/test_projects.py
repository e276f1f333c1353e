"""Project `default` from the environment when several processes start at once on a new
database (compose and Kubernetes start web and worker together after the migration)."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from gateway.config import Settings
from gateway.storage.db import Database
from gateway.storage.db.models import ChannelAccount, Project
from gateway.storage.projects import ProjectStore
from gateway.storage.secrets import SecretBox
from tests.auxil.harness import BOT_TOKEN, SECRET_KEY

STARTING = 4


async def test_processes_starting_together_create_the_default_project_once(db_url: str) -> None:
    settings = Settings(
        database_url=db_url,
        secret_key=SECRET_KEY,
        telegram_bot_token=BOT_TOKEN,
        core_base_url="http://127.0.0.1:9",
    )
    databases = [Database(db_url, pool_size=1) for _ in range(STARTING)]
    try:
        stores = [ProjectStore(db, SecretBox([SECRET_KEY]), settings) for db in databases]
        await asyncio.gather(*(store.apply_environment() for store in stores))
        async with databases[0].session() as session:
            assert await session.scalar(select(func.count()).select_from(Project)) == 1
            assert await session.scalar(select(func.count()).select_from(ChannelAccount)) == 1
    finally:
        await asyncio.gather(*(db.close() for db in databases))
