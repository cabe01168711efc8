"""W6-W8: the whole message path, moderation history over 1M cases, a 30-day stats report.

W6's world and limit are shared with W6b (``bench/botpath.py``), which runs the same path through the bot.
"""

import re
import statistics
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlmodel import col

from bench.automod import matching, messages, seed_automod
from bench.harness import Env, Runner, Variant, environment
from bench.workloads import (
    CHANNEL,
    G0,
    U0,
    Scale,
    limit_award,
    naive_award,
    roll,
    seed_guilds,
    seed_levels,
    summarize,
    xp_target,
)
from guildbase.controllers.command_queries import STATS_STATEMENT
from guildbase.models.afk import AFK
from guildbase.models.autoresponders import Autoresponder
from guildbase.models.core import GlobalBlacklist, GuildConfig, GuildConfigRead
from guildbase.models.filters import MessageFilter
from guildbase.models.logs import ALL_GUILDS, CommandLog
from guildbase.models.moderation import Case

CHECK_SQL = """
SELECT EXISTS (
           SELECT 1 FROM global_blacklist
           WHERE target = 'user' AND target_id = $2 AND deleted_at IS NULL AND (expires_at IS NULL OR expires_at > now())
       ) AS blacklisted,
       ARRAY(SELECT user_id FROM afk WHERE guild_id = $1 AND user_id = ANY ($3::bigint[])) AS afk
"""


@dataclass
class W6World:
    """W6's data: 10 guilds per variant with levels, 100 AFK members each, 100 blacklisted users."""

    guilds: int
    members: int
    ops: int
    tasks: int
    firsts: dict[str, int]
    configs: dict[int, GuildConfigRead]
    """The limit's in-process config dict (the limit of a config read)."""

    def mentions(self, index: int) -> list[int]:
        return [U0 + (index * 31) % self.members, U0 + (index * 97) % self.members]


async def w6_world(env: Env, scale: Scale, firsts: dict[str, int]) -> W6World:
    """Seed W6's guilds for each variant (``firsts``: its first guild ID); shared by W6 and W6b."""
    guilds, members = 10, scale.pick(1000, 10_000)
    for first in firsts.values():
        await seed_guilds(env, first, guilds)
        await seed_levels(env, first, guilds, members)
        await env.sql(
            """INSERT INTO afk (guild_id, user_id, reason, since)
               SELECT $1::bigint + g, $2::bigint + m * 97, 'away', now()
               FROM generate_series(0, $3 - 1) AS g CROSS JOIN generate_series(0, 99) AS m""",
            first,
            U0,
            guilds,
        )
    await env.sql(
        "INSERT INTO global_blacklist (target, target_id, reason) SELECT 'user', $1::bigint + 1000000 + n, 'spam' "
        "FROM generate_series(0, 99) AS n",
        U0,
    )
    configs: dict[int, GuildConfigRead] = {}
    if "limit" in firsts:
        rows = await env.fetch(
            "SELECT * FROM guild_config WHERE guild_id >= $1 AND guild_id < $1 + 10", firsts["limit"]
        )
        configs = {row["guild_id"]: GuildConfigRead.model_validate(dict(row)) for row in rows}
    return W6World(guilds, members, scale.pick(400, 10_000), 16, firsts, configs)


def w6_limit(env: Env, world: W6World) -> Callable[[int], Awaitable[Any]]:
    """The limit of the message path: config from a dict, blacklist + AFK in one statement, the XP statement."""

    async def limit(index: int) -> Any:
        g, u, now = xp_target(index, world.guilds, world.members, world.firsts["limit"])
        config = world.configs[g]
        async with env.limit.acquire() as connection:
            checked = await connection.fetchrow(CHECK_SQL, g, u, [u, *world.mentions(index)])
        if checked["blacklisted"]:
            return config
        return checked, await limit_award(env, g, u, now, index)

    return limit


