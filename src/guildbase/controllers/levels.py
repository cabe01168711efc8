"""Levels rules: the per-message XP award, ranks, leaderboards, XP admin, rewards and settings."""

import random
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Float,
    Select,
    bindparam,
    delete,
    func,
    literal,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlmodel import col

from guildbase.controllers.base import Controller, UnitOfWork
from guildbase.controllers.core import snowflake
from guildbase.controllers.leaderboards import LeaderboardController
from guildbase.db.context import current_actor
from guildbase.db.fast import prepare
from guildbase.db.unit_of_work import after_commit
from guildbase.db.validation import validate, validate_enum
from guildbase.errors import ValidationError
from guildbase.models.levels import (
    DEFAULT_COOLDOWN_SECONDS,
    DEFAULT_XP_MAX,
    DEFAULT_XP_MIN,
    MAX_ROLE_IDS,
    LeaderboardCursor,
    LeaderboardEntry,
    LeaderboardPage,
    LevelConfig,
    LevelConfigFields,
    LevelConfigRead,
    LevelCurve,
    LevelMultiplier,
    LevelMultiplierBase,
    LevelMultiplierRead,
    LevelRole,
    LevelRoleBase,
    LevelRoleMode,
    LevelRoleRead,
    MemberLevel,
    MemberLevelRead,
    MemberXPDaily,
    MultiplierKind,
    RankCard,
    XPAward,
    XPSet,
)
from guildbase.services.leaderboard import Period, window

MAX_PAGE_SIZE = 100

# The per-message hot path, written once as SQL so it can be read, reviewed and
# benchmarked as one statement:
# - `settings` reads the guild's rules (defaults when it has no row);
# - `multiplier` folds in the highest matching role multiplier and the channel's;
# - `award` turns the caller's uniform roll into XP in the configured range;
# - `awarded` is the upsert: insert the member, or add XP only if the cooldown
#   has passed and the member is not blacklisted; ON CONFLICT DO UPDATE locks
#   the row and re-checks the cooldown on its latest version, so concurrent
#   messages inside one window award XP exactly once;
# - `daily` adds the award to the member's UTC day in `member_xp_daily`, and
#   `earlier` sums the earlier days of this week and month (the snapshot does
#   not include today's row), so the statement returns absolute day/week/month
#   totals that the Redis boards store with ZADD GT (order-independent);
# - the outer SELECT derives the previous level from (new XP - award) and the
#   reward roles to grant/remove against the roles the member has now.
_AWARD_SQL = text("""
WITH settings AS (
    SELECT coalesce(c.xp_min, :default_xp_min) AS xp_min,
           coalesce(c.xp_max, :default_xp_max) AS xp_max,
           coalesce(c.cooldown_seconds, :default_cooldown) AS cooldown_seconds,
           coalesce(c.curve, CAST(:default_curve AS level_curve)) AS curve,
           coalesce(c.role_mode, CAST(:default_role_mode AS level_role_mode)) AS role_mode,
           coalesce(:channel_id = ANY (c.ignored_channel_ids), false) AS is_ignored
    FROM (VALUES (1)) AS one (x)
    LEFT JOIN level_config AS c ON c.guild_id = :guild_id
), multiplier AS (
    SELECT coalesce(max(m.multiplier) FILTER (WHERE m.kind = 'role' AND m.target_id = ANY (:role_ids)), 1.0)
           * coalesce(max(m.multiplier) FILTER (WHERE m.kind = 'channel' AND m.target_id = :channel_id), 1.0)
           AS factor
    FROM level_multiplier AS m
    WHERE m.guild_id = :guild_id
), award AS (
    SELECT round((s.xp_min + floor(:roll * (s.xp_max - s.xp_min + 1))) * f.factor)::bigint AS xp,
           s.cooldown_seconds, s.curve, s.role_mode
    FROM settings AS s CROSS JOIN multiplier AS f
    WHERE NOT s.is_ignored
), awarded AS (
    INSERT INTO member_level AS ml (guild_id, user_id, xp, level, message_count, last_message_at)
    SELECT :guild_id, :user_id, a.xp, level_for_xp(a.xp, a.curve), 1, :now FROM award AS a
    ON CONFLICT (guild_id, user_id) DO UPDATE
    SET xp = ml.xp + excluded.xp,
        level = level_for_xp(ml.xp + excluded.xp, (SELECT a.curve FROM award AS a)),
        message_count = ml.message_count + 1,
        last_message_at = excluded.last_message_at,
        updated_at = now()
    WHERE NOT ml.is_blacklisted
      AND (ml.last_message_at IS NULL
           OR ml.last_message_at
              <= excluded.last_message_at - make_interval(secs => (SELECT a.cooldown_seconds FROM award AS a)))
    RETURNING ml.xp, ml.level
), daily AS (
    INSERT INTO member_xp_daily AS d (guild_id, user_id, day, xp)
    SELECT :guild_id, :user_id, :today, a.xp FROM awarded CROSS JOIN award AS a
    ON CONFLICT (guild_id, user_id, day) DO UPDATE SET xp = d.xp + excluded.xp
    RETURNING d.xp
), earlier AS (
    SELECT coalesce(sum(e.xp) FILTER (WHERE e.day >= :week_start), 0) AS week_xp,
           coalesce(sum(e.xp) FILTER (WHERE e.day >= :month_start), 0) AS month_xp
    FROM member_xp_daily AS e
    WHERE e.guild_id = :guild_id AND e.user_id = :user_id
      AND e.day >= least(:week_start, :month_start) AND e.day < :today
)
SELECT a.xp AS awarded_xp, w.xp, w.level, w.level > p.level AS leveled_up,
       dl.xp AS day_xp, dl.xp + er.week_xp AS week_xp, dl.xp + er.month_xp AS month_xp,
       CASE WHEN w.level > p.level THEN ARRAY(
           SELECT r.role_id FROM level_role AS r
           WHERE r.guild_id = :guild_id AND r.level <= w.level AND r.role_id <> ALL (:role_ids)
             AND (a.role_mode = 'stack' OR r.level = top.level)
           ORDER BY r.level) ELSE '{}' END AS roles_to_grant,
       CASE WHEN w.level > p.level AND a.role_mode = 'replace' THEN ARRAY(
           SELECT r.role_id FROM level_role AS r
           WHERE r.guild_id = :guild_id AND r.level <> top.level AND r.role_id = ANY (:role_ids)
           ORDER BY r.level) ELSE '{}' END AS roles_to_remove
FROM awarded AS w
CROSS JOIN award AS a
CROSS JOIN daily AS dl
CROSS JOIN earlier AS er
CROSS JOIN LATERAL (SELECT level_for_xp(w.xp - a.xp, a.curve) AS level) AS p
CROSS JOIN LATERAL (
    SELECT max(r.level) AS level FROM level_role AS r WHERE r.guild_id = :guild_id AND r.level <= w.level
) AS top
""").bindparams(
    bindparam("role_ids", type_=ARRAY(BigInteger)),
    bindparam("roll", type_=Float),
)

