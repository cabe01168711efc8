"""db.jobs: enqueue (by controller and by the domain triggers), claims, fenced outcomes, status, retry."""

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select

from guildbase import Database
from guildbase.controllers.jobs import LEASE_EXPIRED_ERROR
from guildbase.db.types import make_snowflake, utcnow
from guildbase.errors import ConflictError, NotFoundError, ValidationError
from guildbase.models.jobs import BuiltinKind, Job, JobRead, JobStatus

GUILD = make_snowflake(utcnow() - timedelta(days=400), 1)
USER = make_snowflake(utcnow() - timedelta(days=300), 2)
MOD = make_snowflake(utcnow() - timedelta(days=300), 3)
LEASE = timedelta(minutes=1)


async def _jobs_for(db: Database, **refs: int) -> list[JobRead]:
    stmt = select(Job).filter_by(**refs).order_by(Job.job_id)  # type: ignore[arg-type]
    async with db.session() as session:
        return [JobRead.model_validate(row) for row in await session.scalars(stmt)]


@pytest.fixture
async def guild(db: Database) -> int:
    await db.guilds.join(GUILD)
    return GUILD


async def test_temporary_cases_enqueue_their_expiry_and_permanent_ones_do_not(db: Database, guild: int) -> None:
    expires = utcnow() + timedelta(hours=1)
    tempban = await db.cases.create(guild, USER, MOD, "TEMPBAN", expires_at=expires)
    jail = await db.cases.create(guild, USER, MOD, "JAIL", expires_at=expires, role_ids=[GUILD])
    await db.cases.create(guild, USER, MOD, "WARN")
    await db.cases.create(guild, USER, MOD, "JAIL")

    jobs = await _jobs_for(db, guild_id=guild)

    assert [(j.kind, j.case_id, j.run_at, j.payload) for j in jobs] == [
        (BuiltinKind.TEMPBAN_EXPIRY, tempban.case_id, expires, {"number": tempban.number}),
        (BuiltinKind.JAIL_EXPIRY, jail.case_id, expires, {"number": jail.number}),
    ]
    assert all(j.status is JobStatus.PENDING and j.attempts == 0 for j in jobs)


async def test_reminders_enqueue_delivery_with_their_own_attempt_budget(db: Database) -> None:
    remind_at = utcnow() + timedelta(minutes=5)
    reminder = await db.reminders.create(USER, content="stretch", remind_at=remind_at, max_attempts=7)

    (job,) = await _jobs_for(db, reminder_id=reminder.reminder_id)

    assert (job.kind, job.run_at, job.max_attempts, job.user_id) == ("reminder_delivery", remind_at, 7, USER)


async def test_afk_expiry_job_follows_the_afk_through_replace_and_clear(db: Database, guild: int) -> None:
    until = utcnow() + timedelta(hours=1)
    await db.afk.set(guild, USER, until=until)
    (first,) = await _jobs_for(db, guild_id=guild, user_id=USER)
    assert (first.kind, first.run_at) == (BuiltinKind.AFK_EXPIRY, until)

    later = until + timedelta(hours=1)
    await db.afk.set(guild, USER, until=later)
    (second,) = await _jobs_for(db, guild_id=guild, user_id=USER)
    assert second.run_at == later
    assert second.job_id != first.job_id, "a replaced AFK gets a new job, fencing out a worker on the old one"

    await db.afk.set(guild, USER)
    assert await _jobs_for(db, guild_id=guild, user_id=USER) == []

    await db.afk.set(guild, USER, until=until)
    await db.afk.clear(guild, USER)
    assert await _jobs_for(db, guild_id=guild, user_id=USER) == []


async def test_enqueue_rejects_bad_input_naming_the_field(db: Database) -> None:
    with pytest.raises(ValidationError) as bad_kind:
        await db.jobs.enqueue("Not A Kind")
    assert bad_kind.value.fields == ["kind"]
    with pytest.raises(ValidationError) as bad_budget:
        await db.jobs.enqueue("cleanup", max_attempts=0)
    assert bad_budget.value.fields == ["max_attempts"]
    with pytest.raises(ValidationError) as naive:
        await db.jobs.enqueue("cleanup", run_at=utcnow().replace(tzinfo=None))
    assert naive.value.fields == ["run_at"]


async def test_enqueue_with_a_dedupe_key_keeps_one_live_job(db: Database) -> None:
    first = await db.jobs.enqueue("rollup", dedupe_key="2026-11-25", payload={"day": "2026-11-25"})
    again = await db.jobs.enqueue("rollup", dedupe_key="2026-11-25", payload={"day": "ignored"})
    other = await db.jobs.enqueue("rollup", dedupe_key="2026-11-26")

    assert again.job_id == first.job_id
    assert again.payload == {"day": "2026-11-25"}
    assert other.job_id != first.job_id