async def w6(scale: Scale, rounds: int) -> dict[str, Any]:
    async with environment() as env:
        world = await w6_world(env, scale, {"guildbase": G0 + 100, "limit": G0 + 200, "naive": G0 + 300})
        guilds, members = world.guilds, world.members
        for first in world.firsts.values():
            await seed_automod(env, first, guilds)
        texts = messages(1000)
        limit_path = w6_limit(env, world)
        compiled = {}
        for g in range(world.firsts["limit"], world.firsts["limit"] + guilds):  # the limit: matchers in a dict
            compiled[g] = ((await env.db.autoresponders.matcher(g)).matcher, (await env.db.filters.matcher(g)).matcher)

        async def ours(index: int) -> Any:
            g, u, now = xp_target(index, guilds, members, world.firsts["guildbase"])
            config = await env.db.guild_config.get(g)
            if await env.db.blacklist.is_blacklisted("user", u):
                return config
            away = await env.db.afk.get_many(g, [u, *world.mentions(index)])
            text = texts[index % len(texts)]
            verdict = await env.db.filters.check(g, CHANNEL, text, (), 2)
            answer = None if verdict.action else await env.db.autoresponders.respond(g, CHANNEL, u, text)
            return away, answer, await env.db.levels.award_message_xp(g, u, CHANNEL, [], now, roll=roll(index))

        async def limit(index: int) -> Any:
            g, _, _ = xp_target(index, guilds, members, world.firsts["limit"])
            triggers, filters = compiled[g]
            text = texts[index % len(texts)]
            caught = filters.check(text, CHANNEL, frozenset(), 2)
            fired = None if caught else triggers.match(text, CHANNEL)
            return await limit_path(index), fired

        async def naive(index: int) -> Any:
            g, u, now = xp_target(index, guilds, members, world.firsts["naive"])
            text = texts[index % len(texts)]
            async with env.naive() as session:
                config = GuildConfigRead.model_validate(await session.get(GuildConfig, g))
                banned = (
                    await session.execute(
                        select(GlobalBlacklist).where(
                            col(GlobalBlacklist.target) == "user",
                            col(GlobalBlacklist.target_id) == u,
                            col(GlobalBlacklist.deleted_at).is_(None),
                        )
                    )
                ).first()
                if banned is not None:
                    return config
                away = [await session.get(AFK, (g, uid)) for uid in [u, *world.mentions(index)]]
                rules = (await session.execute(select(MessageFilter).where(col(MessageFilter.guild_id) == g))).all()
                caught = [r for (r,) in rules if r.pattern and re.search(r.pattern, text)]
                caught += [r for (r,) in rules for w in r.words if w in text]
                if not caught:
                    triggers = (
                        await session.execute(select(Autoresponder).where(col(Autoresponder.guild_id) == g))
                    ).all()
                    _ = [t for (t,) in triggers if re.search(re.escape(t.pattern), text, re.IGNORECASE)]
            await naive_award(env, g, u, now, index)
            return away

        results = await Runner(env, rounds=rounds).compare(
            [
                Variant("guildbase", ours, world.ops, world.tasks),
                Variant("limit", limit, world.ops, world.tasks),
                Variant("naive", naive, scale.pick(200, 1000), world.tasks),
            ]
        )
        checks = await matching(env.db, world.firsts["guildbase"], CHANNEL, scale.pick(3000, 20_000))
        return {
            "variants": summarize(results),
            "checks": checks,
            "notes": "the path is config, blacklist, AFK, filters (200 rules), autoresponders (500 triggers), XP; "
            "the limit reads config from an in-process dict, checks blacklist+AFK in one statement and matches on "
            "compiled matchers held in a dict; checks.match_* time one message on the cached compiled matchers "
            "against a loop of re.search over the same rules (checks.re_loop_*), interleaved message by message, "
            "each message's time the best of 3 runs (bench/automod.py)",
        }


async def w7(scale: Scale, rounds: int) -> dict[str, Any]:
    cases, users = scale.pick(20_000, 1_000_000), scale.pick(200, 10_000)
    guild = G0 + 1
    async with environment() as env:
        await seed_guilds(env, guild, 1)
        await env.sql(
            """INSERT INTO mod_case (guild_id, number, type, user_id, moderator_id, reason, created_at, updated_at)
               SELECT $1, n, (ARRAY['WARN','KICK','BAN','UNBAN','UNTIMEOUT'])[1 + n % 5]::mod_case_type,
                      $2::bigint + (n::bigint * 7919) % $4, $2::bigint + 1, 'reason ' || n,
                      now() - make_interval(secs => $3 - n), now() - make_interval(secs => $3 - n)
               FROM generate_series(1, $3) AS n""",
            guild,
            U0,
            cases,
            users,
        )
        await env.sql("INSERT INTO guild_counter (guild_id, kind, last_value) VALUES ($1, 'case', $2)", guild, cases)
        await env.sql("ANALYZE mod_case")

        def user(index: int) -> int:
            return U0 + (index * 31) % users

        async def ours(index: int) -> Any:
            return await env.db.cases.overview(guild, user(index), limit=20)

        async def limit(index: int) -> Any:
            async with env.limit.acquire() as connection:
                history = await connection.fetch(
                    "SELECT * FROM mod_case WHERE guild_id = $1 AND user_id = $2 ORDER BY number DESC LIMIT 20",
                    guild,
                    user(index),
                )
                counts = await connection.fetch(
                    "SELECT type, count(*) FROM mod_case WHERE guild_id = $1 AND user_id = $2 AND status <> 'voided' "
                    "GROUP BY type",
                    guild,
                    user(index),
                )
            return history, counts

        async def naive(index: int) -> Any:
            async with env.naive() as session:
                history = (
                    await session.execute(
                        select(Case)
                        .where(col(Case.guild_id) == guild, col(Case.user_id) == user(index))
                        .order_by(col(Case.created_at).desc())
                        .limit(20)
                    )
                ).all()
                counts = (
                    await session.execute(
                        select(col(Case.type), func.count())
                        .where(col(Case.guild_id) == guild, col(Case.user_id) == user(index))
                        .group_by(col(Case.type))
                    )
                ).all()
                return history, counts

        ops = scale.pick(300, 5000)
        results = await Runner(env, rounds=rounds).compare(
            [
                Variant("guildbase", ours, ops, 16),
                Variant("limit", limit, ops, 16),
                Variant("naive", naive, scale.pick(300, 2000), 16),
            ]
        )
        return {"variants": summarize(results), "checks": {"cases": cases, "users": users}}


