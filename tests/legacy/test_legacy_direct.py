"""Cases COPYed straight into mod_case: the same rows as the checked path, which takes over on a conflict."""

import asyncio
from datetime import UTC, datetime

import asyncpg
from legacy_rows import G1, MOD, U1
from snapshot import snapshot
from sqlalchemy.engine import URL

from guildbase.legacy import run_import
from guildbase.legacy.batch import Batch
from guildbase.legacy.detect import detect
from guildbase.legacy.mappers.cases import CASES
from guildbase.legacy.runner import _dsn
from guildbase.legacy.spec import ImportContext
from guildbase.testing import truncate_all


async def _with_our_case(url: str, now: datetime) -> None:
    """G1 is already in guildbase with a case numbered 1, as the legacy guild's first case is."""
    connection = await asyncpg.connect(_dsn(url))
    try:
        await connection.execute("INSERT INTO guild (guild_id, joined_at) VALUES ($1, $2)", G1, now)
        await connection.execute(
            "INSERT INTO guild_config (guild_id, prefix, extra_prefixes, locale) VALUES ($1, '$', '{}', 'en-US')", G1
        )
        await connection.execute(
            "INSERT INTO mod_case (guild_id, number, type, user_id, moderator_id, reason, created_at, updated_at)"
            " VALUES ($1, 1, 'WARN', $2, $3, 'ours', $4, $4)",
            G1,
            U1,
            MOD,
            now,
        )
        await connection.execute("INSERT INTO guild_counter (guild_id, kind, last_value) VALUES ($1, 'case', 1)", G1)
    finally:
        await connection.close()


async def test_the_direct_and_the_checked_path_write_the_same_rows(
    legacy_url: str, target_url: str, database_url: URL
) -> None:
    direct = await run_import(legacy_url, target_url, batch_size=3)
    written = await snapshot(target_url)
    await asyncio.to_thread(truncate_all, database_url)
    checked = await run_import(legacy_url, target_url, batch_size=3, direct=False)
    assert await snapshot(target_url) == written
    assert direct.to_json()["totals"] == checked.to_json()["totals"]
    assert len(written["mod_case"]) == 6
    assert any(job[0] == "tempban_expiry" for job in written["job"])  # the overdue TEMPBAN is lifted either way


async def test_a_guild_guildbase_already_has_ends_the_same_either_way(
    legacy_url: str, target_url: str, database_url: URL
) -> None:
    now = datetime.now(UTC)
    await _with_our_case(target_url, now)
    direct = await run_import(legacy_url, target_url, batch_size=3)
    written = await snapshot(target_url)
    await asyncio.to_thread(truncate_all, database_url)
    await _with_our_case(target_url, now)
    checked = await run_import(legacy_url, target_url, batch_size=3, direct=False)
    assert await snapshot(target_url) == written
    assert direct.to_json()["totals"] == checked.to_json()["totals"]
    assert direct.totals["Case"].merged == 1
    ours = [row for row in written["mod_case"] if row[:2] == (G1, 1)]
    assert [row[5] for row in ours] == ["ours"]


async def test_a_batch_meeting_a_case_guildbase_has_is_undone_and_written_the_checked_way(
    legacy_url: str, target_url: str
) -> None:
    source = await asyncpg.connect(_dsn(legacy_url))
    target = await asyncpg.connect(_dsn(target_url))
    try:
        legacy = await detect(source)
        rows = await source.fetch(
            f"SELECT * FROM ({CASES.query(legacy)}) AS legacy WHERE guild_id = $1 ORDER BY case_id",
            G1,
        )
        await target.execute("INSERT INTO guild (guild_id, joined_at) VALUES ($1, now())", G1)
        context = ImportContext(legacy)
        results = []
        for _ in range(2):
            batch = Batch()
            for row in rows:
                CASES.map(row, batch, context)
            async with target.transaction():
                await CASES.write(target, batch, context)
            counts = batch.count("Case")
            results.append((counts.written, counts.merged, set(context.conflicted)))
        assert results == [(6, 0, set()), (0, 6, {G1})]
        assert await target.fetchval("SELECT count(*) FROM mod_case") == 6
        assert await target.fetchval("SELECT last_value FROM guild_counter WHERE guild_id = $1", G1) == max(
            r[1] for r in await target.fetch("SELECT guild_id, number FROM mod_case")
        )
    finally:
        await source.close()
        await target.close()
