"""A command never waits for the log: a full buffer spills to disk, and the writer catches up in larger batches.

PostgreSQL is held up for real (another connection locks ``command_log``), so
the writer's COPY waits in the server while the commands go on being recorded.
"""

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest
from log_children import child, stored_rows
from sqlalchemy.engine import URL

from guildbase import Database, Settings
from guildbase.testing import ids, truncate_all

BLOCK = ids.block()
USER = BLOCK + 1
CHANNEL = BLOCK + 2

pytestmark = pytest.mark.slow


@asynccontextmanager
async def command_log_locked(database_url: URL) -> AsyncIterator[None]:
    """``command_log`` locked by another session until the block ends: every COPY into it waits."""
    dsn = database_url.set(drivername="postgresql").render_as_string(hide_password=False)
    blocker = await asyncpg.connect(dsn)
    try:
        transaction = blocker.transaction()
        await transaction.start()
        await blocker.execute("LOCK TABLE command_log IN ACCESS EXCLUSIVE MODE")
        try:
            yield
        finally:
            await transaction.rollback()
    finally:
        await blocker.close()


async def _open(settings: Settings, tmp_path: Path, **limits: object) -> Database:
    update = {"log_spill_dir": tmp_path, "log_flush_seconds": 60.0, "pool_size": 3, **limits}
    return await Database(settings.model_copy(update=update)).connect()


async def _record(db: Database, count: int) -> None:
    for n in range(count):
        await db.logs.record_command(USER, "ping", channel_id=CHANNEL, params={"n": n})


async def test_commands_go_on_while_the_database_holds_the_writer_and_nothing_is_lost(
    settings: Settings, database_url: URL, tmp_path: Path
) -> None:
    db = await _open(settings, tmp_path, log_flush_rows=10, log_max_pending_rows=10)
    try:
        async with command_log_locked(database_url):
            await _record(db, 10)  # a full batch: the writer starts its COPY and waits on the lock
            for _ in range(5):
                await asyncio.sleep(0.05)
            writer = db.logs.command_writer
            assert writer.pending == 10
            # If a call waited for room it would wait for the lock, which this task holds: a hang, not a pass.
            await asyncio.wait_for(_record(db, 50), timeout=60)
            assert writer.spilled == 50
            assert writer.accepted == 60
        await db.close()
        assert await stored_rows(database_url) == 60
        assert await asyncio.to_thread(os.listdir, tmp_path) == []  # the spill file is gone once its rows are written
    finally:
        await db.close()
        await asyncio.to_thread(truncate_all, database_url)


async def test_a_backlog_is_written_in_larger_batches_not_more_of_them(
    settings: Settings, database_url: URL, tmp_path: Path
) -> None:
    db = await _open(settings, tmp_path, log_flush_rows=10, log_max_pending_rows=1000)
    try:
        async with command_log_locked(database_url):
            await _record(db, 400)
            await asyncio.sleep(0.05)
        await db.logs.flush()
        writer = db.logs.command_writer
        assert await stored_rows(database_url) == 400
        assert writer.spilled == 0
        assert writer.attempts < 400 // 10  # batches of up to 8 x 10 rows once rows queue up behind a full one
    finally:
        await db.close()
        await asyncio.to_thread(truncate_all, database_url)


async def test_rows_spilled_before_a_sigkill_are_written_by_the_next_start(
    settings: Settings, database_url: URL, tmp_path: Path
) -> None:
    limits = {"log_flush_seconds": "60", "log_flush_rows": "100", "log_max_pending_rows": "100"}
    try:
        with child(settings, "spill", "1000", log_spill_dir=str(tmp_path), **limits) as process:
            assert process.stdout is not None
            assert await asyncio.to_thread(process.stdout.readline) == "spilled 900\n"
            process.send_signal(signal.SIGKILL)
            await asyncio.to_thread(process.wait, 60)
        assert await stored_rows(database_url) == 0  # the 100 in memory died with the process
        db = await _open(settings, tmp_path)
        await db.close()
        assert await stored_rows(database_url) == 900  # the 900 on disk were written by the next start
        assert await asyncio.to_thread(os.listdir, tmp_path) == []
    finally:
        await asyncio.to_thread(truncate_all, database_url)
