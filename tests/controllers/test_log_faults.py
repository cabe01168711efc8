"""The command log under faults: a poisoned row, PostgreSQL refusing every write, a close that cannot flush.

Every fault here is real: rows PostgreSQL (or the COPY encoder) refuses, and
the ``command_log`` table renamed away in the test's own database, so every
COPY fails as it would against a broken server. Attempts are counted, never
timed.
"""

import asyncio
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import pytest
import redis.asyncio as aioredis
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import create_async_engine

from guildbase import Database, Settings
from guildbase.db.bulk import RowsLostError
from guildbase.db.engine import with_driver
from guildbase.testing import truncate_all

USER = 1_100_000_000_000_000_101
GUILD = 1_100_000_000_000_000_001
NOW = datetime.now(UTC)


async def _scalar(db: Database, sql: str) -> int:
    async with db.engine.connect() as connection:
        return int((await connection.execute(text(sql))).scalar_one())


@asynccontextmanager
async def table_away(database_url: URL) -> AsyncIterator[None]:
    """Every COPY into ``command_log`` fails (undefined table) until the block ends."""
    engine = create_async_engine(with_driver(database_url, "asyncpg"))
    try:
        async with engine.begin() as connection:
            await connection.execute(text("ALTER TABLE command_log RENAME TO command_log_away"))
        try:
            yield
        finally:
            async with engine.begin() as connection:
                await connection.execute(text("ALTER TABLE command_log_away RENAME TO command_log"))
    finally:
        await engine.dispose()


@pytest.fixture
async def log_db(settings: Settings, database_url: URL) -> AsyncIterator[Database]:
    """A pooled Database whose log writer retries quickly; its tables are emptied afterwards."""
    changes = {"log_retry_seconds": 0.01, "log_retry_max_seconds": 0.01, "pool_size": 4}
    database = await Database(settings.model_copy(update=changes)).connect()
    try:
        yield database
    finally:
        await database.close()
        await asyncio.to_thread(truncate_all, database_url)


async def test_a_poisoned_row_goes_to_the_dead_letter_and_every_good_row_is_stored(log_db: Database) -> None:
    logs = log_db.logs
    writer = logs.command_writer
    good = 1997
    bad_rows = [
        (NOW, USER, GUILD, None, "nul\x00inside", "{}", True, None, 1),  # PostgreSQL refuses the NUL
        (NOW, USER, GUILD, None, "lone \udc80", "{}", True, None, 1),  # the COPY encoder refuses the surrogate
        (NOW, USER, GUILD, None, "json", '{"a": "\\u0000"}', True, None, 1),  # jsonb refuses \u0000
    ]
    for n in range(good):
        await logs.record_command(USER, "ping", guild_id=GUILD, params={"n": n}, duration_ms=1)
        if n in {10, 700, 1500}:  # past record_command's checks, straight into the writer
            assert writer.offer(bad_rows[[10, 700, 1500].index(n)])
    await logs.flush()

    assert await _scalar(log_db, "SELECT count(*) FROM command_log") == good
    assert await _scalar(log_db, "SELECT count(DISTINCT params->>'n') FROM command_log") == good
    assert await _scalar(log_db, "SELECT sum(uses) FROM command_stat_daily WHERE guild_id = 0") == good
    async with log_db.engine.connect() as connection:
        dead = (await connection.execute(text("SELECT user_id, row, error FROM command_log_dead_letter"))).all()
    assert sorted(row for _, row, _ in dead) == sorted(ascii(row) for row in bad_rows)
    assert {user for user, _, _ in dead} == {USER}  # found by a privacy erase of USER
    assert all(error for _, _, error in dead)
    assert logs.dead_letters == 3
    assert writer.failures == 0  # the batch never failed as a whole: nothing is retried
    # One attempt for the batch, then at most two halves per level of the split for each bad row.
    assert writer.attempts <= 1 + 2 * len(bad_rows) * math.ceil(math.log2(good + len(bad_rows)))


