"""Partition retention (every time-partitioned table, ``db.partitions``) runs as a recurring typed job (R14)."""

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from sqlalchemy import text
from support import eventually, running

from guildbase import Database
from guildbase.controllers.partitions import PARTITIONED
from guildbase.db.partitions import add_months, month_of
from guildbase.jobs import JobRegistry, register_maintenance
from guildbase.models.events import EVENT_RETENTION

MakeDatabase = Callable[..., Awaitable[Database]]


async def test_the_retention_job_recreates_the_months_ahead_that_are_missing(jobs_db: MakeDatabase) -> None:
    db = await jobs_db()
    registry = JobRegistry()
    register_maintenance(registry)
    assert registry.get(EVENT_RETENTION.name) is not None
    ahead = add_months(month_of(datetime.now(UTC)), 3)  # the job runs on the real clock, as in production
    names = {table: f"{table}_p{ahead:%Y%m}" for table in PARTITIONED}
    async with db.session() as session:
        for name in names.values():
            await session.execute(text(f"DROP TABLE IF EXISTS {name}"))

    async def recreated() -> bool:
        listed = {row.name for row in await db.partitions.list()}
        return all(name in listed for name in names.values())

    assert not await recreated()
    async with running(db, registry):
        await eventually(recreated)