async def test_claim_leases_each_job_once_and_counts_the_attempt(db: Database) -> None:
    jobs = [await db.jobs.enqueue("cleanup", payload={"n": n}) for n in range(3)]
    await db.jobs.enqueue("cleanup", run_at=utcnow() + timedelta(hours=1))
    await db.jobs.enqueue("other")

    first = await db.jobs.claim(["cleanup"], worker="a", limit=2, lease=LEASE)
    second = await db.jobs.claim(["cleanup"], worker="b", limit=10, lease=LEASE)

    assert [j.job_id for j in first.jobs + second.jobs] == [j.job_id for j in jobs]
    assert {(j.status, j.attempts) for j in first.jobs + second.jobs} == {(JobStatus.RUNNING, 1)}
    assert [j.locked_by for j in first.jobs] == ["a", "a"]
    assert all(j.locked_until is not None for j in first.jobs)
    assert (await db.jobs.claim(["cleanup"], worker="c", limit=10, lease=LEASE)).jobs == []


async def test_claim_rejects_bad_arguments(db: Database) -> None:
    with pytest.raises(ValidationError, match="kinds"):
        await db.jobs.claim([], worker="a", limit=1, lease=LEASE)
    with pytest.raises(ValidationError, match="limit"):
        await db.jobs.claim(["x"], worker="a", limit=0, lease=LEASE)
    with pytest.raises(ValidationError, match="lease"):
        await db.jobs.claim(["x"], worker="a", limit=1, lease=timedelta(0))
    with pytest.raises(ValidationError, match="worker"):
        await db.jobs.claim(["x"], worker="", limit=1, lease=LEASE)


async def test_outcomes_are_fenced_on_the_claim(db: Database) -> None:
    await db.jobs.enqueue("cleanup")
    (job,) = (await db.jobs.claim(["cleanup"], worker="a", limit=1, lease=LEASE)).jobs
    impostor = job.model_copy(update={"locked_by": "b"})
    older = job.model_copy(update={"attempts": job.attempts - 1})

    async with db.session() as session:
        assert not await db.jobs.complete_in(session, impostor)
        assert not await db.jobs.complete_in(session, older)
    assert await db.jobs.fail(impostor, error="nope", retry_after=timedelta(0)) is None
    async with db.session() as session:
        assert await db.jobs.complete_in(session, job)
        assert not await db.jobs.complete_in(session, job), "done once; a repeat changes nothing"

    done = await db.jobs.get(job.job_id)
    assert done is not None
    assert (done.status, done.locked_until, done.last_error) == (JobStatus.DONE, None, None)
    assert done.finished_at is not None


async def test_failures_retry_until_the_budget_then_fail_with_the_last_error(db: Database) -> None:
    await db.jobs.enqueue("flaky", max_attempts=2)
    (job,) = (await db.jobs.claim(["flaky"], worker="a", limit=1, lease=LEASE)).jobs

    retried = await db.jobs.fail(job, error="first", retry_after=timedelta(0))
    assert retried is not None
    assert (retried.status, retried.attempts, retried.last_error, retried.locked_by) == (
        JobStatus.PENDING,
        1,
        "first",
        None,
    )

    (job,) = (await db.jobs.claim(["flaky"], worker="a", limit=1, lease=LEASE)).jobs
    failed = await db.jobs.fail(job, error="second", retry_after=timedelta(0))
    assert failed is not None
    assert (failed.status, failed.attempts, failed.last_error) == (JobStatus.FAILED, 2, "second")
    assert (await db.jobs.claim(["flaky"], worker="a", limit=1, lease=LEASE)).jobs == []


async def test_a_retry_delay_keeps_the_job_out_of_claims(db: Database) -> None:
    await db.jobs.enqueue("flaky")
    (job,) = (await db.jobs.claim(["flaky"], worker="a", limit=1, lease=LEASE)).jobs
    await db.jobs.fail(job, error="later", retry_after=timedelta(hours=1))

    assert (await db.jobs.claim(["flaky"], worker="a", limit=1, lease=LEASE)).jobs == []
    wait = await db.jobs.seconds_until_due(["flaky"])
    assert wait is not None
    assert 3500 < wait <= 3600


