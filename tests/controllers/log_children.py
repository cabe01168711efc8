"""Helpers for the tests that run ``log_process.py``: start it on the test's database, count what it stored."""

import os
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

CHILD = Path(__file__).resolve().parent / "log_process.py"


@contextmanager
def child(settings: Settings, *args: str, **env: str) -> Iterator[subprocess.Popen[str]]:
    """``log_process.py`` with the test's database and Redis; killed on the way out if still running."""
    assert settings.database_url is not None
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GUILDBASE_")}
    environment |= {"GUILDBASE_DATABASE_URL": settings.database_url, "GUILDBASE_POOL_SIZE": "3"}
    if settings.log_spill_dir is not None:
        environment["GUILDBASE_LOG_SPILL_DIR"] = str(settings.log_spill_dir)
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


async def stored_rows(database_url: URL, table: str = "command_log") -> int:
    engine = create_async_engine(with_driver(database_url, "asyncpg"))
    try:
        async with engine.connect() as connection:
            count = text(f"SELECT count(*) FROM {table}")
            return int((await connection.execute(count)).scalar_one())
    finally:
        await engine.dispose()
