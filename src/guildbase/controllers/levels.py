"""Levels rules: the per-message XP award, ranks, the PostgreSQL leaderboard and XP admin.

The award's statement lives in ``controllers.xp_award``, the guild's level
settings in ``controllers.level_rules`` (inherited, so ``db.levels`` keeps
one face); the Redis boards are ``db.leaderboards``, reached through the unit
of work.
"""

import random
from collections.abc import Sequence
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import ColumnElement, Select, delete, func, literal, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col

from guildbase.controllers.features import gated
from guildbase.controllers.level_rules import LevelRules
from guildbase.controllers.xp_award import AWARD, REWARDS, award_params, award_result, reward_params
from guildbase.db.audit import locked_values, record_audit
from guildbase.db.mixins import actor_columns
from guildbase.db.unit_of_work import after_commit
from guildbase.db.validation import (
    instance,
    number,
    optional_aware,
    optional_snowflake,
    page_limit,
    snowflake,
    snowflakes,
    validate,
)
from guildbase.errors import ValidationError, shown
from guildbase.models.audit import AuditAction, AuditEntity
from guildbase.models.core import Feature
from guildbase.models.levels import (
    MAX_ROLE_IDS,
    LeaderboardCursor,
    LeaderboardEntry,
    LeaderboardPage,
    LevelConfig,
    LevelCurve,
    MemberLevel,
    MemberLevelRead,
    MemberXPDaily,
    RankCard,
    XPAward,
    XPSet,
)

__all__ = ["MAX_PAGE_SIZE", "LevelsController", "leaderboard_query"]

MAX_PAGE_SIZE = 100

_RANK_SQL = text("""
SELECT ml.guild_id, ml.user_id, ml.xp, ml.level, ml.message_count, ml.is_blacklisted,
       CASE WHEN ml.is_blacklisted THEN NULL ELSE 1 + (
           SELECT count(*) FROM member_level AS o
           WHERE o.guild_id = ml.guild_id AND NOT o.is_blacklisted AND (o.xp, o.user_id) > (ml.xp, ml.user_id)
       ) END AS rank,
       (SELECT count(*) FROM member_level AS o WHERE o.guild_id = ml.guild_id AND NOT o.is_blacklisted)
           AS ranked_members,
       level_total_xp(ml.level, coalesce(c.curve, CAST(:default_curve AS level_curve))) AS level_xp,
       level_total_xp(ml.level + 1, coalesce(c.curve, CAST(:default_curve AS level_curve))) AS next_level_xp
FROM member_level AS ml
LEFT JOIN level_config AS c ON c.guild_id = ml.guild_id
WHERE ml.guild_id = :guild_id AND ml.user_id = :user_id
""")


