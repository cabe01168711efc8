"""W1-W8 (see BENCHMARKS.md): setup, the three variants of each, and the correctness checks."""

import math
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlmodel import col

from bench.harness import Env, Runner, Variant, VariantResult, environment
from guildbase.controllers.xp_award import AWARD_SQL, REWARDS_SQL, reward_params
from guildbase.db.fast import prepare
from guildbase.models.core import GuildConfig, GuildConfigRead
from guildbase.models.levels import LevelConfig, MemberLevel, level_for_xp
from guildbase.services.leaderboard import RECORD_SCRIPT, Period, board_key, window

G0 = 1_100_000_000_000_000_000
U0 = 1_100_000_000_000_001_000
CHANNEL = 1_100_000_000_000_000_301
T0 = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Scale:
    quick: bool

    def pick(self, quick: int, full: int) -> int:
        return quick if self.quick else full


Workload = Callable[[Scale, int], Awaitable[dict[str, Any]]]


def summarize(results: dict[str, VariantResult], limit: str = "limit") -> dict[str, Any]:
    out: dict[str, Any] = {name: r.summary() for name, r in results.items()}
    base = out[limit]["median"]
    for summary in out.values():
        summary["ratio_to_limit"] = summary["median"] / base if base else None
    return out


async def seed_guilds(env: Env, first: int, count: int) -> None:
    await env.sql(
        "INSERT INTO guild (guild_id, joined_at) SELECT $1::bigint + g, now() FROM generate_series(0, $2 - 1) AS g",
        first,
        count,
    )
    await env.sql(
        "INSERT INTO guild_config (guild_id, prefix, extra_prefixes, locale) "
        "SELECT $1::bigint + g, '$', '{}', 'en-US' FROM generate_series(0, $2 - 1) AS g",
        first,
        count,
    )


async def seed_levels(env: Env, first_guild: int, guilds: int, members: int) -> None:
    await env.sql(
        """INSERT INTO member_level (guild_id, user_id, xp, level, message_count, last_message_at)
           SELECT $1::bigint + g, $2::bigint + m, x, level_for_xp(x, 'mee6'), 1, $4
           FROM generate_series(0, $3 - 1) AS m CROSS JOIN generate_series(0, $5 - 1) AS g
           CROSS JOIN LATERAL (SELECT ((m * 7919 + g * 104729) % 50000)::bigint AS x) AS v""",
        first_guild,
        U0,
        members,
        T0 - timedelta(days=1),
        guilds,
    )


async def numbering_checks(env: Env, table: str, guilds: dict[str, int]) -> dict[str, int]:
    """Per variant: how many numbers of its guild in ``table`` are duplicated, and how many are missing below the top."""
    checks: dict[str, int] = {}
    for name, guild in guilds.items():
        total, distinct, top = await env.limit.fetchrow(
            f"SELECT count(*), count(DISTINCT number), coalesce(max(number), 0) FROM {table} WHERE guild_id = $1",  # noqa: S608 - our own table name
            guild,
        )
        checks[f"{name}_duplicates"] = total - distinct
        checks[f"{name}_gaps"] = top - distinct
    return checks


def roll(index: int) -> float:
    return ((index * 2654435761) % 1000) / 1000


# -- W1: message XP ------------------------------------------------------------------
AWARD = prepare(AWARD_SQL)
REWARDS = prepare(REWARDS_SQL)


def award_params(guild: int, user: int, now: datetime, index: int) -> dict[str, Any]:
    return {
        "guild_id": guild,
        "user_id": user,
        "channel_id": CHANNEL,
        "role_ids": [],
        "now": now,
        "roll": roll(index),
        "feature": "levels",
        "default_enabled": True,
        "default_xp_min": 15,
        "default_xp_max": 25,
        "default_cooldown": 60,
        "default_curve": "mee6",
        "default_role_mode": "stack",
    }


