"""The runner in one process: retries and budgets, early wake-up, built-in handlers, leases, shutdown."""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from support import eventually, finished, running, user

from guildbase import Database
from guildbase.controllers.jobs import LEASE_EXPIRED_ERROR
from guildbase.db.types import make_snowflake, utcnow
from guildbase.db.validation import validate
from guildbase.jobs import BotActions, JobContext, JobRegistry, register_builtin
from guildbase.models.afk import AFKRead
from guildbase.models.jobs import Job, JobStatus
from guildbase.models.moderation import CaseCreate, CaseRead, CaseStatus, CaseType
from guildbase.models.reminders import ReminderRead, ReminderStatus

MakeDatabase = Callable[..., Awaitable[Database]]
"""The ``jobs_db`` fixture (tests/jobs/conftest.py)."""

GUILD = make_snowflake(utcnow() - timedelta(days=400), 11)
MOD = make_snowflake(utcnow() - timedelta(days=300), 12)
ROLES = [make_snowflake(utcnow() - timedelta(days=200), n) for n in (1, 2)]


async def test_a_handler_that_fails_twice_then_succeeds_ends_done_with_three_attempts(jobs_db: MakeDatabase) -> None:
    db = await jobs_db()
    seen: list[int] = []

    async def flaky(ctx: JobContext) -> None:
        seen.append(ctx.attempt)
        if ctx.attempt < 3:
            raise RuntimeError(f"discord said no ({ctx.attempt})")

    registry = JobRegistry()
    registry.register("flaky", flaky)
    job = await db.jobs.enqueue("flaky", max_attempts=5)
    async with running(db, registry):
        await eventually(lambda: finished(db, job.job_id))

    done = await db.jobs.get(job.job_id)
    assert done is not None
    assert (done.status, done.attempts, done.last_error) == (JobStatus.DONE, 3, None)
    assert seen == [1, 2, 3]


async def test_a_handler_that_always_fails_ends_failed_after_its_budget_with_the_last_error(
    jobs_db: MakeDatabase,
) -> None:
    db = await jobs_db()
    calls = 0

    async def broken(ctx: JobContext) -> None:
        nonlocal calls
        calls += 1
        raise ValueError(f"boom {ctx.attempt}")

    registry = JobRegistry()
    registry.register("broken", broken)
    job = await db.jobs.enqueue("broken", max_attempts=3)
    async with running(db, registry):
        await eventually(lambda: finished(db, job.job_id))
        await asyncio.sleep(0.3)  # a failed job is never claimed again

    failed = await db.jobs.get(job.job_id)
    assert failed is not None
    assert (failed.status, failed.attempts, failed.last_error) == (JobStatus.FAILED, 3, "ValueError: boom 3")
    assert calls == 3
    assert failed.finished_at is not None


async def test_a_reminder_due_in_two_seconds_arrives_within_a_second_although_the_poll_is_30_seconds(
    jobs_db: MakeDatabase,
) -> None:
    db = await jobs_db(jobs_poll_interval_seconds=30.0)
    delivered: list[tuple[ReminderRead, datetime]] = []
    arrived = asyncio.Event()

    async def deliver(reminder: ReminderRead, _attempt: int) -> None:
        delivered.append((reminder, utcnow()))
        arrived.set()

    registry = JobRegistry()
    register_builtin(registry, BotActions(deliver_reminder=deliver))
    async with running(db, registry):
        await asyncio.sleep(0.3)  # the runner found nothing due and went to sleep for the poll interval
        reminder = await db.reminders.create(user(1), content="tea", remind_at=utcnow() + timedelta(seconds=2))
        await asyncio.wait_for(arrived.wait(), 10)

    ((got, at),) = delivered
    assert got.reminder_id == reminder.reminder_id
    late = (at - reminder.remind_at).total_seconds()
    assert 0 <= late <= 1.0, f"delivered {late:.3f}s after it was due"
    sent = await db.reminders.get(reminder.reminder_id)
    assert sent is not None
    assert (sent.status, sent.attempts) == (ReminderStatus.SENT, 1)