async def test_retry_revives_a_failed_job_with_a_larger_budget(db: Database) -> None:
    queued = await db.jobs.enqueue("flaky", max_attempts=1)
    (job,) = (await db.jobs.claim(["flaky"], worker="a", limit=1, lease=LEASE)).jobs
    await db.jobs.fail(job, error="boom", retry_after=timedelta(0))

    revived = await db.jobs.retry(queued.job_id, attempts=2)

    assert (revived.status, revived.attempts, revived.max_attempts) == (JobStatus.PENDING, 1, 3)
    (again,) = (await db.jobs.claim(["flaky"], worker="a", limit=1, lease=LEASE)).jobs
    assert again.attempts == 2, "attempt numbers never repeat, so the old claim stays fenced out"


async def test_retry_refuses_running_done_and_missing_jobs(db: Database) -> None:
    queued = await db.jobs.enqueue("cleanup")
    await db.jobs.claim(["cleanup"], worker="a", limit=1, lease=LEASE)
    with pytest.raises(ConflictError, match="running"):
        await db.jobs.retry(queued.job_id)
    with pytest.raises(NotFoundError, match="job_id"):
        await db.jobs.retry(10**12)
    with pytest.raises(ValidationError, match="attempts"):
        await db.jobs.retry(queued.job_id, attempts=0)


async def test_status_counts_due_scheduled_running_and_failed_per_kind(db: Database) -> None:
    await db.jobs.enqueue("a")
    await db.jobs.enqueue("a")
    await db.jobs.enqueue("a", run_at=utcnow() + timedelta(hours=1))
    await db.jobs.enqueue("b", max_attempts=1)
    await db.jobs.enqueue("c")
    (running,) = (await db.jobs.claim(["b"], worker="w", limit=1, lease=LEASE)).jobs
    (done,) = (await db.jobs.claim(["c"], worker="w", limit=1, lease=LEASE)).jobs
    async with db.session() as session:
        await db.jobs.complete_in(session, done)
    await db.jobs.enqueue("b", max_attempts=1)
    (failing,) = (await db.jobs.claim(["b"], worker="w", limit=1, lease=LEASE)).jobs
    await db.jobs.fail(failing, error="bad", retry_after=timedelta(0))

    rows = {row.kind: (row.due, row.scheduled, row.running, row.failed) for row in await db.jobs.status()}

    assert rows == {"a": (2, 1, 0, 0), "b": (0, 0, 1, 1)}
    assert running.job_id != failing.job_id
    assert [j.job_id for j in await db.jobs.failed(kind="b")] == [failing.job_id]


async def test_a_recurring_job_schedules_its_next_run_when_one_finishes(db: Database) -> None:
    first = await db.jobs.schedule("rollup", every=timedelta(minutes=10))
    assert (await db.jobs.schedule("rollup", every=timedelta(minutes=10))).job_id == first.job_id

    (job,) = (await db.jobs.claim(["rollup"], worker="w", limit=1, lease=LEASE)).jobs
    async with db.session() as session:
        assert await db.jobs.complete_in(session, job)

    runs = await _jobs_for(db, kind="rollup")
    assert [r.status for r in runs] == [JobStatus.DONE, JobStatus.PENDING]
    assert runs[1].run_at - utcnow() > timedelta(minutes=9)
    assert runs[1].interval_seconds == 600


async def test_release_hands_claims_back_without_spending_the_attempt(db: Database) -> None:
    await db.jobs.enqueue("cleanup")
    claimed = (await db.jobs.claim(["cleanup"], worker="a", limit=1, lease=LEASE)).jobs

    assert await db.jobs.release(claimed) == 1
    (again,) = (await db.jobs.claim(["cleanup"], worker="b", limit=1, lease=LEASE)).jobs
    assert again.attempts == 1
    assert await db.jobs.release(claimed) == 0, "the old claim is stale"


async def test_a_lease_that_lapses_on_the_last_attempt_is_handed_out_to_record_the_failure(db: Database) -> None:
    queued = await db.jobs.enqueue("fragile", max_attempts=1)
    await db.jobs.claim(["fragile"], worker="dead", limit=1, lease=timedelta(milliseconds=50))
    await asyncio.sleep(0.1)

    claim = await db.jobs.claim(["fragile"], worker="alive", limit=5, lease=LEASE)

    assert claim.jobs == []
    (expired,) = claim.expired
    assert (expired.job_id, expired.attempts, expired.locked_by) == (queued.job_id, 1, "alive")
    failed = await db.jobs.fail(expired, error=LEASE_EXPIRED_ERROR, retry_after=timedelta(0))
    assert failed is not None
    assert (failed.status, failed.last_error) == (JobStatus.FAILED, LEASE_EXPIRED_ERROR)
