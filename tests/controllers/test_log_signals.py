"""Stop signals and a logging process: SIGTERM writes everything and still stops it; SIGKILL loses a bounded tail.

Real processes (``log_process.py``) and real signals; rows are counted in
PostgreSQL, nothing is timed.
"""

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import create_async_engine

from guildbase import Settings
from guildbase.db.engine import with_driver
from guildbase.testing import truncate_all

CHILD = Path(__file__).resolve().parent / "log_process.py"


@contextmanager
def child(settings: Settings, *args: str, **env: str) -> Iterator[subprocess.Popen[str]]:
    """``log_process.py`` with the test's database and Redis; killed on the way out if still running."""
    assert settings.database_url is not None
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GUILDBASE_")}
    environment |= {"GUILDBASE_DATABASE_URL": settings.database_url, "GUILDBASE_POOL_SIZE": "3"}
    if settings.redis_url:
        environment["GUILDBASE_REDIS_URL"] = settings.redis_url
    environment |= {f"GUILDBASE_{name.upper()}": value for name, value in env.items()}
    process = subprocess.Popen(  # noqa: S603 - our own script
        [sys.executable, str(CHILD), *args], env=environment, stdout=subprocess.PIPE, text=True
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=60)


async def _stored(database_url: URL, table: str = "command_log") -> int:
    engine = create_async_engine(with_driver(database_url, "asyncpg"))
    try:
        async with engine.connect() as connection:
            return int((await connection.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())
    finally:
        await engine.dispose()


async def test_sigterm_writes_every_buffered_row_and_still_stops_the_process(
    settings: Settings, database_url: URL
) -> None:
    rows = 3000
    try:
        with child(settings, "term", str(rows), log_flush_seconds="60", log_flush_rows="100000") as process:
            assert process.stdout is not None
            assert await asyncio.to_thread(process.stdout.readline) == "ready\n"
            assert await _stored(database_url) == 0  # everything is still in the buffer
            process.send_signal(signal.SIGTERM)
            await asyncio.to_thread(process.wait, 60)
            assert process.returncode == -signal.SIGTERM  # the default action ran: it did not swallow the signal
        assert await _stored(database_url) == rows
    finally:
        await asyncio.to_thread(truncate_all, database_url)


async def test_sigterm_writes_the_buffered_event_trail_too(settings: Settings, database_url: URL) -> None:
    rows = 1500
    try:
        with child(settings, "events", str(rows), log_flush_seconds="60", log_flush_rows="100000") as process:
            assert process.stdout is not None
            assert await asyncio.to_thread(process.stdout.readline) == "ready\n"
            assert await _stored(database_url, "reaction_event") == 0  # the trail waits in its buffers
            assert await _stored(database_url, "guild_event") == 0
            process.send_signal(signal.SIGTERM)
            await asyncio.to_thread(process.wait, 60)
            assert process.returncode == -signal.SIGTERM
        assert await _stored(database_url, "reaction_event") == rows
        assert await _stored(database_url, "guild_event") == rows
        assert await _stored(database_url, "command_log") == 1
    finally:
        await asyncio.to_thread(truncate_all, database_url)


async def test_sigkill_loses_at_most_the_pending_bound_of_rows(settings: Settings, database_url: URL) -> None:
    bound = 2000
    limits = {"log_flush_seconds": "0.2", "log_flush_rows": "500", "log_max_pending_rows": str(bound)}
    try:
        with child(settings, "kill", **limits) as process:
            assert process.stdout is not None
            accepted = 0
            while accepted < 5000:
                accepted = int(await asyncio.to_thread(process.stdout.readline))
            process.send_signal(signal.SIGKILL)
            rest, _ = await asyncio.to_thread(process.communicate, None, 60)
            accepted = max([accepted, *(int(line) for line in rest.split())])
        stored = await _stored(database_url)
        assert stored > 0
        assert accepted - stored <= bound  # never more than log_max_pending_rows are only in memory
        print(f"SIGKILL after {accepted} accepted rows: {stored} stored, {accepted - stored} lost")  # noqa: T201
    finally:
        await asyncio.to_thread(truncate_all, database_url)
