"""Helpers of the runner tests: run a JobRunner for a block, wait for a condition, derived user IDs."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta

import pytest

from guildbase import Database
from guildbase.db.types import make_snowflake, utcnow
from guildbase.jobs import JobRegistry, JobRunner
from guildbase.models.jobs import JobStatus

USERS_SINCE = utcnow() - timedelta(days=100)


def user(n: int) -> int:
    return make_snowflake(USERS_SINCE, 100 + n)


@asynccontextmanager
async def running(db: Database, registry: JobRegistry, worker: str = "test") -> AsyncIterator[JobRunner]:
    runner = JobRunner(db, registry, worker=worker)
    task = asyncio.create_task(runner.run())
    try:
        if runner.listener is not None:
            await asyncio.wait_for(runner.listener.connected.wait(), 5)
        yield runner
    finally:
        runner.stop()
        await asyncio.wait_for(task, 10)


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"condition not met within {within}s")
        await asyncio.sleep(0.05)


async def finished(db: Database, job_id: int) -> bool:
    job = await db.jobs.get(job_id)
    return job is not None and job.status in {JobStatus.DONE, JobStatus.FAILED}