async def limit_award(env: Env, guild: int, user: int, now: datetime, index: int) -> Any:
    """The limit: the same statements on a plain asyncpg pool (rewards on a level-up), then the same Redis script."""
    async with env.limit.acquire() as connection:
        row = await AWARD.fetchrow(connection, award_params(guild, user, now, index))
        level_up = None if row is None else reward_params(row, guild, [])
        if level_up is not None:
            await REWARDS.fetchrow(connection, level_up)
    if row is not None and row["xp"] is not None:
        epoch = await env.db.cache.epochs.epoch()
        keys: list[str] = []
        args: list[Any] = [f"{user:019d}"]
        for period, total in (
            (Period.ALL, row["xp"]),
            (Period.MONTH, row["month_xp"]),
            (Period.WEEK, row["week_xp"]),
            (Period.DAY, row["day_xp"]),
        ):
            span = window(period, now)
            keys.append(board_key(guild, span, epoch))
            args += (total, span.ttl_seconds())
        await env.redis.eval(RECORD_SCRIPT, len(keys), *keys, *args)
    return row


# The second reference: only what one message's XP needs (cooldown check, increment, level) and the
# all-time board, without the guild's settings, multipliers, reward roles or day/week/month totals.
MINIMAL_SQL = """
INSERT INTO member_level AS ml (guild_id, user_id, xp, level, message_count, last_message_at)
VALUES ($1, $2, $3, level_for_xp($3, 'mee6'), 1, $4)
ON CONFLICT (guild_id, user_id) DO UPDATE
SET xp = ml.xp + excluded.xp,
    level = level_for_xp(ml.xp + excluded.xp, 'mee6'),
    message_count = ml.message_count + 1,
    last_message_at = excluded.last_message_at,
    updated_at = now()
WHERE NOT ml.is_blacklisted
  AND (ml.last_message_at IS NULL OR ml.last_message_at <= excluded.last_message_at - interval '60 seconds')
RETURNING xp, level
"""


async def minimal_award(env: Env, guild: int, user: int, now: datetime, index: int) -> Any:
    """The minimal statement on the plain asyncpg pool, then the all-time board only (one ZADD GT)."""
    gained = 15 + math.floor(roll(index) * 11)
    async with env.limit.acquire() as connection:
        row = await connection.fetchrow(MINIMAL_SQL, guild, user, gained, now)
    if row is not None:
        epoch = await env.db.cache.epochs.epoch()
        span = window(Period.ALL, now)
        async with env.redis.pipeline(transaction=False) as pipe:
            pipe.zadd(board_key(guild, span, epoch), {f"{user:019d}": int(row["xp"])}, gt=True)
            pipe.expire(board_key(guild, span, epoch), span.ttl_seconds())
            await pipe.execute()
    return row


async def naive_award(env: Env, guild: int, user: int, now: datetime, index: int) -> None:
    """What a typical bot does: read config and member with the ORM, change in Python, commit."""
    async with env.naive() as session:
        config = await session.get(LevelConfig, guild)
        xp_min = config.xp_min if config and config.xp_min is not None else 15
        xp_max = config.xp_max if config and config.xp_max is not None else 25
        gained = xp_min + math.floor(roll(index) * (xp_max - xp_min + 1))
        row = await session.get(MemberLevel, (guild, user))
        if row is None:
            row = MemberLevel(guild_id=guild, user_id=user, xp=gained, level=level_for_xp(gained), message_count=1)
            row.last_message_at = now
            session.add(row)
        elif not row.is_blacklisted and (
            row.last_message_at is None or row.last_message_at <= now - timedelta(seconds=60)
        ):
            row.xp += gained
            row.level = level_for_xp(row.xp)
            row.message_count += 1
            row.last_message_at = now
        else:
            return
        await session.commit()
    key = board_key(guild, window(Period.ALL, now), await env.db.cache.epochs.epoch())
    await env.redis.zincrby(key, gained, f"{user:019d}")


def xp_target(index: int, guilds: int, members: int, first_guild: int) -> tuple[int, int, datetime]:
    population = guilds * members
    slot = index % population
    return first_guild + slot % guilds, U0 + slot // guilds, T0 + timedelta(seconds=61 * (index // population + 1))


