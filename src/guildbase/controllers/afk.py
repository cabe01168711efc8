"""AFK rules: set and clear a member's AFK (and its expiry job), check many members at once, find expired ones."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import BigInteger, Select, any_, bindparam, delete, func, select
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from guildbase.controllers.base import Controller
from guildbase.controllers.features import gated
from guildbase.db.fast import prepare
from guildbase.db.rows import read_all
from guildbase.db.validation import aware, flag, moment, page_limit, snowflake, snowflakes, unit_of_work, validate
from guildbase.errors import ValidationError
from guildbase.models.afk import AFK, AFK_EXPIRY, DEFAULT_REASON, MAX_AFK_LOOKUP, AFKExpiryPayload, AFKRead, AFKSet
from guildbase.models.core import Feature

__all__ = ["MAX_DUE_BATCH", "AFKController", "due_query"]

MAX_DUE_BATCH = 1000

# The per-message check, compiled once (``db.fast``): one primary-key lookup for
# the author and every mention, whatever their number.
_GET_MANY = prepare(
    select(AFK).where(
        col(AFK.guild_id) == bindparam("guild_id", type_=BigInteger),
        col(AFK.user_id) == any_(bindparam("user_ids", type_=ARRAY(BigInteger))),
    )
)


def _expiry_key(guild_id: int, user_id: int) -> str:
    """The ``dedupe_key`` of a member's AFK expiry job."""
    return f"{guild_id}:{user_id}"


class AFKController(Controller):
    """Who is away; ``get_many`` is the per-message check and costs one primary-key query."""

    @gated(Feature.AFK)
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

        A timed AFK's expiry job (``AFK_EXPIRY``) replaces any earlier one in the
        same transaction: a new job, so a worker still finishing the old one
        is fenced out. ``clear`` cancels it.

        ``nickname`` is the nickname to restore on return; keep it across a
        replacement by passing it again.
        """
        since = moment("now", now)
        enforced, permanent = flag("enforced", enforced), flag("permanent", permanent)
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
            afk = AFKRead.model_validate(row)
            await self._db.jobs.cancel_in(session, AFK_EXPIRY, _expiry_key(afk.guild_id, afk.user_id))
            if afk.until is not None:
                await self._db.jobs.enqueue_in(
                    session,
                    AFK_EXPIRY,
                    run_at=afk.until,
                    payload=AFKExpiryPayload(guild_id=afk.guild_id, user_id=afk.user_id, until=afk.until),
                    dedupe_key=_expiry_key(afk.guild_id, afk.user_id),
                    guild_id=afk.guild_id,
                )
            return afk

    async def clear(self, guild_id: int, user_id: int) -> AFKRead | None:
        """End a member's AFK; returns what it was (the bot restores ``nickname``), or None."""
        guild_id, user_id = snowflake("guild_id", guild_id), snowflake("user_id", user_id)
        stmt = delete(AFK).where(col(AFK.guild_id) == guild_id, col(AFK.user_id) == user_id).returning(AFK)
        async with self._write() as session:
            row = (await session.scalars(stmt)).one_or_none()
            await self._db.jobs.cancel_in(session, AFK_EXPIRY, _expiry_key(guild_id, user_id))
            return None if row is None else AFKRead.model_validate(row)

    async def clear_expired_in(
        self, session: AsyncSession, guild_id: int, user_id: int, *, until: datetime
    ) -> AFKRead | None:
        """End the AFK that was due at ``until``, inside the caller's transaction (the AFK expiry job).

        An AFK set again meanwhile has another ``until`` and is left alone.
        """
        session = unit_of_work(session)
        guild_id, user_id = snowflake("guild_id", guild_id), snowflake("user_id", user_id)
        until = aware("until", until)
        stmt = (
            delete(AFK)
            .where(col(AFK.guild_id) == guild_id, col(AFK.user_id) == user_id, col(AFK.until) == until)
            .returning(AFK)
        )
        row = (await session.scalars(stmt)).one_or_none()
        return None if row is None else AFKRead.model_validate(row)

    async def get(self, guild_id: int, user_id: int) -> AFKRead | None:
        """One member's AFK, or None."""
        user_id = snowflake("user_id", user_id)
        found = await self.get_many(guild_id, [user_id])
        return found.get(user_id)

    @gated(Feature.AFK, when_off=dict)
    async def get_many(self, guild_id: int, user_ids: Sequence[int]) -> dict[int, AFKRead]:
        """The AFK entries among ``user_ids`` (a message's author and mentions), in ONE query.

        Uses ``user_id = ANY(:ids)`` with one array parameter, so the statement
        text (and its prepared plan) is the same whatever the number of mentions.
        While the guild's ``afk`` feature is off nobody is reported AFK (``{}``).
        """
        guild_id = snowflake("guild_id", guild_id)
        ids = sorted(set(snowflakes("user_ids", user_ids, max_items=MAX_AFK_LOOKUP)))
        if not ids:
            return {}
        async with self._fast(transaction=False) as unit:
            rows = await _GET_MANY.fetch(unit.connection, {"guild_id": guild_id, "user_ids": ids})
        return {afk.user_id: afk for afk in read_all(AFKRead, rows)}

    async def due(self, now: datetime | None = None, *, limit: int = 100) -> list[AFKRead]:
        """Temporary AFKs whose ``until`` has passed, oldest first (for the expiry sweep)."""
        when = moment("now", now)
        stmt = due_query(when, limit=page_limit(limit, MAX_DUE_BATCH))
        async with self._write() as session:
            return read_all(AFKRead, await session.scalars(stmt))

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
