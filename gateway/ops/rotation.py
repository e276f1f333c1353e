"""Key rotation: re-encrypt every stored secret under the newest GATEWAY_SECRET_KEY key."""

from __future__ import annotations

from sqlalchemy import select

from gateway.config import Settings
from gateway.storage.db import Database
from gateway.storage.db.models import ChannelAccount, Project
from gateway.storage.db.schema import ensure_current
from gateway.storage.secrets import SecretBox, SecretKeyError, load_secret_box


def _rotate(box: SecretBox, token: str, what: str) -> str:
    try:
        return box.rotate(token)
    except SecretKeyError:
        raise SecretKeyError(
            f"the secrets of {what} do not decrypt with any key in GATEWAY_SECRET_KEY; keep the "
            "key they were written with in the list (after the new one) and run rotate again; "
            "nothing was changed"
        ) from None


async def rotate_all(settings: Settings) -> int:
    """All or nothing: one transaction, so a key missing from the list changes no row."""
    box = load_secret_box(settings)
    db = Database(settings.database_url, pool_size=1)
    count = 0
    try:
        await ensure_current(db)
        async with db.session() as session, session.begin():
            projects = {p.id: p for p in (await session.scalars(select(Project))).all()}
            for account in (await session.scalars(select(ChannelAccount))).all():
                owner = projects[account.project_id].name if account.project_id in projects else "?"
                account.secrets_encrypted = _rotate(
                    box,
                    account.secrets_encrypted,
                    f"{account.channel} account {account.account!r} (project {owner!r})",
                )
                count += 1
            for project in projects.values():
                if project.core_key_encrypted:
                    project.core_key_encrypted = _rotate(
                        box, project.core_key_encrypted, f"project {project.name!r} (core key)"
                    )
                    count += 1
    finally:
        await db.close()
    return count
