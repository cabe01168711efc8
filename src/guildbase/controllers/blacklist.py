"""The global blacklist of users and guilds, answered from a cached live map on every message."""

import json
from datetime import datetime
from time import time
from typing import Any

from sqlalchemy import BigInteger, and_, bindparam, exists, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from guildbase.controllers.base import Controller
from guildbase.db.audit import record_audit
from guildbase.db.fast import prepare
from guildbase.db.mixins import live, soft_delete_values
from guildbase.db.rows import read_all
from guildbase.db.stale import stale_keys
from guildbase.db.types import utcnow
from guildbase.db.validation import aware, snowflake, validate, validate_enum
from guildbase.errors import ValidationError
from guildbase.models.audit import AuditAction, AuditEntity
from guildbase.models.core import (
    BlacklistEntryCreate,
    BlacklistEntryRead,
    BlacklistTarget,
    GlobalBlacklist,
)
from guildbase.services.keys import global_key

__all__ = ["BlacklistController", "LiveBlacklistCodec", "blacklist_key"]


# Checked on every message and command: compiled once, prepared per connection.
_IS_BLACKLISTED = prepare(
    select(
        exists().where(
            col(GlobalBlacklist.target) == bindparam("target", type_=GlobalBlacklist.__table__.c.target.type),  # type: ignore[attr-defined]
            col(GlobalBlacklist.target_id) == bindparam("target_id", type_=BigInteger),
            live(GlobalBlacklist),
            or_(col(GlobalBlacklist.expires_at).is_(None), col(GlobalBlacklist.expires_at) > bindparam("moment")),
        )
    )
)

_LIVE_BLACKLIST = prepare(
    select(col(GlobalBlacklist.target_id), col(GlobalBlacklist.expires_at)).where(
        col(GlobalBlacklist.target) == bindparam("target", type_=GlobalBlacklist.__table__.c.target.type),  # type: ignore[attr-defined]
        live(GlobalBlacklist),
        or_(col(GlobalBlacklist.expires_at).is_(None), col(GlobalBlacklist.expires_at) > func.now()),
    )
)


class LiveBlacklistCodec:
    """The live map as ``[[id, expiry], …]`` JSON (JSON object keys would turn the IDs into strings)."""

    def encode(self, value: dict[int, float | None]) -> str:
        return json.dumps(list(value.items()), separators=(",", ":"))

    def decode(self, raw: str) -> dict[int, float | None]:
        return {int(target_id): expires for target_id, expires in json.loads(raw)}


_LIVE_CODEC = LiveBlacklistCodec()


def blacklist_key(target: BlacklistTarget) -> str:
    """Cache key of the live global blacklist of one kind; dropped by ``add`` and ``remove``."""
    return global_key(f"bl:{target.value}", "live")


stale_keys(GlobalBlacklist, lambda row: (blacklist_key(BlacklistTarget(row.target)),))


_AUDITED = ("reason", "author_id", "expires_at")


def _entity_id(target: BlacklistTarget, target_id: int) -> str:
    """``user:<id>`` / ``guild:<id>``: one blacklisted target, whichever of its entries is live."""
    return f"{target.value}:{target_id}"