async def test_record_command_refuses_what_postgres_would_refuse_at_call_time(log_db: Database) -> None:
    early = datetime(1, 1, 1, tzinfo=UTC)
    cases = {
        "command": {"command": "a\x00b"},
        "error": {"error": "lone \ud800", "success": False},
        "params.q": {"params": {"q": "nul \x00"}},
        "created_at": {"created_at": early},
    }
    for field, fields in cases.items():
        with pytest.raises(Exception) as refused:
            await log_db.logs.record_command(USER, **{"command": "ping", **fields})
        assert type(refused.value).__name__ == "ValidationError", (field, refused.value)
        assert refused.value.fields == [field]  # type: ignore[attr-defined]
    assert log_db.logs.command_writer.accepted == 0


async def test_a_write_that_keeps_failing_backs_off_instead_of_retrying_per_batch(
    settings: Settings, database_url: URL
) -> None:
    changes = {"log_retry_seconds": 3600.0, "log_retry_max_seconds": 3600.0, "log_flush_rows": 10}
    db = await Database(settings.model_copy(update=changes)).connect()
    try:
        async with table_away(database_url):
            writer = db.logs.command_writer
            for n in range(10):  # one full batch: the writer tries it and fails
                await db.logs.record_command(USER, "ping", params={"n": n})
            for _ in range(1000):  # wait for that first failure (the COPY is network I/O, not a loop turn)
                if writer.failures:
                    break
                await asyncio.sleep(0.01)
            assert writer.failures == 1
            for n in range(10, 500):  # 49 more full batches, each of which used to wake the writer for a retry
                await db.logs.record_command(USER, "ping", params={"n": n})
                await asyncio.sleep(0)
            await asyncio.sleep(0.2)  # room for a writer that retried per batch to fail again
            assert writer.failures == 1  # the retry waits out its back-off
            assert writer.pending == 500
        await db.close()  # the table is back: close writes everything, once
        assert writer.pending == 0
        assert await _scalar_url(settings, "SELECT count(DISTINCT params->>'n') FROM command_log") == 500
    finally:
        await db.close()
        await asyncio.to_thread(truncate_all, database_url)


async def _scalar_url(settings: Settings, sql: str) -> int:
    db = await Database(settings).connect()
    try:
        return await _scalar(db, sql)
    finally:
        await db.close()


async def test_close_closes_pools_and_redis_when_the_flush_fails_and_returns_the_lost_rows(
    settings: Settings, database_url: URL, redis_url: str | None
) -> None:
    changes = {"log_retry_seconds": 0.01, "log_flush_seconds": 60.0}  # only close() writes
    db = await Database(settings.model_copy(update=changes)).connect()
    observer = aioredis.Redis.from_url(redis_url) if redis_url else None
    try:
        async with db.engine.connect() as connection:
            pid = int((await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one())
        channel = db.cache.channel
        if observer is not None:
            await asyncio.wait_for(db.cache.listening.wait(), 30)  # connect() waits only 2 s for it
            assert dict(await observer.pubsub_numsub(channel))[channel.encode()] >= 1
        async with table_away(database_url):
            for n in range(25):
                await db.logs.record_command(USER, "ping", params={"n": n})
            writer = db.logs.command_writer
            with pytest.raises(RowsLostError) as lost:
                await db.close()
        assert sorted(row[5] for row in lost.value.rows) == sorted(f'{{"n":{n}}}' for n in range(25))
        assert "25 command log rows could not be written" in str(lost.value)
        assert writer.attempts == 3  # close's three tries, not a storm
        async with await Database(settings).connect() as other:
            alive = await _scalar(other, f"SELECT count(*) FROM pg_stat_activity WHERE pid = {pid}")
        assert alive == 0  # the pool's connections were closed despite the failure
        if observer is not None:
            assert dict(await observer.pubsub_numsub(channel))[channel.encode()] == 0  # the listener is gone
        assert await _scalar_url(settings, "SELECT count(*) FROM command_log") == 0
    finally:
        if observer is not None:
            await observer.aclose()
        await db.close()
        await asyncio.to_thread(truncate_all, database_url)