class LevelsController(LevelRules):
    """XP per message, ranks and leaderboards from PostgreSQL, and each guild's level rules.

    Every XP change also reaches the Redis leaderboards (``db.leaderboards``)
    after its commit: awards write the member's new totals, blacklisting
    removes the member, and hand edits drop the boards so they are rebuilt.
    The member-facing calls obey the guild's ``levels`` toggle; settings and
    XP admin do not.
    """

    @gated(Feature.LEVELS, in_statement=True)
    async def award_message_xp(
        self,
        guild_id: int,
        user_id: int,
        channel_id: int,
        role_ids: Sequence[int] = (),
        now: datetime | None = None,
        *,
        roll: float | None = None,
    ) -> XPAward:
        """Award XP for one message, in ONE statement (a second one on a level-up), and say what the bot must do.

        The guild's ``levels`` toggle and rules are read inside the same
        statement (``controllers.xp_award``), not passed in from a cache, so a
        change applies to the very next message and no caller has to keep a
        cache coherent. XP is random in the configured range: ``roll``
        (uniform in [0, 1), drawn here unless given) picks the point in the
        range in SQL, then multipliers apply. ``role_ids`` are the member's
        current roles (for role multipliers and rewards); ``now`` is when the
        message was sent, the database's clock when omitted.

        No ``member`` row is needed: the first message creates the level row.
        An unknown guild raises ``ValidationError`` on ``guild_id``.

        Returns:
            ``XPAward``: nothing awarded (``is_feature_off`` when the guild
            turned ``levels`` off; else cooldown, ignored channel,
            blacklisted), or the XP awarded, the new totals, whether the level
            went up, and the reward roles to grant (and, in replace mode, to remove).
        """
        guild_id = snowflake("guild_id", guild_id)
        user_id = snowflake("user_id", user_id)
        channel_id = snowflake("channel_id", channel_id)
        roles = snowflakes("role_ids", role_ids, max_items=MAX_ROLE_IDS)
        now = optional_aware("now", now)
        if roll is None:
            roll = random.random()  # noqa: S311 - XP variety, not security
        elif number("roll", roll, minimum=0, maximum=1) == 1:
            raise ValidationError.single("roll", "range", f"must be in [0, 1), got {shown(roll)}")
        params = award_params(guild_id, user_id, channel_id, roles, now=now, roll=roll)
        # One statement, so no explicit transaction: it commits on its own.
        async with self._fast(transaction=False) as unit:
            row = await AWARD.fetchrow(unit.connection, params)  # constraint errors arrive translated
            assert row is not None  # noqa: S101 - the statement always returns one row
            level_up = reward_params(row, guild_id, roles)
            rewards = None if level_up is None else await REWARDS.fetchrow(unit.connection, level_up)
            award, counted_at = award_result(row, rewards)
            after_commit(unit, partial(self._db.leaderboards.record, guild_id, user_id, award, counted_at))
        return award

    async def get(self, guild_id: int, user_id: int) -> MemberLevelRead | None:
        """The member's level row, or None before their first counted message."""
        key = _key(guild_id, user_id)
        async with self._write() as session:
            row = await session.get(MemberLevel, key)
            return None if row is None else MemberLevelRead.model_validate(row)

    @gated(Feature.LEVELS)
    async def rank(self, guild_id: int, user_id: int) -> RankCard | None:
        """Rank card data (XP, level, position, level progress) in one indexed query."""
        guild_id, user_id = _key(guild_id, user_id)
        params = {"guild_id": guild_id, "user_id": user_id, "default_curve": LevelCurve.MEE6.value}
        async with self._read() as session:
            row = (await session.execute(_RANK_SQL, params)).mappings().one_or_none()
            return None if row is None else RankCard.model_validate(dict(row))

    @gated(Feature.LEVELS)
    async def leaderboard(
        self, guild_id: int, *, limit: int = 10, after: LeaderboardCursor | None = None
    ) -> LeaderboardPage:
        """One page of the guild's ranking (XP, then user ID, both descending), by keyset.

        Reads walk ``ix_member_level_leaderboard`` from the cursor: page 1,000
        costs the same as page 1. Blacklisted members are not ranked. This is
        the PostgreSQL path, for when Redis is absent or being rebuilt.
        """
        guild_id = snowflake("guild_id", guild_id)
        limit = page_limit(limit, MAX_PAGE_SIZE)
        after = None if after is None else instance("after", after, LeaderboardCursor)
        stmt = leaderboard_query(guild_id, limit=limit + 1, after=after)
        first_rank = 1 if after is None else after.rank + 1
        async with self._read() as session:
            rows = (await session.execute(stmt)).all()
        entries = [
            LeaderboardEntry(rank=first_rank + index, user_id=uid, xp=xp, level=level, message_count=count)
            for index, (uid, xp, level, count) in enumerate(rows[:limit])
        ]
        more = len(rows) > limit and entries
        last = entries[-1] if more else None
        cursor = None if last is None else LeaderboardCursor(xp=last.xp, user_id=last.user_id, rank=last.rank)
        return LeaderboardPage(entries=entries, next=cursor)

    async def set_xp(self, guild_id: int, user_id: int, xp: int) -> MemberLevelRead:
        """Set a member's XP by hand; the level follows, and ``updated_by`` records the actor."""
        checked = validate(XPSet, {"guild_id": guild_id, "user_id": user_id, "xp": xp})
        stmt = insert(MemberLevel).values(
            guild_id=checked.guild_id,
            user_id=checked.user_id,
            xp=checked.xp,
            level=func.level_for_xp(checked.xp, _curve(checked.guild_id)),
            **actor_columns(MemberLevel, "insert"),
        )
        upsert = stmt.on_conflict_do_update(
            index_elements=["guild_id", "user_id"],
            set_={
                "xp": stmt.excluded.xp,
                "level": stmt.excluded.level,
                **actor_columns(MemberLevel, "update"),
                "updated_at": func.now(),
            },
        ).returning(MemberLevel)
        async with self._write() as session:
            before = await locked_values(
                session, MemberLevel, ("xp", "level"), guild_id=checked.guild_id, user_id=checked.user_id
            )
            row = (await session.scalars(upsert, execution_options={"populate_existing": True})).one()
            await record_audit(
                session,
                AuditAction.XP_SET,
                AuditEntity.MEMBER_LEVEL,
                checked.user_id,
                guild_id=checked.guild_id,
                before=before or {"xp": 0, "level": 0},
                after={"xp": row.xp, "level": row.level},
            )
            after_commit(session, partial(self._db.leaderboards.invalidate, checked.guild_id))
            return MemberLevelRead.model_validate(row)

    async def reset(self, guild_id: int, user_id: int | None = None) -> int:
        """Zero XP, level and message count of one member, or of the whole guild; returns rows reset."""
        guild_id, user = snowflake("guild_id", guild_id), optional_snowflake("user_id", user_id)
        stmt = update(MemberLevel).where(col(MemberLevel.guild_id) == guild_id)
        if user is not None:
            stmt = stmt.where(col(MemberLevel.user_id) == user)
        stmt = stmt.values(
            xp=0,
            level=0,
            message_count=0,
            last_message_at=None,
            open_day=None,
            day_xp=0,
            week_xp=0,
            month_xp=0,
            closed_day=None,
            closed_day_xp=None,
            updated_at=func.now(),
            **actor_columns(MemberLevel, "update"),
        )
        days = delete(MemberXPDaily).where(col(MemberXPDaily.guild_id) == guild_id)
        if user is not None:
            days = days.where(col(MemberXPDaily.user_id) == user)
        async with self._write() as session:
            result = await session.execute(stmt)
            await session.execute(days)
            reset = int(result.rowcount)  # type: ignore[attr-defined]
            if reset:  # one row per call: a member, or (user_id=None) the whole guild
                entity, entity_id = (AuditEntity.GUILD, guild_id) if user is None else (AuditEntity.MEMBER_LEVEL, user)
                await record_audit(
                    session, AuditAction.XP_RESET, entity, entity_id, guild_id=guild_id, after={"members_reset": reset}
                )
            after_commit(session, partial(self._db.leaderboards.invalidate, guild_id))
        return reset

    async def blacklist(self, guild_id: int, user_id: int) -> MemberLevelRead:
        """Stop a member from earning XP and take them off the leaderboard (XP is kept)."""
        return await self._set_blacklisted(guild_id, user_id, blacklisted=True)

    async def unblacklist(self, guild_id: int, user_id: int) -> MemberLevelRead:
        """Let a member earn XP again; they reappear on the leaderboard with their XP."""
        return await self._set_blacklisted(guild_id, user_id, blacklisted=False)

    async def _set_blacklisted(self, guild_id: int, user_id: int, *, blacklisted: bool) -> MemberLevelRead:
        guild_id, user_id = _key(guild_id, user_id)
        stmt = insert(MemberLevel).values(
            guild_id=guild_id, user_id=user_id, is_blacklisted=blacklisted, **actor_columns(MemberLevel, "insert")
        )
        upsert = stmt.on_conflict_do_update(
            index_elements=["guild_id", "user_id"],
            set_={"is_blacklisted": blacklisted, **actor_columns(MemberLevel, "update"), "updated_at": func.now()},
        ).returning(MemberLevel)
        async with self._write() as session:
            was = await locked_values(session, MemberLevel, ("is_blacklisted",), guild_id=guild_id, user_id=user_id)
            row = (await session.scalars(upsert, execution_options={"populate_existing": True})).one()
            await record_audit(
                session,
                AuditAction.XP_BLACKLIST if blacklisted else AuditAction.XP_UNBLACKLIST,
                AuditEntity.MEMBER_LEVEL,
                user_id,
                guild_id=guild_id,
                before=was or {"is_blacklisted": False},
                after={"is_blacklisted": row.is_blacklisted},
            )
            if blacklisted:
                after_commit(session, partial(self._db.leaderboards.forget_member, guild_id, user_id))
            else:
                after_commit(session, partial(self._db.leaderboards.invalidate, guild_id))
            return MemberLevelRead.model_validate(row)


