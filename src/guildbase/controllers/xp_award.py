"""The per-message XP award: ONE statement that reads the rules, the toggle and the clock, and writes.

``db.levels.award_message_xp`` runs it once per counted message, so it is
written once as SQL to be read, reviewed, EXPLAINed and benchmarked (W1, W6):

- ``clock`` is the moment of the message: the caller's ``now``, or the
  database's ``now()`` when the caller passes none; ``days`` derives the UTC
  day, ISO week and month from it (the same windows as
  ``services.leaderboard.window``);
- ``settings`` reads the guild's ``levels`` toggle (``guild_feature``, else its
  default) and rules (``level_config``, else the defaults) in one row, so a
  toggle or settings change applies to the very next message without any
  cache to keep coherent;
- ``multiplier`` folds in the highest matching role multiplier and the channel's;
- ``award`` turns the caller's uniform roll into XP in the configured range,
  and is empty when the feature is off or the channel ignored;
- ``awarded`` is the upsert: insert the member, or add XP only if the cooldown
  has passed and the member is not blacklisted; ON CONFLICT DO UPDATE locks
  the row and re-checks the cooldown on its latest version, so concurrent
  messages inside one window award XP exactly once;
- ``awarded`` also keeps the member's *open day* in the same row: the UTC day
  of this award and its day, week and month totals, added to when the award
  falls on the open day (week, month: in its week, month) and restarted from
  this award otherwise. The row lock serializes a member's awards and the
  cooldown test admits them only in time order (the extra ``open_day`` test
  says so outright), so the totals are exact under any concurrency, across
  day, week and month boundaries too, and the Redis boards store them with
  ZADD GT (idempotent, order-independent);
- ``closed`` hands the day an award moved on from (``closed_day``, set by the
  upsert from the row's previous open day) to ``member_xp_daily``: one more
  write per member and day, none on the other awards of the day;
- ``result`` says whether the level went up (the XP before this award fell
  short of the new level's total: one inlined expression, where computing the
  old level took a third ``level_for_xp``);
- the outer SELECT always returns exactly one row: whether the feature is on,
  the moment used, and the award (all NULL when nothing was awarded).

The reward roles are a second statement, ``REWARDS``, run on the same
connection only when the level went up (one message in dozens, or hundreds
at high levels). In the award itself, their four sub-selects on
``level_role`` cost every message their set-up even when skipped: about a
fifth of the statement's server time at 16 concurrent awards (W1,
``docs/performance.md``). A reward-role edit committed between the two reads
applies to this level-up, as it would to the next one.
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy import BigInteger, Boolean, Float, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY

from guildbase.db.fast import prepare
from guildbase.db.rows import assemble
from guildbase.models.core import DEFAULT_FEATURES, Feature
from guildbase.models.levels import (
    DEFAULT_COOLDOWN_SECONDS,
    DEFAULT_XP_MAX,
    DEFAULT_XP_MIN,
    LevelCurve,
    LevelRoleMode,
    XPAward,
)

__all__ = ["AWARD", "AWARD_SQL", "REWARDS", "REWARDS_SQL", "award_params", "award_result", "reward_params"]

AWARD_SQL = text("""
WITH clock AS (
    SELECT coalesce(CAST(:now AS timestamptz), now()) AS at
), days AS (
    SELECT (k.at AT TIME ZONE 'UTC')::date AS today,
           date_trunc('week', k.at AT TIME ZONE 'UTC')::date AS week_start,
           date_trunc('month', k.at AT TIME ZONE 'UTC')::date AS month_start
    FROM clock AS k
), settings AS (
    SELECT coalesce(f.is_enabled, :default_enabled) AS is_enabled,
           coalesce(c.xp_min, :default_xp_min) AS xp_min,
           coalesce(c.xp_max, :default_xp_max) AS xp_max,
           coalesce(c.cooldown_seconds, :default_cooldown) AS cooldown_seconds,
           coalesce(c.curve, CAST(:default_curve AS level_curve)) AS curve,
           coalesce(c.role_mode, CAST(:default_role_mode AS level_role_mode)) AS role_mode,
           coalesce(:channel_id = ANY (c.ignored_channel_ids), false) AS is_ignored
    FROM (VALUES (1)) AS one (x)
    LEFT JOIN level_config AS c ON c.guild_id = :guild_id
    LEFT JOIN guild_feature AS f ON f.guild_id = :guild_id AND f.feature = CAST(:feature AS guild_feature_name)
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
    WHERE s.is_enabled AND NOT s.is_ignored
), awarded AS (
    INSERT INTO member_level AS ml (
        guild_id, user_id, xp, level, message_count, last_message_at, open_day, day_xp, week_xp, month_xp
    )
    SELECT :guild_id, :user_id, a.xp, level_for_xp(a.xp, a.curve), 1, k.at, dy.today, a.xp, a.xp, a.xp
    FROM award AS a CROSS JOIN clock AS k CROSS JOIN days AS dy
    ON CONFLICT (guild_id, user_id) DO UPDATE
    SET xp = ml.xp + excluded.xp,
        level = level_for_xp(ml.xp + excluded.xp, (SELECT a.curve FROM award AS a)),
        message_count = ml.message_count + 1,
        last_message_at = excluded.last_message_at,
        open_day = excluded.open_day,
        day_xp = CASE WHEN ml.open_day = excluded.open_day THEN ml.day_xp ELSE 0 END + excluded.xp,
        week_xp = CASE WHEN ml.open_day >= (SELECT dy.week_start FROM days AS dy) THEN ml.week_xp ELSE 0 END
                  + excluded.xp,
        month_xp = CASE WHEN ml.open_day >= (SELECT dy.month_start FROM days AS dy) THEN ml.month_xp ELSE 0 END
                   + excluded.xp,
        closed_day = CASE WHEN ml.open_day < excluded.open_day THEN ml.open_day END,
        closed_day_xp = CASE WHEN ml.open_day < excluded.open_day THEN ml.day_xp END,
        updated_at = now()
    WHERE NOT ml.is_blacklisted
      AND (ml.last_message_at IS NULL
           OR ml.last_message_at
              <= excluded.last_message_at - make_interval(secs => (SELECT a.cooldown_seconds FROM award AS a)))
      AND (ml.open_day IS NULL OR ml.open_day <= excluded.open_day)
    RETURNING ml.xp, ml.level, ml.day_xp, ml.week_xp, ml.month_xp, ml.closed_day, ml.closed_day_xp
), closed AS (
    INSERT INTO member_xp_daily AS d (guild_id, user_id, day, xp)
    SELECT :guild_id, :user_id, w.closed_day, w.closed_day_xp FROM awarded AS w WHERE w.closed_day IS NOT NULL
    ON CONFLICT (guild_id, user_id, day) DO UPDATE SET xp = d.xp + excluded.xp
), result AS (
    SELECT a.xp AS awarded_xp, w.xp, w.level, w.xp - a.xp < level_total_xp(w.level, a.curve) AS leveled_up,
           w.day_xp, w.week_xp, w.month_xp, a.role_mode
    FROM awarded AS w
    CROSS JOIN award AS a
)
SELECT s.is_enabled, k.at AS awarded_at, r.*
FROM settings AS s
CROSS JOIN clock AS k
LEFT JOIN result AS r ON true
""").bindparams(
    bindparam("role_ids", type_=ARRAY(BigInteger)),
    bindparam("roll", type_=Float),
    bindparam("default_enabled", type_=Boolean),
)

REWARDS_SQL = text("""
SELECT ARRAY(
           SELECT r.role_id FROM level_role AS r
           WHERE r.guild_id = :guild_id AND r.level <= :level AND r.role_id <> ALL (:role_ids)
             AND (CAST(:role_mode AS level_role_mode) = 'stack' OR r.level = (
                 SELECT max(t.level) FROM level_role AS t WHERE t.guild_id = :guild_id AND t.level <= :level))
           ORDER BY r.level) AS roles_to_grant,
       CASE WHEN CAST(:role_mode AS level_role_mode) = 'replace' THEN ARRAY(
           SELECT r.role_id FROM level_role AS r
           WHERE r.guild_id = :guild_id AND r.role_id = ANY (:role_ids) AND r.level <> (
               SELECT max(t.level) FROM level_role AS t WHERE t.guild_id = :guild_id AND t.level <= :level)
           ORDER BY r.level) ELSE '{}' END AS roles_to_remove
