"""W11 (see BENCHMARKS.md): import 1M legacy cases with ``guildbase import-legacy`` vs a raw COPY of the same rows.

A Prisma-era legacy database (``guildbase.legacy.ddl``) is filled with 100
guilds and 1M cases (20k in ``--quick``) by ``generate_series``. Each round
starts from an empty target, then:

- ``guildbase``: ``run_import`` of the whole legacy database (detection, the
  read-only snapshot, mapping and the report rules per row, staging COPY,
  ``INSERT … ON CONFLICT``, counters and checkpoints per batch); the rate is
  cases per second of the whole run;
- ``limit``: the cases alone, a binary ``COPY … TO`` from the legacy table
  streamed into a binary ``COPY … FROM`` into ``mod_case`` on one connection
  each, in guild and number order, with no mapping, checks or checkpoints.
  That is the fastest plain copy measured here: unsorted rows cost the indexes
  far more, and two streams split by guild were slower on 2 cores (the server
  shares its WAL and its CPUs between them).

Target: ``guildbase`` at 50k rows/s or more. Checks: every case is imported,
and the guild's counter continues its numbering.
"""

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg

from bench.harness import Env, VariantResult, environment
from bench.workloads import G0, U0, Scale, seed_guilds
from guildbase.legacy import run_import
from guildbase.legacy.ddl import PRISMA
from guildbase.testing import LOCAL_SERVER, create_database, drop_database, libpq

GUILDS = 100
_CASES = """
INSERT INTO "Case" (case_status, case_type, case_reason, case_moderator_id, case_user_id, case_user_roles,
                    case_number, case_created_at, guild_id)
SELECT true, (ARRAY['WARN', 'BAN', 'KICK', 'UNBAN'])[1 + n % 4]::"CaseType", 'reason ' || n, $2::bigint + n % 50,
       $2::bigint + 1000 + n % 20000, ARRAY[$2::bigint + 7], n / $3 + 1,
       timestamp '2024-01-01' + make_interval(secs => n), $1::bigint + n % $3
FROM generate_series(0, $4 - 1) AS n
"""
_RAW_SELECT = (
    "SELECT guild_id, case_number, case_type, case_user_id, case_moderator_id, case_reason, case_user_roles,"
    ' case_created_at, case_created_at FROM "Case" ORDER BY guild_id, case_number'
)
_RAW_COLUMNS = [
    "guild_id",
    "number",
    "type",
    "user_id",
    "moderator_id",
    "reason",
    "role_ids",
    "created_at",
    "updated_at",
]
_RESET = "TRUNCATE guild, legacy_import_checkpoint, legacy_import_issue, audit_log, job CASCADE"


async def _legacy(cases: int) -> str:
    url = await asyncio.to_thread(create_database, LOCAL_SERVER, "guildbase_bench_legacy")
    connection = await asyncpg.connect(libpq(url))
    try:
        await connection.execute(PRISMA)
        await connection.execute(
            """INSERT INTO "Guild" (guild_id, case_count) SELECT $1::bigint + g, 0 FROM generate_series(0, $2 - 1) g""",
            G0,
            GUILDS,
        )
        await connection.execute(_CASES, G0, U0, GUILDS, cases)
        await connection.execute('ANALYZE "Case"')
    finally:
        await connection.close()
    return url.render_as_string(hide_password=False)


async def _raw_copy(source: str, env: Env) -> None:
    """The cases streamed from one binary COPY into another, guild by guild (the order ``mod_case``'s indexes like)."""
    chunks: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=64)

    async def out(chunk: bytes) -> None:
        await chunks.put(bytes(chunk))

    async def stream() -> AsyncIterator[bytes]:
        while (chunk := await chunks.get()) is not None:
            yield chunk

    async def read() -> None:
        try:
            await connection.copy_from_query(_RAW_SELECT, output=out, format="binary")
        finally:
            await chunks.put(None)

    connection = await asyncpg.connect(libpq(source))
    try:
        async with env.limit.acquire() as target:
            await asyncio.gather(
                read(), target.copy_to_table("mod_case", source=stream(), columns=_RAW_COLUMNS, format="binary")
            )
    finally:
        await connection.close()


async def w11(scale: Scale, rounds: int) -> dict[str, Any]:
    cases = scale.pick(20_000, 1_000_000)
    source = await _legacy(cases)
    guildbase, limit = VariantResult("guildbase"), VariantResult("limit")
    checks: dict[str, Any] = {"cases": cases}
    try:
        async with environment() as env:
            target = env.url.render_as_string(hide_password=False)
            for _ in range(max(rounds, 1)):
                await env.sql(_RESET)
                began = time.perf_counter()
                report = await run_import(source, target)
                seconds = time.perf_counter() - began
                guildbase.rates.append(cases / seconds)
                guildbase.latencies.append(seconds)
                checks["imported_cases"] = await env.fetchval("SELECT count(*) FROM mod_case")
                checks["next_case_number_continues"] = await env.fetchval(
                    "SELECT last_value FROM guild_counter WHERE guild_id = $1 AND kind = 'case'", G0
                ) == await env.fetchval("SELECT max(number) FROM mod_case WHERE guild_id = $1", G0)
                checks["rows_skipped"] = sum(t.skipped for t in report.tables.values())
                await env.sql(_RESET)
                await seed_guilds(env, G0, GUILDS)
                began = time.perf_counter()
                await _raw_copy(source, env)
                seconds = time.perf_counter() - began
                limit.rates.append(cases / seconds)
                limit.latencies.append(seconds)
    finally:
        await asyncio.to_thread(drop_database, source)
    variants = {name: result.summary() for name, result in (("guildbase", guildbase), ("limit", limit))}
    for summary in variants.values():
        summary["ratio_to_limit"] = summary["median"] / variants["limit"]["median"]
    checks["guildbase_rows_per_second"] = round(variants["guildbase"]["median"])
    return {"variants": variants, "checks": checks, "unit": "cases/s; p50/p99 = seconds of a whole run × 1000"}