def leaderboard_query(
    guild_id: int, *, limit: int, after: LeaderboardCursor | None = None
) -> Select[int, int, int, int]:
    """The keyset page query; it walks ``ix_member_level_leaderboard`` backwards from the cursor."""
    stmt = (
        select(col(MemberLevel.user_id), col(MemberLevel.xp), col(MemberLevel.level), col(MemberLevel.message_count))
        .where(col(MemberLevel.guild_id) == guild_id, ~col(MemberLevel.is_blacklisted))
        .order_by(col(MemberLevel.xp).desc(), col(MemberLevel.user_id).desc())
        .limit(limit)
    )
    if after is not None:
        stmt = stmt.where(tuple_(col(MemberLevel.xp), col(MemberLevel.user_id)) < tuple_(after.xp, after.user_id))
    return stmt


def _key(guild_id: int, user_id: int) -> tuple[int, int]:
    return snowflake("guild_id", guild_id), snowflake("user_id", user_id)


def _curve(guild_id: int) -> ColumnElement[Any]:
    """The guild's curve as a SQL expression, so writes recompute the level in their own statement."""
    configured = select(col(LevelConfig.curve)).where(col(LevelConfig.guild_id) == guild_id).scalar_subquery()
    curve_type = LevelConfig.__table__.c.curve.type  # type: ignore[attr-defined]
    return func.coalesce(configured, literal(LevelCurve.MEE6, curve_type))