""").bindparams(bindparam("role_ids", type_=ARRAY(BigInteger)))
"""The reward roles of a level-up: to grant (every role up to the level, or only its highest in replace
mode) and, in replace mode, the lower ones the member holds, each against the roles they have now."""

AWARD = prepare(AWARD_SQL)  # compiled once; prepared per connection by asyncpg
REWARDS = prepare(REWARDS_SQL)

_DEFAULTS: dict[str, Any] = {
    "feature": Feature.LEVELS.value,
    "default_enabled": DEFAULT_FEATURES[Feature.LEVELS],
    "default_xp_min": DEFAULT_XP_MIN,
    "default_xp_max": DEFAULT_XP_MAX,
    "default_cooldown": DEFAULT_COOLDOWN_SECONDS,
    "default_curve": LevelCurve.MEE6.value,
    "default_role_mode": LevelRoleMode.STACK.value,
}


def award_params(
    guild_id: int, user_id: int, channel_id: int, role_ids: Sequence[int], *, now: datetime | None, roll: float
) -> dict[str, Any]:
    """The statement's parameters for already validated arguments (``now=None``: the database's clock)."""
    return {
        "guild_id": guild_id,
        "user_id": user_id,
        "channel_id": channel_id,
        "role_ids": role_ids,
        "now": now,
        "roll": roll,
        **_DEFAULTS,
    }


def reward_params(row: asyncpg.Record, guild_id: int, role_ids: Sequence[int]) -> dict[str, Any] | None:
    """``REWARDS``'s parameters when the award's ``row`` is a level-up, else None (nothing to look up)."""
    if not row["leveled_up"]:
        return None
    return {"guild_id": guild_id, "level": row["level"], "role_ids": role_ids, "role_mode": row["role_mode"]}


def award_result(row: asyncpg.Record, rewards: asyncpg.Record | None = None) -> tuple[XPAward, datetime]:
    """The read model of the award's one row (and of ``REWARDS``' row on a level-up), and its moment."""
    if not row["is_enabled"]:
        return XPAward(is_feature_off=True), row["awarded_at"]
    if row["xp"] is None:
        return XPAward(), row["awarded_at"]
    # Every field from the statement's typed columns (bigint, integer, boolean, bigint[]): nothing to validate.
    award = assemble(
        XPAward,
        is_feature_off=False,
        awarded_xp=row["awarded_xp"],
        xp=row["xp"],
        level=row["level"],
        leveled_up=row["leveled_up"],
        roles_to_grant=[] if rewards is None else list(rewards["roles_to_grant"]),
        roles_to_remove=[] if rewards is None else list(rewards["roles_to_remove"]),
        day_xp=row["day_xp"],
        week_xp=row["week_xp"],
        month_xp=row["month_xp"],
    )
    return award, row["awarded_at"]
