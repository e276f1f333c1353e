"""Identity links, one-time link codes, the allowlist, and how a turn's sender is resolved.

A change of who a sender is (a link, a move to another app user, an unlink, from the chat or by
an operator) starts a new conversation in each of the sender's chats, in the same transaction:
the core never carries one person's context over to another identity.

Every change is written to the audit log with its actor (`cli`, `admin-api:global`,
`admin-api:key:<name>(<id>)`, or the chat sender as `chat:<channel>:<sender>`), in the same
transaction as the change itself.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, cast

from sqlalchemy import CursorResult, Integer, String, bindparam, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.storage.batching import GroupCommit
from gateway.storage.conversation_keys import of_sender
from gateway.storage.db import Database
from gateway.storage.db.models import (
    AllowlistEntry,
    AuditEntry,
    Conversation,
    IdentityLink,
    LinkCode,
    LinkFailure,
    Project,
    UTCDateTime,
    utcnow,
)
from gateway.storage.db.raw import KeyLookup, Statements
from gateway.storage.secrets import SecretBox
from identity import events
from identity.codes import new_code, normalize

CODE_TTL = timedelta(minutes=10)
MAX_CODE_TTL = timedelta(minutes=30)
"""A leaked code is worth little for long; the admin API and the CLI refuse longer lifetimes."""
FAILURE_WINDOW = timedelta(minutes=15)
MAX_FAILURES = 5

Policy = Literal["link_required", "channel_user", "allowlist"]
Sender = tuple[int, str, str]
"""(project id, channel, sender)."""


class IdentityError(Exception):
    """Raised for operator mistakes; `kind` maps to the API status (not_found, conflict)."""

    def __init__(self, kind: Literal["not_found", "conflict"], message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass(frozen=True)
class Link:
    channel: str
    sender: str
    app_user_id: str
    created_at: datetime
    created_by: str
    last_inbound_at: datetime | None = None
    last_chat: str | None = None
    last_route: str | None = None
    last_account: str | None = None


@dataclass(frozen=True)
class Redemption:
    """`reason` when it failed: unknown, expired, used, throttled."""

    app_user_id: str | None
    reason: str | None = None
    retry_after: timedelta | None = None


@dataclass(frozen=True)
class Contact:
    """Where a linked person was last heard from (finished turns record it)."""

    sender: Sender
    route: str
    account: str
    chat: str


class IdentityStore:
    def __init__(self, db: Database, box: SecretBox) -> None:
        self.db, self.box = db, box
        self._reads: GroupCommit[Sender, str | None] = GroupCommit(
            "identity-reads", self._read_links, max_batch=256, max_in_flight=2
        )

    async def close(self) -> None:
        await self._reads.close()

    # --- the turn pipeline -------------------------------------------------------------------
    async def linked_user(self, sender: Sender) -> str | None:
        """The app user this sender is linked to (batched with concurrent lookups)."""
        return await self._reads.submit(sender)

    async def _read_links(self, senders: list[Sender]) -> list[str | None]:
        unique = list(dict.fromkeys(senders))
        async with self.db.statements(transaction=False) as st:
            found = {
                (row.project_id, row.channel, row.sender): row.app_user_id
                for row in await _FIND_LINKS.rows(st, unique)
            }
        return [found.get(sender) for sender in senders]

    async def allowed(self, sender: Sender) -> bool:
        async with self.db.engine.connect() as conn:
            row = await conn.scalar(
                select(AllowlistEntry.id).where(*_same_sender(AllowlistEntry, sender))
            )
            return row is not None

    async def record_contacts(self, st: Statements, contacts: list[Contact]) -> None:
        """Inside the transaction that finishes the turns: where each linked sender was last
        heard from (one statement for the batch; unlinked senders match no row)."""
        if not contacts:
            return
        now = utcnow()
        await st.execute_many(
            _TOUCH,
            [
                {
                    "p_project": c.sender[0],
                    "p_channel": c.sender[1],
                    "p_sender": c.sender[2],
                    "p_route": c.route,
                    "p_account": c.account,
                    "p_chat": c.chat,
                    "p_now": now,
                }
                for c in contacts
            ],
        )

    # --- codes -------------------------------------------------------------------------------
    async def mint_code(
        self, project: str, app_user_id: str, *, actor: str, ttl: timedelta = CODE_TTL
    ) -> tuple[str, datetime]:
        """A new code for `app_user_id`; their older unused codes stop working (only the code the
        app handed out last can link)."""
        if not timedelta(0) < ttl <= MAX_CODE_TTL:
            raise ValueError(f"a link code lives at most {MAX_CODE_TTL}, not {ttl}")
        code = new_code()
        now = utcnow()
        expires = now + ttl
        async with self.db.session() as session, session.begin():
            # The project row is locked so that two mints for one user cannot both stay valid.
            owner = await _project(session, project, lock=True)
            superseded = cast(
                "CursorResult[Any]",
                await session.execute(
                    update(LinkCode)
                    .where(
                        LinkCode.project_id == owner.id,
                        LinkCode.app_user_id == app_user_id,
                        LinkCode.used_at.is_(None),
                        LinkCode.expires_at > now,
                    )
                    .values(expires_at=now)
                    .execution_options(synchronize_session=False)
                ),
            ).rowcount
            session.add(
                LinkCode(
                    project_id=owner.id,
                    app_user_id=app_user_id,
                    code_hash=self._hashes(normalize(code) or "")[0],
                    created_by=actor,
                    expires_at=expires,
                )
            )
            _audit(
                session,
                owner.id,
                actor,
                "link_code.mint",
                app_user_id,
                {"ttl_seconds": int(ttl.total_seconds()), "superseded": superseded},
            )
        return code, expires

    async def redeem(self, sender: Sender, typed: str, contact: Contact | None) -> Redemption:
        """A sender types a code: link them to its app user, at most once per code.

        Throttled senders are refused before the code is even looked at. The code is claimed
        with one conditional UPDATE, so two senders racing for it cannot both win."""
        project_id, channel, address = sender
        actor = f"chat:{channel}:{address}"
        now = utcnow()
        async with self.db.session() as session, session.begin():
            failures = (
                await session.execute(
                    select(func.count(LinkFailure.id)).where(
                        *_same_sender(LinkFailure, sender), LinkFailure.at > now - FAILURE_WINDOW
                    )
                )
            ).scalar_one()
            if failures >= MAX_FAILURES:
                oldest = await session.scalar(
                    select(func.min(LinkFailure.at)).where(
                        *_same_sender(LinkFailure, sender), LinkFailure.at > now - FAILURE_WINDOW
                    )
                )
                wait = (oldest or now) + FAILURE_WINDOW - now
                _audit(session, project_id, actor, "link.throttled", f"{channel}:{address}")
                await self._refused(session, sender, actor, "throttled", None)
                return Redemption(None, "throttled", wait)
            code = normalize(typed)
            hashes = self._hashes(code) if code else []
            claimed = None
            if hashes:
                claimed = (
                    await session.execute(
                        update(LinkCode)
                        .where(
                            LinkCode.project_id == project_id,
                            LinkCode.code_hash.in_(hashes),
                            LinkCode.used_at.is_(None),
                            LinkCode.expires_at > now,
                        )
                        .values(used_at=now, used_by=f"{channel}:{address}")
                        .returning(LinkCode.app_user_id)
                    )
                ).scalar()
            if claimed is None:
                reason, owner = await self._why_not(session, project_id, hashes, now)
                session.add(LinkFailure(project_id=project_id, channel=channel, sender=address))
                _audit(
                    session,
                    project_id,
                    actor,
                    "link.failed",
                    f"{channel}:{address}",
                    {"reason": reason},
                )
                await self._refused(session, sender, actor, reason, owner)
                return Redemption(None, reason)
            await self._put_link(session, sender, claimed, actor, contact, source="link_code")
            # A success forgives earlier typos.
            await session.execute(delete(LinkFailure).where(*_same_sender(LinkFailure, sender)))
            _audit(
                session,
                project_id,
                actor,
                "link.redeemed",
                f"{channel}:{address}",
                {"app_user_id": claimed},
            )
        return Redemption(claimed)

    async def _why_not(
        self, session: AsyncSession, project_id: int, hashes: list[str], now: datetime
    ) -> tuple[str, str | None]:
        """Why a code did not link (unknown, used, expired: a superseded code has expired too),
        and the app user it was minted for when it names one."""
        if not hashes:
            return "unknown", None
        row = await session.scalar(
            select(LinkCode).where(
                LinkCode.project_id == project_id, LinkCode.code_hash.in_(hashes)
            )
        )
        if row is None:
            return "unknown", None
        if row.used_at is not None:
            return "used", row.app_user_id
        if row.expires_at <= now:
            return "expired", row.app_user_id
        return "unknown", None

    async def _refused(
        self,
        session: AsyncSession,
        sender: Sender,
        actor: str,
        reason: str,
        app_user_id: str | None,
    ) -> None:
        await events.queue(
            await session.connection(), self.box, sender, "identity.link_refused",
            source="link_code", actor=actor, app_user_id=app_user_id, reason=reason,
        )  # fmt: skip

    def _hashes(self, code: str) -> list[str]:
        return self.box.keyed_hashes("link-code", code)

    # --- links -------------------------------------------------------------------------------
    async def link(
        self, project: str, channel: str, address: str, app_user_id: str, *, actor: str, force: bool
    ) -> Link:
        async with self.db.session() as session, session.begin():
            owner = await _project(session, project)
            sender = (owner.id, channel, address)
            current = await _link_row(session, sender)
            if current is not None and current.app_user_id != app_user_id and not force:
                raise IdentityError(
                    "conflict",
                    f"{channel}:{address} is linked to {current.app_user_id!r}; "
                    "pass force to move it",
                )
            source = events.source_of(actor)
            await self._put_link(session, sender, app_user_id, actor, None, source=source)
        found = await self.get(project, channel, address)
        assert found is not None
        return found

    async def _put_link(
        self,
        session: AsyncSession,
        sender: Sender,
        app_user_id: str,
        actor: str,
        contact: Contact | None,
        *,
        source: events.Source,
    ) -> None:
        project_id, channel, address = sender
        row = await _link_row(session, sender)
        previous = row.app_user_id if row is not None else None
        if row is None:
            row = IdentityLink(
                project_id=project_id, channel=channel, sender=address, app_user_id=app_user_id,
                created_by=actor,
            )  # fmt: skip
            session.add(row)
        elif row.app_user_id != app_user_id:
            row.app_user_id, row.created_by, row.created_at = app_user_id, actor, utcnow()
        if contact is not None:
            row.last_route, row.last_account = contact.route, contact.account
            row.last_chat, row.last_inbound_at = contact.chat, utcnow()
        details = {"app_user_id": app_user_id}
        if previous and previous != app_user_id:
            details["previous_app_user_id"] = previous
        if previous != app_user_id:
            _audit(session, project_id, actor, "link.create", f"{channel}:{address}", details)
            await _new_conversations(session, sender)
            await events.queue(
                await session.connection(), self.box, sender, "identity.linked",
                source=source, actor=actor, app_user_id=app_user_id,
                previous_app_user_id=previous,
            )  # fmt: skip
        try:
            await session.flush()
        except IntegrityError:  # a concurrent link of the same sender won: theirs stands
            raise IdentityError("conflict", f"{channel}:{address} was linked meanwhile") from None

    async def unlink(self, project: str, channel: str, address: str, *, actor: str) -> bool:
        async with self.db.session() as session, session.begin():
            owner = await _project(session, project)
            sender = (owner.id, channel, address)
            return await self._unlink(session, sender, actor, events.source_of(actor))

    async def unlink_sender(self, sender: Sender) -> bool:
        """`/unlink` from the chat: the sender removes their own link."""
        async with self.db.session() as session, session.begin():
            actor = f"chat:{sender[1]}:{sender[2]}"
            return await self._unlink(session, sender, actor, "chat_command")

    async def _unlink(
        self, session: AsyncSession, sender: Sender, actor: str, source: events.Source
    ) -> bool:
        row = await _link_row(session, sender)
        if row is None:
            return False
        await session.delete(row)
        await _new_conversations(session, sender)
        _audit(
            session, sender[0], actor, "link.remove", f"{sender[1]}:{sender[2]}",
            {"app_user_id": row.app_user_id},
        )  # fmt: skip
        await events.queue(
            await session.connection(), self.box, sender, "identity.unlinked",
            source=source, actor=actor, app_user_id=row.app_user_id,
        )  # fmt: skip
        return True

    async def get(self, project: str, channel: str, address: str) -> Link | None:
        async with self.db.session() as session:
            owner = await _project(session, project)
            row = await _link_row(session, (owner.id, channel, address))
            return _link(row) if row is not None else None

    async def list(
        self, project: str, *, app_user_id: str | None = None, channel: str | None = None
    ) -> list[Link]:
        async with self.db.session() as session:
            owner = await _project(session, project)
            query = select(IdentityLink).where(IdentityLink.project_id == owner.id)
            if app_user_id is not None:
                query = query.where(IdentityLink.app_user_id == app_user_id)
            if channel is not None:
                query = query.where(IdentityLink.channel == channel)
            rows = await session.scalars(
                query.order_by(IdentityLink.app_user_id, IdentityLink.channel, IdentityLink.sender)
            )
            return [_link(row) for row in rows]

    # --- allowlist ---------------------------------------------------------------------------
    async def allow(self, project: str, channel: str, address: str, *, actor: str) -> bool:
        async with self.db.session() as session, session.begin():
            owner = await _project(session, project)
            exists = await session.scalar(
                select(AllowlistEntry.id).where(
                    *_same_sender(AllowlistEntry, (owner.id, channel, address))
                )
            )
            if exists:
                return False
            session.add(AllowlistEntry(project_id=owner.id, channel=channel, sender=address))
            _audit(session, owner.id, actor, "allowlist.add", f"{channel}:{address}")
            return True

    async def disallow(self, project: str, channel: str, address: str, *, actor: str) -> bool:
        async with self.db.session() as session, session.begin():
            owner = await _project(session, project)
            # `execute` is annotated as returning Result; for a DML statement it is a CursorResult.
            result = cast(
                "CursorResult[Any]",
                await session.execute(
                    delete(AllowlistEntry).where(
                        *_same_sender(AllowlistEntry, (owner.id, channel, address))
                    )
                ),
            )
            if result.rowcount:
                _audit(session, owner.id, actor, "allowlist.remove", f"{channel}:{address}")
            return bool(result.rowcount)

    async def allowlist(self, project: str) -> builtins.list[tuple[str, str, datetime]]:
        async with self.db.session() as session:
            owner = await _project(session, project)
            rows = await session.execute(
                select(AllowlistEntry.channel, AllowlistEntry.sender, AllowlistEntry.created_at)
                .where(AllowlistEntry.project_id == owner.id)
                .order_by(AllowlistEntry.channel, AllowlistEntry.sender)
            )
            return [row._tuple() for row in rows]


def _same_sender(model: Any, sender: Sender) -> tuple[Any, ...]:
    project_id, channel, address = sender
    return (model.project_id == project_id, model.channel == channel, model.sender == address)


async def _new_conversations(session: AsyncSession, sender: Sender) -> None:
    """Every conversation of `sender` starts anew with their next message."""
    await session.execute(
        update(Conversation)
        .where(*of_sender(*sender))
        .values(conversation_id=None, last_response_id=None)
        .execution_options(synchronize_session=False)
    )


async def _link_row(session: AsyncSession, sender: Sender) -> IdentityLink | None:
    return await session.scalar(select(IdentityLink).where(*_same_sender(IdentityLink, sender)))


async def _project(session: AsyncSession, name: str, *, lock: bool = False) -> Project:
    query = select(Project).where(Project.name == name)
    project = await session.scalar(query.with_for_update() if lock else query)
    if project is None:
        raise IdentityError("not_found", f"no project named {name!r}")
    return project


def _audit(
    session: AsyncSession,
    project_id: int,
    actor: str,
    action: str,
    subject: str,
    details: dict[str, Any] | None = None,
) -> None:
    session.add(
        AuditEntry(
            project_id=project_id, actor=actor, action=action, subject=subject,
            details=details or {},
        )
    )  # fmt: skip


def _link(row: IdentityLink) -> Link:
    return Link(
        channel=row.channel,
        sender=row.sender,
        app_user_id=row.app_user_id,
        created_at=row.created_at,
        created_by=row.created_by,
        last_inbound_at=row.last_inbound_at,
        last_chat=row.last_chat,
        last_route=row.last_route,
        last_account=row.last_account,
    )


_FIND_LINKS = KeyLookup(
    (IdentityLink.project_id, IdentityLink.channel, IdentityLink.sender),
    (IdentityLink.project_id, IdentityLink.channel, IdentityLink.sender, IdentityLink.app_user_id),
)
_TOUCH = (
    update(IdentityLink)
    .where(
        IdentityLink.project_id == bindparam("p_project", type_=Integer()),
        IdentityLink.channel == bindparam("p_channel", type_=String()),
        IdentityLink.sender == bindparam("p_sender", type_=String()),
    )
    .values(
        last_route=bindparam("p_route", type_=String()),
        last_account=bindparam("p_account", type_=String()),
        last_chat=bindparam("p_chat", type_=String()),
        last_inbound_at=bindparam("p_now", type_=UTCDateTime()),
    )
)

__all__ = [
    "CODE_TTL",
    "Contact",
    "IdentityError",
    "IdentityStore",
    "Link",
    "Policy",
    "Redemption",
]