async def w8(scale: Scale, rounds: int) -> dict[str, Any]:
    rows = scale.pick(50_000, 10_000_000)
    end = datetime.now(UTC).date() + timedelta(days=1)
    start = end - timedelta(days=30)
    async with environment() as env:
        for offset in range(-2, 2):
            month = date(start.year, start.month, 1) + timedelta(days=31 * offset)
            await env.sql("SELECT command_log_ensure_partition($1)", month)
        await env.sql(
            """INSERT INTO command_log (created_at, user_id, guild_id, channel_id, command, params, is_success, duration_ms)
               SELECT $1::timestamptz + make_interval(secs => (n::float8 / $2) * 30 * 86400),
                      $3::bigint + n % 50000, $4::bigint + n % 1000, $5, 'cmd' || (n % 60), '{}', n % 23 <> 0, n % 500
               FROM generate_series(0, $2 - 1) AS n""",
            datetime(start.year, start.month, start.day, tzinfo=UTC),
            rows,
            U0,
            G0,
            CHANNEL,
        )
        await env.sql(
            """INSERT INTO command_stat_daily (guild_id, day, command, uses, failures, duration_ms_total)
               SELECT coalesce(guild_id, 0), day, command, count(*), count(*) FILTER (WHERE NOT is_success), sum(duration_ms)
               FROM (SELECT guild_id, (created_at AT TIME ZONE 'UTC')::date AS day, command, is_success, duration_ms
                     FROM command_log) AS l
               GROUP BY GROUPING SETS ((guild_id, day, command), (day, command))"""
        )
        await env.sql("ANALYZE command_log")
        await env.sql("ANALYZE command_stat_daily")

        async def ours(_index: int) -> Any:
            return await env.db.logs.command_stats(days=30, until=end)

        # Two hand-written clients; the limit is whichever is faster in this run (guildbase beat the plain
        # query alone, so that one was not the limit): ``limit_plain`` is the shortest SQL for the report,
        # ``limit_same_sql`` is guildbase's own statement and parameters, rows left as asyncpg records.
        async def limit_plain(_index: int) -> Any:
            async with env.limit.acquire() as connection:
                return await connection.fetch(
                    "SELECT day, command, uses, failures, duration_ms_total::float8 / uses FROM command_stat_daily "
                    "WHERE guild_id = 0 AND day >= $1 AND day < $2 ORDER BY day, command",
                    start,
                    end,
                )

        same = {"guild_id": ALL_GUILDS, "command": None, "since": start, "until": end}

        async def limit_same_sql(_index: int) -> Any:
            async with env.limit.acquire() as connection:
                return await connection.fetch(STATS_STATEMENT.sql, *STATS_STATEMENT.args(same))

        async def naive(_index: int) -> Any:
            day = func.date_trunc("day", col(CommandLog.created_at)).label("day")
            stmt = (
                select(day, col(CommandLog.command), func.count())
                .where(col(CommandLog.created_at) >= datetime(start.year, start.month, start.day, tzinfo=UTC))
                .group_by(day, col(CommandLog.command))
                .order_by(day, col(CommandLog.command))
            )
            async with env.naive() as session:
                return (await session.execute(stmt)).all()

        results = await Runner(env, rounds=rounds).compare(
            [
                Variant("guildbase", ours, scale.pick(50, 1000), 4),
                Variant("limit_plain", limit_plain, scale.pick(50, 1000), 4),
                Variant("limit_same_sql", limit_same_sql, scale.pick(50, 1000), 4),
                Variant("naive", naive, scale.pick(2, 3), 1),
            ]
        )
        best = max(("limit_plain", "limit_same_sql"), key=lambda name: statistics.median(results[name].rates))
        results["limit"] = results[best]
        report = await env.db.logs.command_stats(days=30, until=end)
        total = sum(s.uses for s in report)
        return {
            "variants": summarize(results),
            "checks": {
                "log_rows": rows,
                "report_rows": len(report),
                "report_total_equals_log_rows": total == rows,
                "limit_is": best,
            },
            "notes": "guildbase and limit read the daily rollup (command_stat_daily) kept by the writer; "
            "naive aggregates the raw log",
        }