class BlacklistController(Controller):
    """Global blacklist of users and guilds; removal keeps the entry as history."""

    async def add(
        self,
        target: BlacklistTarget | str,
        target_id: int,
        *,
        reason: str | None = None,
        author_id: int | None = None,
        expires_at: datetime | None = None,
    ) -> BlacklistEntryRead:
        """Blacklist a user or guild (updating reason/expiry if already listed)."""
        checked = validate(
            BlacklistEntryCreate,
            {
                "target": validate_enum("target", BlacklistTarget, target),
                "target_id": target_id,
                "reason": reason,
                "author_id": author_id,
                "expires_at": expires_at,
            },
        )
        if checked.expires_at is not None and checked.expires_at <= utcnow():
            raise ValidationError.single("expires_at", "future", "must be in the future")
        stmt = insert(GlobalBlacklist).values(**checked.model_dump())
        upsert = stmt.on_conflict_do_update(
            index_elements=["target", "target_id"],
            index_where=live(GlobalBlacklist),
            set_={
                "reason": stmt.excluded.reason,
                "author_id": stmt.excluded.author_id,
                "expires_at": stmt.excluded.expires_at,
                "updated_at": func.now(),
            },
        ).returning(GlobalBlacklist)
        async with self._write() as session:
            before = await self._live_entry(session, checked.target, checked.target_id)
            entry = (await session.scalars(upsert, execution_options={"populate_existing": True})).one()
            await record_audit(
                session,
                AuditAction.BLACKLIST_ADD,
                AuditEntity.GLOBAL_BLACKLIST,
                _entity_id(checked.target, checked.target_id),
                guild_id=None,
                before=before,
                after={name: getattr(entry, name) for name in _AUDITED},
                reason=checked.reason,
            )
            self._stale(session, blacklist_key(checked.target))
            return BlacklistEntryRead.model_validate(entry)

    async def remove(self, target: BlacklistTarget | str, target_id: int) -> bool:
        """Lift a blacklist entry (soft delete, attributed to the acting user)."""
        kind = validate_enum("target", BlacklistTarget, target)
        target_id = snowflake("target_id", target_id)
        async with self._write() as session:
            result = await session.execute(
                update(GlobalBlacklist)
                .where(
                    col(GlobalBlacklist.target) == kind,
                    col(GlobalBlacklist.target_id) == target_id,
                    live(GlobalBlacklist),
                )
                .values(**soft_delete_values(GlobalBlacklist), updated_at=func.now())
                .returning(*(col(getattr(GlobalBlacklist, name)) for name in _AUDITED))
            )
            lifted = result.mappings().all()
            for row in lifted:
                await record_audit(
                    session,
                    AuditAction.BLACKLIST_REMOVE,
                    AuditEntity.GLOBAL_BLACKLIST,
                    _entity_id(kind, target_id),
                    guild_id=None,
                    before=dict(row),
                )
            self._stale(session, blacklist_key(kind))
        return bool(lifted)

    @staticmethod
    async def _live_entry(session: AsyncSession, target: BlacklistTarget, target_id: int) -> dict[str, Any]:
        stmt = (
            select(*(col(getattr(GlobalBlacklist, name)) for name in _AUDITED))
            .where(
                col(GlobalBlacklist.target) == target,
                col(GlobalBlacklist.target_id) == target_id,
                live(GlobalBlacklist),
            )
            .with_for_update()
        )
        row = (await session.execute(stmt)).mappings().one_or_none()
        return {} if row is None else dict(row)

    async def is_blacklisted(
        self, target: BlacklistTarget | str, target_id: int, *, now: datetime | None = None
    ) -> bool:
        """Whether a live, unexpired entry exists for the target.

        Asked on every message, so it is answered from memory: the live entries
        of each kind are one cached map (local LRU → Redis → one query), dropped
        everywhere by ``add`` and ``remove``; expiry is checked against the
        clock on each call, so an entry stops blocking the moment it expires.
        Pass ``now`` to ask about another moment: that is one query, exact.
        """
        kind = validate_enum("target", BlacklistTarget, target)
        target_id = snowflake("target_id", target_id)
        if now is not None:
            params = {"target": kind.value, "target_id": target_id, "moment": aware("now", now)}
            async with self._fast(transaction=False) as unit:
                return bool(await unit.connection.fetchval(_IS_BLACKLISTED.sql, *_IS_BLACKLISTED.args(params)))
        live = await self._live(kind)
        if target_id not in live:
            return False
        expires = live[target_id]
        return expires is None or expires > time()

    async def _live(self, kind: BlacklistTarget) -> dict[int, float | None]:
        """Target ID → expiry (epoch seconds, or None) of every live entry of ``kind``."""

        async def load() -> dict[int, float | None]:
            async with self._fast(transaction=False) as unit:
                rows = await _LIVE_BLACKLIST.fetch(unit.connection, {"target": kind.value})
            return {row[0]: None if row[1] is None else row[1].timestamp() for row in rows}

        live = await self._db.cache.read_through(
            blacklist_key(kind), load, ttl=self._db.settings.cache_ttl_seconds, codec=_LIVE_CODEC
        )
        return live or {}

    async def list_active(self, target: BlacklistTarget | str | None = None) -> list[BlacklistEntryRead]:
        """Every live, unexpired entry, newest first."""
        conditions = [
            live(GlobalBlacklist),
            or_(col(GlobalBlacklist.expires_at).is_(None), col(GlobalBlacklist.expires_at) > func.now()),
        ]
        if target is not None:
            conditions.append(col(GlobalBlacklist.target) == validate_enum("target", BlacklistTarget, target))
        stmt = select(GlobalBlacklist).where(and_(*conditions)).order_by(col(GlobalBlacklist.created_at).desc())
        async with self._write() as session:
            return read_all(BlacklistEntryRead, await session.scalars(stmt))

    async def history(self, target: BlacklistTarget | str, target_id: int) -> list[BlacklistEntryRead]:
        """Every entry ever made for the target, including lifted ones."""
        kind = validate_enum("target", BlacklistTarget, target)
        target_id = snowflake("target_id", target_id)
        stmt = (
            select(GlobalBlacklist)
            .where(col(GlobalBlacklist.target) == kind, col(GlobalBlacklist.target_id) == target_id)
            .order_by(col(GlobalBlacklist.created_at).desc(), col(GlobalBlacklist.entry_id).desc())
            .execution_options(include_deleted=True)
        )
        async with self._write() as session:
            return read_all(BlacklistEntryRead, await session.scalars(stmt))