_AWARD = prepare(_AWARD_SQL)  # compiled once; prepared per connection by asyncpg

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


class LevelsController(Controller):
    """XP per message, ranks and leaderboards from PostgreSQL, and each guild's level rules.

    Every XP change also reaches the Redis leaderboards (``db.leaderboards``)
    after its commit: awards write the member's new totals, blacklisting
    removes the member, and hand edits drop the boards so they are rebuilt.
    """

    def __init__(self, db: UnitOfWork) -> None:
        super().__init__(db)
        self._boards = LeaderboardController(db)

    async def award_message_xp(
        self,
        guild_id: int,
        user_id: int,
        channel_id: int,
        role_ids: Sequence[int],
        now: datetime,
        *,
        roll: float | None = None,
    ) -> XPAward:
        """Award XP for one message, in ONE statement, and say what the bot must do.

        The guild's rules are read inside the same statement (a CTE), not passed
        in from a cache, so a settings change applies to the very next message
        and no caller has to keep a cache coherent. XP is random in the
        configured range: ``roll`` (uniform in [0, 1), drawn here unless given)
        picks the point in the range in SQL, then multipliers apply.

        No ``member`` row is needed: the first message creates the level row.
        An unknown guild raises ``ValidationError`` on ``guild_id``.

        Returns:
            ``XPAward``: nothing awarded (cooldown, ignored channel, blacklisted),
            or the XP awarded, the new totals, whether the level went up, and
            the reward roles to grant (and, in replace mode, to remove).
        """
        guild_id = snowflake("guild_id", guild_id)
        user_id = snowflake("user_id", user_id)
        channel_id = snowflake("channel_id", channel_id)
        roles = _role_ids(role_ids)
        _require_aware("now", now)
        if roll is None:
            roll = random.random()  # noqa: S311 - XP variety, not security
        elif not 0 <= roll < 1:
            raise ValidationError.single("roll", "range", f"must be in [0, 1), got {roll!r}")
        params = {
            "guild_id": guild_id,
            "user_id": user_id,
            "channel_id": channel_id,
            "role_ids": roles,
            "now": now,
            "roll": roll,
            "today": window(Period.DAY, now).start,
            "week_start": window(Period.WEEK, now).start,
            "month_start": window(Period.MONTH, now).start,
            "default_xp_min": DEFAULT_XP_MIN,
            "default_xp_max": DEFAULT_XP_MAX,
            "default_cooldown": DEFAULT_COOLDOWN_SECONDS,
            "default_curve": LevelCurve.MEE6.value,
            "default_role_mode": LevelRoleMode.STACK.value,
        }
        # One statement, so no explicit transaction: it commits on its own.
        async with self._fast(transaction=False) as unit:
            row = await _AWARD.fetchrow(unit.connection, params)  # constraint errors arrive translated
            if row is None:
                return XPAward()
            award = XPAward(
                awarded_xp=row["awarded_xp"],
                xp=row["xp"],
                level=row["level"],
                leveled_up=row["leveled_up"],
                roles_to_grant=list(row["roles_to_grant"]),
                roles_to_remove=list(row["roles_to_remove"]),
                day_xp=row["day_xp"],
                week_xp=row["week_xp"],
                month_xp=row["month_xp"],
            )
            after_commit(unit, partial(self._boards.record, guild_id, user_id, award, now))
        return award

    async def get(self, guild_id: int, user_id: int) -> MemberLevelRead | None:
        """The member's level row, or None before their first counted message."""
        key = _key(guild_id, user_id)
        async with self._write() as session:
            row = await session.get(MemberLevel, key)
            return None if row is None else MemberLevelRead.model_validate(row)

    async def rank(self, guild_id: int, user_id: int) -> RankCard | None:
        """Rank card data (XP, level, position, level progress) in one indexed query."""
        guild_id, user_id = _key(guild_id, user_id)
        params = {"guild_id": guild_id, "user_id": user_id, "default_curve": LevelCurve.MEE6.value}
        async with self._read() as session:
            row = (await session.execute(_RANK_SQL, params)).mappings().one_or_none()
            return None if row is None else RankCard.model_validate(dict(row))

    async def leaderboard(
        self, guild_id: int, *, limit: int = 10, after: LeaderboardCursor | None = None
    ) -> LeaderboardPage:
        """One page of the guild's ranking (XP, then user ID, both descending), by keyset.

        Reads walk ``ix_member_level_leaderboard`` from the cursor: page 1,000
        costs the same as page 1. Blacklisted members are not ranked. This is
        the PostgreSQL path, for when Redis is absent or being rebuilt.
        """
        guild_id = snowflake("guild_id", guild_id)
        if not 1 <= limit <= MAX_PAGE_SIZE:
            raise ValidationError.single("limit", "range", f"must be 1-{MAX_PAGE_SIZE}, got {limit}")
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
        actor = current_actor()
        stmt = insert(MemberLevel).values(
            guild_id=checked.guild_id,
            user_id=checked.user_id,
            xp=checked.xp,
            level=func.level_for_xp(checked.xp, _curve(checked.guild_id)),
            created_by=actor,
            updated_by=actor,
        )
        upsert = stmt.on_conflict_do_update(
            index_elements=["guild_id", "user_id"],
            set_={"xp": stmt.excluded.xp, "level": stmt.excluded.level, "updated_by": actor, "updated_at": func.now()},
        ).returning(MemberLevel)
        async with self._write() as session:
            row = (await session.scalars(upsert, execution_options={"populate_existing": True})).one()
            after_commit(session, partial(self._boards.invalidate, checked.guild_id))
            return MemberLevelRead.model_validate(row)

    async def reset(self, guild_id: int, user_id: int | None = None) -> int:
        """Zero XP, level and message count of one member, or of the whole guild; returns rows reset."""
        guild_id = snowflake("guild_id", guild_id)
        stmt = update(MemberLevel).where(col(MemberLevel.guild_id) == guild_id)
        if user_id is not None:
            stmt = stmt.where(col(MemberLevel.user_id) == snowflake("user_id", user_id))
        stmt = stmt.values(
            xp=0, level=0, message_count=0, last_message_at=None, updated_by=current_actor(), updated_at=func.now()
        )
        days = delete(MemberXPDaily).where(col(MemberXPDaily.guild_id) == guild_id)
        if user_id is not None:
            days = days.where(col(MemberXPDaily.user_id) == snowflake("user_id", user_id))
        async with self._write() as session:
            result = await session.execute(stmt)
            await session.execute(days)
            after_commit(session, partial(self._boards.invalidate, guild_id))
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def blacklist(self, guild_id: int, user_id: int) -> MemberLevelRead:
        """Stop a member from earning XP and take them off the leaderboard (XP is kept)."""
        return await self._set_blacklisted(guild_id, user_id, blacklisted=True)

    async def unblacklist(self, guild_id: int, user_id: int) -> MemberLevelRead:
        """Let a member earn XP again; they reappear on the leaderboard with their XP."""
        return await self._set_blacklisted(guild_id, user_id, blacklisted=False)

    async def _set_blacklisted(self, guild_id: int, user_id: int, *, blacklisted: bool) -> MemberLevelRead:
        guild_id, user_id = _key(guild_id, user_id)
        actor = current_actor()
        stmt = insert(MemberLevel).values(
            guild_id=guild_id, user_id=user_id, is_blacklisted=blacklisted, created_by=actor, updated_by=actor
        )
        upsert = stmt.on_conflict_do_update(
            index_elements=["guild_id", "user_id"],
            set_={"is_blacklisted": blacklisted, "updated_by": actor, "updated_at": func.now()},
        ).returning(MemberLevel)
        async with self._write() as session:
            row = (await session.scalars(upsert, execution_options={"populate_existing": True})).one()
            if blacklisted:
                after_commit(session, partial(self._boards.forget_member, guild_id, user_id))
            else:
                after_commit(session, partial(self._boards.invalidate, guild_id))
            return MemberLevelRead.model_validate(row)

    # -- settings -------------------------------------------------------------------
    async def get_config(self, guild_id: int) -> LevelConfigRead:
        """The guild's XP rules (the defaults when it never changed them)."""
        guild_id = snowflake("guild_id", guild_id)
        async with self._write() as session:
            row = await session.get(LevelConfig, guild_id)
            if row is None:
                return LevelConfigRead(guild_id=guild_id)
            return LevelConfigRead.model_validate(row)

    async def configure(
        self, guild_id: int, changes: Mapping[str, Any] | None = None, /, **fields: Any
    ) -> LevelConfigRead:
        """Change some XP rules; the row is locked so concurrent edits cannot lose one.

        The merged result is validated as a whole (``xp_max`` must stay at least
        ``xp_min``), so a change is checked against the values it keeps.
        """
        guild_id = snowflake("guild_id", guild_id)
        given = dict(changes or {}) | fields
        unknown = sorted(set(given) - set(LevelConfigFields.model_fields))
        if unknown:
            raise ValidationError.single(unknown[0], "extra_forbidden", "is not a level setting")
        actor = current_actor()
        async with self._write() as session:
            await session.execute(
                insert(LevelConfig)
                .values(guild_id=guild_id, created_by=actor, updated_by=actor)
                .on_conflict_do_nothing()
            )
            locked = select(LevelConfig).where(col(LevelConfig.guild_id) == guild_id).with_for_update()
            row = (await session.scalars(locked)).one()
            current = LevelConfigFields.model_validate(row).model_dump()
            checked = validate(LevelConfigFields, current | given)
            for name in given:
                setattr(row, name, getattr(checked, name))
            row.updated_by = actor
            await session.flush()
            await session.refresh(row)
            return LevelConfigRead.model_validate(row)

    async def set_multiplier(
        self, guild_id: int, kind: MultiplierKind | str, target_id: int, multiplier: float
    ) -> LevelMultiplierRead:
        """Give a role's members, or a channel's messages, an XP factor (0 disables XP there)."""
        checked = validate(
            LevelMultiplierBase,
            {
                "guild_id": guild_id,
                "kind": validate_enum("kind", MultiplierKind, kind),
                "target_id": target_id,
                "multiplier": multiplier,
            },
        )
        stmt = insert(LevelMultiplier).values(**checked.model_dump())
        upsert = stmt.on_conflict_do_update(
            index_elements=["guild_id", "kind", "target_id"], set_={"multiplier": stmt.excluded.multiplier}
        ).returning(LevelMultiplier)
        async with self._write() as session:
            row = (await session.scalars(upsert, execution_options={"populate_existing": True})).one()
            return LevelMultiplierRead.model_validate(row)

    async def remove_multiplier(self, guild_id: int, kind: MultiplierKind | str, target_id: int) -> bool:
        """Drop a multiplier (the factor goes back to 1)."""
        checked_kind = validate_enum("kind", MultiplierKind, kind)
        guild_id, target_id = snowflake("guild_id", guild_id), snowflake("target_id", target_id)
        stmt = delete(LevelMultiplier).where(
            col(LevelMultiplier.guild_id) == guild_id,
            col(LevelMultiplier.kind) == checked_kind,
            col(LevelMultiplier.target_id) == target_id,
        )
        async with self._write() as session:
            return bool((await session.execute(stmt)).rowcount)  # type: ignore[attr-defined]

    async def multipliers(self, guild_id: int) -> list[LevelMultiplierRead]:
        """Every multiplier of the guild, roles first."""
        guild_id = snowflake("guild_id", guild_id)
        stmt = (
            select(LevelMultiplier)
            .where(col(LevelMultiplier.guild_id) == guild_id)
            .order_by(col(LevelMultiplier.kind), col(LevelMultiplier.target_id))
        )
        async with self._write() as session:
            return [LevelMultiplierRead.model_validate(row) for row in await session.scalars(stmt)]

    async def set_level_role(self, guild_id: int, level: int, role_id: int) -> LevelRoleRead:
        """Reward ``role_id`` at ``level`` (replacing that level's previous reward).

        A role rewards one level only: giving it to a second level raises
        ``ConflictError``; remove it from the first level before.
        """
        checked = validate(LevelRoleBase, {"guild_id": guild_id, "level": level, "role_id": role_id})
        actor = current_actor()
        stmt = insert(LevelRole).values(**checked.model_dump(), created_by=actor, updated_by=actor)
        upsert = stmt.on_conflict_do_update(
            index_elements=["guild_id", "level"],
            set_={"role_id": stmt.excluded.role_id, "updated_by": actor, "updated_at": func.now()},
        ).returning(LevelRole)
        async with self._write() as session:
            row = (await session.scalars(upsert, execution_options={"populate_existing": True})).one()
            return LevelRoleRead.model_validate(row)

    async def remove_level_role(self, guild_id: int, level: int) -> bool:
        """Stop rewarding a role at ``level``; members keep roles they already have."""
        guild_id = snowflake("guild_id", guild_id)
        stmt = delete(LevelRole).where(col(LevelRole.guild_id) == guild_id, col(LevelRole.level) == level)
        async with self._write() as session:
            return bool((await session.execute(stmt)).rowcount)  # type: ignore[attr-defined]

    async def level_roles(self, guild_id: int) -> list[LevelRoleRead]:
        """The guild's reward roles by level."""
        guild_id = snowflake("guild_id", guild_id)
        stmt = select(LevelRole).where(col(LevelRole.guild_id) == guild_id).order_by(col(LevelRole.level))
        async with self._write() as session:
            return [LevelRoleRead.model_validate(row) for row in await session.scalars(stmt)]


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


def _role_ids(role_ids: Sequence[int]) -> list[int]:
    if isinstance(role_ids, (str, bytes)) or len(role_ids) > MAX_ROLE_IDS:
        raise ValidationError.single("role_ids", "max_items", f"must be at most {MAX_ROLE_IDS} role IDs")
    return [snowflake(f"role_ids.{index}", role) for index, role in enumerate(role_ids)]


def _require_aware(field: str, value: datetime) -> None:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError.single(field, "timezone", f"must be a timezone-aware datetime, got {value!r}")


def _curve(guild_id: int) -> ColumnElement[Any]:
    """The guild's curve as a SQL expression, so writes recompute the level in their own statement."""
    configured = select(col(LevelConfig.curve)).where(col(LevelConfig.guild_id) == guild_id).scalar_subquery()
    curve_type = LevelConfig.__table__.c.curve.type  # type: ignore[attr-defined]
    return func.coalesce(configured, literal(LevelCurve.MEE6, curve_type))