async def test_expired_punishments_are_lifted_once_with_their_closing_cases(jobs_db: MakeDatabase) -> None:
    db = await jobs_db()
    await db.guilds.join(GUILD)
    soon = utcnow() + timedelta(seconds=1)
    tempban = await db.cases.create(GUILD, user(1), MOD, "TEMPBAN", expires_at=soon)
    timeout = await db.cases.create(GUILD, user(2), MOD, "TIMEOUT", expires_at=soon)
    jail = await db.cases.create(GUILD, user(3), MOD, "JAIL", expires_at=soon, role_ids=ROLES)
    calls: list[tuple[str, int, Any, int]] = []

    async def unban(case: CaseRead, attempt: int) -> None:
        calls.append(("unban", case.number, None, attempt))

    async def end_timeout(case: CaseRead, attempt: int) -> None:
        calls.append(("end_timeout", case.number, None, attempt))

    async def unjail(case: CaseRead, roles: list[int], attempt: int) -> None:
        calls.append(("unjail", case.number, roles, attempt))

    registry = JobRegistry()
    register_builtin(registry, BotActions(unban=unban, end_timeout=end_timeout, unjail=unjail))
    assert await db.cases.is_jailed(GUILD, user(3))
    async with running(db, registry):
        await eventually(lambda: _count_cases(db, 6))

    assert sorted(calls) == [
        ("end_timeout", timeout.number, None, 1),
        ("unban", tempban.number, None, 1),
        ("unjail", jail.number, ROLES, 1),
    ]
    for case, closing, target in [
        (tempban, CaseType.UNTEMPBAN, user(1)),
        (timeout, CaseType.UNTIMEOUT, user(2)),
        (jail, CaseType.UNJAIL, user(3)),
    ]:
        history = await db.cases.history(GUILD, target)
        assert [c.type for c in history] == [closing, case.type]
        assert history[0].details == {"expired_case": case.number, "automatic": True}
        assert history[1].status is CaseStatus.EXPIRED
        assert history[1].processed_at is not None
    assert not await db.cases.is_jailed(GUILD, user(3))
    # The expiry and the closing case are audited as the job that made them, under its correlation ID.
    [expired] = await db.cases.changes(GUILD, tempban.number)
    assert (expired.action, expired.source, expired.actor_id) == ("case_expire", "job", None)
    assert expired.correlation_id is not None
    job = await db.jobs.get(int(expired.correlation_id.removeprefix("job:")))
    assert job is not None
    assert (job.kind, job.dedupe_key) == ("tempban_expiry", str(tempban.case_id))


async def _count_cases(db: Database, expected: int) -> bool:
    recent = await db.cases.recent(GUILD, limit=50)
    return len(recent) >= expected and all(c.processed_at is not None for c in recent if c.expires_at)


async def test_a_punishment_superseded_by_a_later_case_is_processed_without_acting(jobs_db: MakeDatabase) -> None:
    db = await jobs_db()
    await db.guilds.join(GUILD)
    jail = await db.cases.create(GUILD, user(4), MOD, "JAIL", expires_at=utcnow() + timedelta(seconds=1))
    await db.cases.create(GUILD, user(4), MOD, "UNJAIL")
    voided = await db.cases.create(GUILD, user(5), MOD, "TEMPBAN", expires_at=utcnow() + timedelta(seconds=1))
    await db.cases.void(GUILD, voided.number)
    acted: list[int] = []

    async def unjail(case: CaseRead, _roles: list[int], _attempt: int) -> None:
        acted.append(case.number)

    async def unban(case: CaseRead, _attempt: int) -> None:
        acted.append(case.number)

    registry = JobRegistry()
    register_builtin(registry, BotActions(unjail=unjail, unban=unban))
    async with running(db, registry):

        async def jail_done() -> bool:
            async with db.session() as session:
                jobs = list(await session.scalars(select(Job).where(Job.guild_id == GUILD)))  # type: ignore[arg-type]
            return [(j.dedupe_key, j.status) for j in jobs] == [(str(jail.case_id), JobStatus.DONE)]

        await eventually(jail_done)  # the voided TEMPBAN's job was cancelled by the void: it never runs

    assert acted == []
    after = await db.cases.get(GUILD, jail.number)
    assert after is not None
    assert (after.status, after.processed_at is not None) == (CaseStatus.ACTIVE, True)
    assert [c.type for c in await db.cases.history(GUILD, user(4))] == [CaseType.UNJAIL, CaseType.JAIL]


async def test_a_timed_afk_ends_and_the_member_gets_their_nickname_back(jobs_db: MakeDatabase) -> None:
    db = await jobs_db()
    await db.guilds.join(GUILD)
    now = utcnow()
    await db.afk.set(GUILD, user(6), nickname="Zed", until=now + timedelta(seconds=1))
    await db.afk.set(GUILD, user(7), nickname="Ann", until=now + timedelta(hours=1))
    ended: list[AFKRead] = []

    async def end_afk(afk: AFKRead, _attempt: int) -> None:
        ended.append(afk)

    registry = JobRegistry()
    register_builtin(registry, BotActions(end_afk=end_afk))
    async with running(db, registry):

        async def gone() -> bool:
            return await db.afk.get(GUILD, user(6)) is None

        await eventually(gone)

    assert [(a.user_id, a.nickname) for a in ended] == [(user(6), "Zed")]
    assert await db.afk.get(GUILD, user(7)) is not None