async def w1(scale: Scale, rounds: int) -> dict[str, Any]:
    guilds, members = 10, scale.pick(1000, 10_000)
    ops, tasks = scale.pick(500, 20_000), 16
    firsts = {"guildbase": G0 + 100, "limit": G0 + 200, "naive": G0 + 300, "minimal": G0 + 400}
    firsts["guildbase_new_day"] = G0 + 500
    async with environment() as env:
        for first in firsts.values():
            await seed_guilds(env, first, guilds)
            await seed_levels(env, first, guilds, members)
        # The same members, but each with XP on the day before (their open day, T0 is a Monday): every
        # award of this variant is the member's first of a new day, and hands yesterday to member_xp_daily.
        await env.sql(
            "UPDATE member_level SET open_day = $3, day_xp = 20, week_xp = 20, month_xp = 20 "
            "WHERE guild_id >= $1 AND guild_id < $1 + $2",
            firsts["guildbase_new_day"],
            guilds,
            (T0 - timedelta(days=1)).date(),
        )

        def ours(index: int) -> Awaitable[Any]:
            g, u, now = xp_target(index, guilds, members, firsts["guildbase"])
            return env.db.levels.award_message_xp(g, u, CHANNEL, [], now, roll=roll(index))

        def new_day(index: int) -> Awaitable[Any]:
            g, u, now = xp_target(index, guilds, members, firsts["guildbase_new_day"])
            return env.db.levels.award_message_xp(g, u, CHANNEL, [], now, roll=roll(index))

        def limit(index: int) -> Awaitable[Any]:
            g, u, now = xp_target(index, guilds, members, firsts["limit"])
            return limit_award(env, g, u, now, index)

        def naive(index: int) -> Awaitable[Any]:
            g, u, now = xp_target(index, guilds, members, firsts["naive"])
            return naive_award(env, g, u, now, index)

        def minimal(index: int) -> Awaitable[Any]:
            g, u, now = xp_target(index, guilds, members, firsts["minimal"])
            return minimal_award(env, g, u, now, index)

        results = await Runner(env, rounds=rounds).compare(
            [
                Variant("guildbase", ours, ops, tasks),
                Variant("limit", limit, ops, tasks),
                Variant("minimal", minimal, ops, tasks),
                Variant("guildbase_new_day", new_day, ops, tasks),
                Variant("naive", naive, scale.pick(500, 4000), tasks),
            ]
        )
        closed_days = await env.fetchval(
            "SELECT count(*) FROM member_xp_daily WHERE guild_id >= $1 AND guild_id < $1 + $2 AND day = $3 AND xp = 20",
            firsts["guildbase_new_day"],
            guilds,
            (T0 - timedelta(days=1)).date(),
        )
        states = {}
        for name, first in firsts.items():
            rows = await env.fetch(
                "SELECT guild_id - $1 AS g, user_id, xp, level, message_count FROM member_level "
                "WHERE guild_id >= $1 AND guild_id < $1 + $2 ORDER BY 1, 2",
                first,
                guilds,
            )
            states[name] = [tuple(r) for r in rows]
        variants = summarize(results)
        return {
            "variants": variants,
            "checks": {
                "awards_equal_to_limit": states["guildbase"] == states["limit"],
                "minimal_awards_equal_to_limit": states["minimal"] == states["limit"],
                "naive_awards_equal_to_limit": states["naive"] == states["limit"],
                "guildbase_vs_minimal": round(variants["guildbase"]["median"] / variants["minimal"]["median"], 3),
                "new_day_awards_equal_to_limit": states["guildbase_new_day"] == states["limit"],
                "new_day_days_handed_to_member_xp_daily": closed_days,
                "new_day_vs_minimal": round(variants["guildbase_new_day"]["median"] / variants["minimal"]["median"], 3),
            },
            "notes": "minimal: the upsert with the cooldown and the level, and the all-time board, without "
            "settings, multipliers, reward roles or the day/week/month totals and boards; guildbase_new_day: "
            "guildbase where every award is the member's first of a new day (one more write: the day it closed)",
        }


# -- W3: guild config read ----------------------------------------------------------------
async def w3(scale: Scale, rounds: int) -> dict[str, Any]:
    guilds = scale.pick(1000, 20_000)
    hot = 100
    tasks = 32
    async with environment({"pool_max_overflow": 0}) as env:
        await seed_guilds(env, G0 + 1, guilds)
        local: dict[int, GuildConfigRead] = {}

        async def clear_caches() -> None:
            env.db.cache.local.clear()
            await env.redis.flushdb()

        def hit(index: int) -> Awaitable[Any]:
            return env.db.guild_config.get(G0 + 1 + index % hot)

        def miss(index: int) -> Awaitable[Any]:
            return env.db.guild_config.get(G0 + 1 + index % guilds)

        async def point(index: int) -> Any:
            async with env.limit.acquire() as connection:
                row = await connection.fetchrow(
                    "SELECT * FROM guild_config WHERE guild_id = $1", G0 + 1 + index % guilds
                )
            return GuildConfigRead.model_validate(dict(row))

        async def in_process(index: int) -> Any:
            return local[G0 + 1 + index % hot]

        async def naive(index: int) -> Any:
            async with env.naive() as session:
                config = await session.get(GuildConfig, G0 + 1 + index % guilds)
                return GuildConfigRead.model_validate(config)

        for g in range(hot):
            local[G0 + 1 + g] = await point(g)
        hits = scale.pick(20_000, 300_000)
        results = await Runner(env, rounds=rounds).compare(
            [
                Variant("guildbase_hit", hit, hits, tasks),
                Variant("guildbase_miss", miss, guilds, tasks, before_round=clear_caches),
                Variant("limit", point, guilds, tasks),
                Variant("limit_dict", in_process, hits, tasks),
                Variant("naive", naive, scale.pick(300, 5000), tasks),
            ]
        )
        return {"variants": summarize(results)}


