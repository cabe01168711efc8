"""The runner's outcome transaction is a unit of work like any other: after-commit work runs once it commits."""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from guildbase import Database
from guildbase.db.types import make_snowflake, utcnow
from guildbase.db.validation import validate
from guildbase.jobs import JobContext, JobRegistry, JobRunner
from guildbase.models.jobs import JobStatus
from guildbase.models.moderation import CaseCreate, CaseType

SINCE = utcnow() - timedelta(days=30)
GUILD, USER, MOD = (make_snowflake(SINCE, n) for n in (7, 8, 9))


async def test_follow_ups_invalidate_their_keys_and_a_failing_callback_leaves_the_job_done(
    jobs_db: Callable[..., Awaitable[Database]],
) -> None:
    db = await jobs_db()
    await db.guilds.join(GUILD)
    assert (await db.cases.counts(GUILD, USER))[CaseType.WARN] == 0  # the summary is cached now
    ran: list[int] = []

    async def warn(ctx: JobContext) -> None:
        async def write(session: AsyncSession) -> None:
            checked = validate(CaseCreate, {"guild_id": GUILD, "type": "WARN", "user_id": USER, "moderator_id": MOD})
            await db.cases.create_in(session, checked)  # registers the summary invalidation itself

        async def broken() -> None:
            raise RuntimeError("after-commit callback failed")

        async def note() -> None:
            ran.append(ctx.attempt)

        ctx.then(write)
        ctx.on_commit(broken)
        ctx.on_commit(note)

    registry = JobRegistry()
    registry.register("warn.after", warn)
    job = await db.jobs.enqueue("warn.after")
    runner = JobRunner(db, registry, worker="after-commit")
    task = asyncio.create_task(runner.run())
    try:
        deadline = asyncio.get_running_loop().time() + 10
        while (found := await db.jobs.get(job.job_id)) is None or found.status is not JobStatus.DONE:
            assert asyncio.get_running_loop().time() < deadline, "the job did not finish"
            await asyncio.sleep(0.05)
    finally:
        runner.stop()
        await asyncio.wait_for(task, 10)

    assert (found.status, found.attempts) == (JobStatus.DONE, 1)  # the failing callback was not a failed attempt
    assert ran == [1]
    assert (await db.cases.counts(GUILD, USER))[CaseType.WARN] == 1
