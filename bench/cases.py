"""W2 (BENCHMARKS.md): 32 moderators create cases in ONE guild; numbers stay 1..N with no duplicate and no gap.

The limit is the faster of two hand-written raw asyncpg clients doing the same
work as ``cases.create``: the number, the row and its audit row in one
statement, then the deletion of the user's cached case summary.
"""

import asyncio
import json
import statistics
from collections.abc import Awaitable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from bench.harness import Runner, Variant, environment
from bench.workloads import G0, U0, Scale, numbering_checks, seed_guilds, summarize
from guildbase.controllers.moderation_queries import summary_key
from guildbase.models.moderation import Case, CaseRead, CaseType

# -- W2: case numbering ----------------------------------------------------------------
HOT_ROW_STATEMENTS = 4
"""Statements ``limit_admit`` lets wait on the guild's counter row at once (the best of 1, 2, 4 and 6 in a trial)."""
# The limit does the same work as ``cases.create``: the number, the row, and the creation's
# audit row (R6.3: every case write leaves one in its transaction), in one statement.
CASE_SQL = """
WITH counter AS (
    INSERT INTO guild_counter AS c (guild_id, kind, last_value) VALUES ($1, 'case', 1)
    ON CONFLICT (guild_id, kind) DO UPDATE SET last_value = c.last_value + 1
    RETURNING last_value
), created AS (
    INSERT INTO mod_case (guild_id, number, type, user_id, moderator_id, reason)
    SELECT $1, counter.last_value, 'WARN', $2, $3, $4 FROM counter
    RETURNING *
), audited AS (
    INSERT INTO audit_log (guild_id, action, entity_type, entity_id, before, after)
    SELECT guild_id, 'case_create', 'case', case_id::text, '{}'::jsonb,
           jsonb_build_object('number', number, 'type', type, 'user_id', user_id,
                              'moderator_id', moderator_id, 'reason', reason)
    FROM created
)
SELECT * FROM created
"""


async def w2(scale: Scale, rounds: int) -> dict[str, Any]:
    ops, tasks = scale.pick(150, 3000), 32
    guilds = {"guildbase": G0 + 1, "limit_admit": G0 + 2, "naive": G0 + 3, "limit_pool": G0 + 4}
    guilds["statement_only"] = G0 + 5
    lost = {"attempts": 0, "conflicts": 0}
    async with environment({"pool_max_overflow": 0}) as env:
        await seed_guilds(env, G0 + 1, len(guilds))

        def ours(index: int) -> Awaitable[Any]:
            return env.db.cases.create(guilds["guildbase"], U0 + index % 500, U0 + 1, "WARN", reason="spam")

        # Two hand-written clients; the limit is whichever is faster in this run. ``limit_admit`` lets a
        # few statements at a time wait on the guild's one counter row (the others would queue on its
        # row lock inside PostgreSQL, each holding a connection); ``limit_pool`` sends every task
        # straight to the pool, all 10 connections on the one row.
        hot_row = asyncio.Semaphore(HOT_ROW_STATEMENTS)

        # Both also delete the user's cached case summary after the commit, as ``cases.create`` does:
        # a hand-written bot that caches the summary must, or its next ``/modlogs`` shows the old counts.
        # One DEL, the least a correct cache can do (guildbase also bumps the key's generation and tells
        # the other processes, in one pipeline). ``statement_only`` is the same client without the DEL.
        async def limit_admit(index: int) -> Any:
            async with hot_row, env.limit.acquire() as connection:
                row = await connection.fetchrow(CASE_SQL, guilds["limit_admit"], U0 + index % 500, U0 + 1, "spam")
            await env.redis.delete(summary_key(guilds["limit_admit"], row["user_id"]))
            return CaseRead.model_validate({**dict(row), "details": json.loads(row["details"])})

        async def limit_pool(index: int) -> Any:
            async with env.limit.acquire() as connection:
                row = await connection.fetchrow(CASE_SQL, guilds["limit_pool"], U0 + index % 500, U0 + 1, "spam")
            await env.redis.delete(summary_key(guilds["limit_pool"], row["user_id"]))
            return CaseRead.model_validate({**dict(row), "details": json.loads(row["details"])})

        async def statement_only(index: int) -> Any:
            async with hot_row, env.limit.acquire() as connection:
                row = await connection.fetchrow(CASE_SQL, guilds["statement_only"], U0 + index % 500, U0 + 1, "spam")
            return CaseRead.model_validate({**dict(row), "details": json.loads(row["details"])})

        async def naive(index: int) -> None:
            guild = guilds["naive"]
            for _ in range(200):
                lost["attempts"] += 1
                try:
                    async with env.naive() as session:
                        last = (
                            await session.execute(select(func.max(Case.number)).where(col(Case.guild_id) == guild))
                        ).scalar()
                        case = Case(
                            guild_id=guild,
                            number=(last or 0) + 1,
                            type=CaseType.WARN,
                            user_id=U0 + index % 500,
                            moderator_id=U0 + 1,
                            reason="spam",
                        )
                        session.add(case)
                        await session.commit()
                        return
                except IntegrityError:
                    lost["conflicts"] += 1
            msg = "naive case numbering gave up after 200 attempts"
            raise RuntimeError(msg)

        results = await Runner(env, rounds=rounds).compare(
            [
                Variant("guildbase", ours, ops, tasks),
                Variant("limit_admit", limit_admit, ops, tasks),
                Variant("limit_pool", limit_pool, ops, tasks),
                Variant("statement_only", statement_only, ops, tasks),
                Variant("naive", naive, scale.pick(150, 500), tasks),
            ]
        )
        checks: dict[str, Any] = dict(await numbering_checks(env, "mod_case", guilds))
        checks["naive_attempts_lost_to_conflicts"] = lost["conflicts"] / max(1, lost["attempts"])
        best = max(("limit_admit", "limit_pool"), key=lambda name: statistics.median(results[name].rates))
        results["limit"] = results[best]
        checks["limit_is"] = best
        variants = summarize(results)
        checks["guildbase_vs_statement_only"] = round(
            variants["guildbase"]["median"] / variants["statement_only"]["median"], 3
        )
        return {
            "variants": variants,
            "checks": checks,
            "notes": "limit_admit, limit_pool: the statement, then DEL of the user's cached case summary; "
            "statement_only: limit_admit without the DEL (no cache kept coherent)",
        }