# -- W4: leaderboard ----------------------------------------------------------------------
async def w4(scale: Scale, rounds: int) -> dict[str, Any]:
    members = scale.pick(20_000, 1_000_000)
    guild = G0 + 1
    async with environment() as env:
        await seed_guilds(env, guild, 1)
        await env.sql(
            """INSERT INTO member_level (guild_id, user_id, xp, level, message_count)
               SELECT $1, $2::bigint + m, x, level_for_xp(x, 'mee6'), 1
               FROM generate_series(0, $3 - 1) AS m CROSS JOIN LATERAL (SELECT ((m::bigint * 7919) % 20000) AS x) AS v""",
            guild,
            U0,
            members,
        )
        await env.sql("ANALYZE member_level")
        loaded = await env.db.leaderboards.rebuild(guild)
        key = await env.db.leaderboard_store.key(guild, window(Period.ALL, T0))

        def caller(index: int) -> int:
            return U0 + (index * 7919) % members

        async def ours(index: int) -> Any:
            return await env.db.leaderboards.top_with_rank(guild, caller(index), 10)

        async def limit(index: int) -> Any:
            async with env.redis.pipeline(transaction=False) as pipe:
                pipe.zrevrange(key, 0, 9, withscores=True)
                pipe.zrevrank(key, f"{caller(index):019d}")
                return await pipe.execute()

        async def naive(index: int) -> Any:
            async with env.naive() as session:
                top = (
                    await session.execute(
                        select(MemberLevel)
                        .where(col(MemberLevel.guild_id) == guild)
                        .order_by(col(MemberLevel.xp).desc())
                        .limit(10)
                    )
                ).all()
                ranked = (
                    select(
                        col(MemberLevel.user_id), func.rank().over(order_by=col(MemberLevel.xp).desc()).label("rank")
                    )
                    .where(col(MemberLevel.guild_id) == guild)
                    .subquery()
                )
                rank = (await session.execute(select(ranked.c.rank).where(ranked.c.user_id == caller(index)))).scalar()
                return top, rank

        results = await Runner(env, rounds=rounds).compare(
            [
                Variant("guildbase", ours, scale.pick(1000, 20_000), 16),
                Variant("limit", limit, scale.pick(1000, 20_000), 16),
                Variant("naive", naive, scale.pick(16, 40), 16),
            ]
        )
        sample = random.Random(7).sample(range(members), 200)
        position_mismatch = tied_mismatch = 0
        for m in sample:
            user = U0 + m
            entry = await env.db.leaderboards.rank(guild, user)
            tied = await env.db.leaderboards.tied_rank(guild, user)
            sql_position, sql_tied = await env.limit.fetchrow(
                """SELECT 1 + count(*) FILTER (WHERE (o.xp, o.user_id) > (me.xp, me.user_id)),
                          1 + count(*) FILTER (WHERE o.xp > me.xp)
                   FROM member_level AS me JOIN member_level AS o ON o.guild_id = me.guild_id
                   WHERE me.guild_id = $1 AND me.user_id = $2""",
                guild,
                user,
            )
            position_mismatch += entry is None or entry.rank != sql_position
            tied_mismatch += tied != sql_tied
        return {
            "variants": summarize(results),
            "checks": {
                "members": loaded,
                "sampled_users": len(sample),
                "position_rank_mismatches_vs_sql_row_number": position_mismatch,
                "tied_rank_mismatches_vs_sql_rank": tied_mismatch,
            },
        }
