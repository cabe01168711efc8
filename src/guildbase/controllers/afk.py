"""AFK rules: set and clear a member's AFK, check many members at once, find expired ones."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import BigInteger, Select, any_, bindparam, delete, func, select
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from guildbase.controllers.base import Controller
from guildbase.controllers.core import snowflake
from guildbase.db.fast import prepare
from guildbase.db.types import utcnow
from guildbase.db.validation import validate
from guildbase.errors import ValidationError
from guildbase.models.afk import AFK, DEFAULT_REASON, MAX_AFK_LOOKUP, AFKRead, AFKSet

MAX_DUE_BATCH = 1000

# The per-message check, compiled once (``db.fast``): one primary-key lookup for
# the author and every mention, whatever their number.
_GET_MANY = prepare(
    select(AFK).where(
        col(AFK.guild_id) == bindparam("guild_id", type_=BigInteger),
        col(AFK.user_id) == any_(bindparam("user_ids", type_=ARRAY(BigInteger))),
    )
)


class AFKController(Controller):
    """Who is away; ``get_many`` is the per-message check and costs one primary-key query."""

    async def set(
        self,
        guild_id: int,
        user_id: int,
        *,
        reason: str = DEFAULT_REASON,
        nickname: str | None = None,
        until: datetime | None = None,
        enforced: bool = False,
        permanent: bool = False,
        now: datetime | None = None,
    ) -> AFKRead:
        """Mark a member AFK (replacing an earlier AFK of theirs; ``since`` restarts).

        ``nickname`` is the nickname to restore on return; keep it across a
        replacement by passing it again.
        """
        since = now or utcnow()
        checked = validate(
            AFKSet,
            {
                "guild_id": guild_id,
                "user_id": user_id,
                "reason": reason,
                "nickname": nickname,
                "until": until,
                "is_enforced": enforced,
                "is_permanent": permanent,
                "since": since,
            },
        )
        if checked.until is not None and checked.until <= checked.since:
            raise ValidationError.single("until", "after_since", f"must be after {checked.since.isoformat()}")
        stmt = insert(AFK).values(**checked.model_dump())
        upsert = stmt.on_conflict_do_update(
            index_elements=["guild_id", "user_id"],
            set_={name: stmt.excluded[name] for name in ("nickname", "reason", "until", "is_enforced", "is_permanent")}
            | {"since": stmt.excluded.since},
        ).returning(AFK)
        async with self._write() as session:
            row = (await session.scalars(upsert, execution_options={"populate_existing": True})).one()
            return AFKRead.model_validate(row)

    async def clear(self, guild_id: int, user_id: int) -> AFKRead | None:
        """End a member's AFK; returns what it was (the bot restores ``nickname``), or None."""
        guild_id, user_id = snowflake("guild_id", guild_id), snowflake("user_id", user_id)
        stmt = delete(AFK).where(col(AFK.guild_id) == guild_id, col(AFK.user_id) == user_id).returning(AFK)
        async with self._write() as session:
            row = (await session.scalars(stmt)).one_or_none()
            return None if row is None else AFKRead.model_validate(row)

    async def clear_expired_in(
        self, session: AsyncSession, guild_id: int, user_id: int, *, until: datetime
    ) -> AFKRead | None:
        """End the AFK that was due at ``until``, inside the caller's transaction (the AFK expiry job).

        An AFK set again meanwhile has another ``until`` and is left alone.
        """
        guild_id, user_id = snowflake("guild_id", guild_id), snowflake("user_id", user_id)
        stmt = (
            delete(AFK)
            .where(col(AFK.guild_id) == guild_id, col(AFK.user_id) == user_id, col(AFK.until) == until)
            .returning(AFK)
        )
        row = (await session.scalars(stmt)).one_or_none()
        return None if row is None else AFKRead.model_validate(row)

    async def get(self, guild_id: int, user_id: int) -> AFKRead | None:
        """One member's AFK, or None."""
        found = await self.get_many(guild_id, [user_id])
        return found.get(user_id)

    async def get_many(self, guild_id: int, user_ids: Sequence[int]) -> dict[int, AFKRead]:
        """The AFK entries among ``user_ids`` (a message's author and mentions), in ONE query.

        Uses ``user_id = ANY(:ids)`` with one array parameter, so the statement
        text (and its prepared plan) is the same whatever the number of mentions.
        """
        guild_id = snowflake("guild_id", guild_id)
        if len(user_ids) > MAX_AFK_LOOKUP:
            raise ValidationError.single("user_ids", "max_items", f"at most {MAX_AFK_LOOKUP} IDs, got {len(user_ids)}")
        ids = sorted({snowflake(f"user_ids.{index}", uid) for index, uid in enumerate(user_ids)})
        if not ids:
            return {}
        async with self._fast(transaction=False) as unit:
            rows = await _GET_MANY.fetch(unit.connection, {"guild_id": guild_id, "user_ids": ids})
        return {row["user_id"]: AFKRead.model_validate(dict(row)) for row in rows}

    async def due(self, now: datetime | None = None, *, limit: int = 100) -> list[AFKRead]:
        """Temporary AFKs whose ``until`` has passed, oldest first (for the expiry sweep)."""
        if not 1 <= limit <= MAX_DUE_BATCH:
            raise ValidationError.single("limit", "range", f"must be 1-{MAX_DUE_BATCH}, got {limit}")
        stmt = due_query(now or utcnow(), limit=limit)
        async with self._write() as session:
            return [AFKRead.model_validate(row) for row in await session.scalars(stmt)]

    async def count(self, guild_id: int) -> int:
        """Members currently AFK in the guild."""
        guild_id = snowflake("guild_id", guild_id)
        stmt = select(func.count()).select_from(AFK).where(col(AFK.guild_id) == guild_id)
        async with self._read() as session:
            return int((await session.execute(stmt)).scalar_one())


def due_query(moment: datetime, *, limit: int) -> Select[AFK]:
    """Expired temporary AFKs; ``until IS NOT NULL`` lets it use the partial ``ix_afk_until``."""
    return (
        select(AFK).where(col(AFK.until).is_not(None), col(AFK.until) <= moment).order_by(col(AFK.until)).limit(limit)
    )