async def test_a_reminder_whose_budget_runs_out_is_marked_failed_with_the_error(jobs_db: MakeDatabase) -> None:
    db = await jobs_db()

    async def deliver(_reminder: ReminderRead, attempt: int) -> None:
        raise PermissionError(f"cannot DM this user (attempt {attempt})")

    registry = JobRegistry()
    register_builtin(registry, BotActions(deliver_reminder=deliver))
    reminder = await db.reminders.create(
        user(8), content="x", remind_at=utcnow() + timedelta(milliseconds=300), max_attempts=2
    )
    async with running(db, registry):

        async def given_up() -> bool:
            got = await db.reminders.get(reminder.reminder_id)
            return got is not None and got.status is ReminderStatus.FAILED

        await eventually(given_up)

    failed = await db.reminders.get(reminder.reminder_id)
    assert failed is not None
    assert (failed.attempts, failed.last_error) == (2, "PermissionError: cannot DM this user (attempt 2)")


async def test_follow_up_writes_commit_with_the_job_or_not_at_all(jobs_db: MakeDatabase) -> None:
    db = await jobs_db()
    await db.guilds.join(GUILD)
    attempts: list[int] = []

    async def note_then_maybe_break(ctx: JobContext) -> None:
        attempts.append(ctx.attempt)

        async def write(session: AsyncSession) -> None:
            checked = validate(CaseCreate, {"guild_id": GUILD, "type": "WARN", "user_id": user(9), "moderator_id": MOD})
            await db.cases.create_in(session, checked)
            if ctx.attempt == 1:
                raise RuntimeError("follow-up failed")

        ctx.then(write)

    registry = JobRegistry()
    registry.register("warn", note_then_maybe_break)
    job = await db.jobs.enqueue("warn")
    async with running(db, registry):
        await eventually(lambda: finished(db, job.job_id))

    assert attempts == [1, 2]
    assert [c.number for c in await db.cases.history(GUILD, user(9))] == [1], "attempt 1's case rolled back"
    done = await db.jobs.get(job.job_id)
    assert done is not None
    assert (done.status, done.attempts) == (JobStatus.DONE, 2)


async def test_a_slow_handler_keeps_its_lease_alive_and_runs_once(jobs_db: MakeDatabase) -> None:
    db = await jobs_db(jobs_lease_seconds=0.6)
    calls: list[str] = []

    def handler_for(worker: str) -> Callable[[JobContext], Awaitable[None]]:
        async def slow(_ctx: JobContext) -> None:
            calls.append(worker)
            await asyncio.sleep(2.0)

        return slow

    first, second = JobRegistry(), JobRegistry()
    first.register("slow", handler_for("first"))
    second.register("slow", handler_for("second"))
    job = await db.jobs.enqueue("slow")
    async with running(db, first, "first"):
        await eventually(lambda: _has_started(calls))
        async with running(db, second, "second"):
            await eventually(lambda: finished(db, job.job_id))

    assert calls == ["first"]


async def _has_started(calls: list[str]) -> bool:
    return bool(calls)


async def test_stopping_releases_jobs_still_running_after_the_grace(jobs_db: MakeDatabase) -> None:
    db = await jobs_db(jobs_shutdown_timeout_seconds=0.2)
    started = asyncio.Event()

    async def stuck(_ctx: JobContext) -> None:
        started.set()
        await asyncio.sleep(60)

    registry = JobRegistry()
    registry.register("stuck", stuck)
    job = await db.jobs.enqueue("stuck")
    async with running(db, registry):
        await asyncio.wait_for(started.wait(), 5)

    released = await db.jobs.get(job.job_id)
    assert released is not None
    assert (released.status, released.attempts, released.locked_by) == (JobStatus.PENDING, 0, None)


async def test_a_recurring_job_runs_again_after_its_interval(jobs_db: MakeDatabase) -> None:
    db = await jobs_db()
    runs: list[int] = []

    async def tick(ctx: JobContext) -> None:
        runs.append(ctx.job.job_id)

    registry = JobRegistry()
    registry.every("tick", timedelta(seconds=1), tick)
    async with running(db, registry):

        async def twice() -> bool:
            return len(runs) >= 2

        await eventually(twice)

    assert len(set(runs)) == len(runs), "every run is its own job row"
    statuses = {row.kind: row for row in await db.jobs.status()}
    assert (statuses["tick"].due + statuses["tick"].scheduled, statuses["tick"].failed) == (1, 0)


async def test_a_job_whose_worker_died_on_its_last_attempt_ends_failed_without_running_again(
    jobs_db: MakeDatabase,
) -> None:
    db = await jobs_db()
    calls: list[int] = []

    async def handler(ctx: JobContext) -> None:
        calls.append(ctx.attempt)

    registry = JobRegistry()
    registry.register("fragile", handler)
    job = await db.jobs.enqueue("fragile", max_attempts=1)
    await db.jobs.claim(["fragile"], worker="died", limit=1, lease=timedelta(milliseconds=100))
    async with running(db, registry):
        await eventually(lambda: finished(db, job.job_id))

    failed = await db.jobs.get(job.job_id)
    assert failed is not None
    assert (failed.status, failed.attempts, failed.last_error) == (JobStatus.FAILED, 1, LEASE_EXPIRED_ERROR)
    assert calls == []
