"""db.jobs: enqueue and cancel in the domain's unit of work, typed payloads, claims, fenced outcomes, status, retry."""

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from pydantic import BaseModel, Field
from sqlalchemy import select

from guildbase import Database
from guildbase.controllers.jobs import LEASE_EXPIRED_ERROR
from guildbase.db.types import make_snowflake, utcnow
from guildbase.errors import ConflictError, NotFoundError, ValidationError
from guildbase.jobs import JobContext, JobRegistry
from guildbase.models.afk import AFK_EXPIRY, AFKExpiryPayload
from guildbase.models.jobs import Job, JobKind, JobRead, JobStatus

GUILD = make_snowflake(utcnow() - timedelta(days=400), 1)
USER = make_snowflake(utcnow() - timedelta(days=300), 2)
MOD = make_snowflake(utcnow() - timedelta(days=300), 3)
LEASE = timedelta(minutes=1)


async def _jobs_for(db: Database, **refs: Any) -> list[JobRead]:
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

    assert [(j.kind, j.dedupe_key, j.run_at, j.payload) for j in jobs] == [
        ("tempban_expiry", str(tempban.case_id), expires, {"guild_id": guild, "number": tempban.number}),
        ("jail_expiry", str(jail.case_id), expires, {"guild_id": guild, "number": jail.number}),
    ]
    assert all(j.status is JobStatus.PENDING and j.attempts == 0 for j in jobs)


async def test_a_case_whose_insert_fails_leaves_no_job(db: Database) -> None:
    with pytest.raises(ValidationError, match="guild_id"):
        await db.cases.create(GUILD, USER, MOD, "TEMPBAN", expires_at=utcnow() + timedelta(hours=1))
    assert await _jobs_for(db, kind="tempban_expiry") == []


async def test_voiding_a_case_cancels_its_expiry_job_in_the_same_transaction(db: Database, guild: int) -> None:
    tempban = await db.cases.create(guild, USER, MOD, "TEMPBAN", expires_at=utcnow() + timedelta(hours=1))
    timeout = await db.cases.create(guild, USER, MOD, "TIMEOUT", expires_at=utcnow() + timedelta(hours=1))

    await db.cases.void(guild, tempban.number)

    assert [j.dedupe_key for j in await _jobs_for(db, guild_id=guild)] == [str(timeout.case_id)]


async def test_a_void_that_fails_keeps_the_expiry_job(db: Database, guild: int) -> None:
    tempban = await db.cases.create(guild, USER, MOD, "TEMPBAN", expires_at=utcnow() + timedelta(hours=1))
    await db.cases.void(guild, tempban.number)
    again = await db.cases.create(guild, USER, MOD, "TEMPBAN", expires_at=utcnow() + timedelta(hours=1))
    with pytest.raises(NotFoundError):
        await db.cases.void(guild, again.number + 1)
    assert [j.dedupe_key for j in await _jobs_for(db, kind="tempban_expiry")] == [str(again.case_id)]


async def test_reminders_enqueue_delivery_with_their_own_attempt_budget(db: Database) -> None:
    remind_at = utcnow() + timedelta(minutes=5)
    reminder = await db.reminders.create(USER, content="stretch", remind_at=remind_at, max_attempts=7)

    (job,) = await _jobs_for(db, kind="reminder_delivery")

    assert (job.run_at, job.max_attempts, job.payload, job.dedupe_key) == (
        remind_at,
        7,
        {"reminder_id": reminder.reminder_id},
        str(reminder.reminder_id),
    )


async def test_cancelling_a_reminder_cancels_its_delivery_job_at_once(db: Database) -> None:
    keep = await db.reminders.create(USER, content="keep", remind_at=utcnow() + timedelta(minutes=5))
    drop = await db.reminders.create(USER, content="drop", remind_at=utcnow() + timedelta(minutes=5))

    await db.reminders.cancel(drop.reminder_id, user_id=USER)

    assert [j.dedupe_key for j in await _jobs_for(db, kind="reminder_delivery")] == [str(keep.reminder_id)]


async def test_afk_expiry_job_follows_the_afk_through_replace_and_clear(db: Database, guild: int) -> None:
    key = f"{guild}:{USER}"
    until = utcnow() + timedelta(hours=1)
    await db.afk.set(guild, USER, until=until)
    (first,) = await _jobs_for(db, kind="afk_expiry", dedupe_key=key)
    assert first.run_at == until
    assert AFK_EXPIRY.parse(first.payload) == AFKExpiryPayload(guild_id=guild, user_id=USER, until=until)

    later = until + timedelta(hours=1)
    await db.afk.set(guild, USER, until=later)
    (second,) = await _jobs_for(db, kind="afk_expiry", dedupe_key=key)
    assert second.run_at == later
    assert second.job_id != first.job_id, "a replaced AFK gets a new job, fencing out a worker on the old one"

    await db.afk.set(guild, USER)
    assert await _jobs_for(db, kind="afk_expiry") == []

    await db.afk.set(guild, USER, until=until)
    await db.afk.clear(guild, USER)
    assert await _jobs_for(db, kind="afk_expiry") == []


class Digest(BaseModel):
    channel_id: int = Field(gt=0)
    title: str = Field(min_length=1)


DIGEST = JobKind("test.digest", Digest)


async def test_enqueue_in_commits_with_the_domain_write_or_not_at_all(db: Database, guild: int) -> None:
    async with db.session() as session:
        kept = await db.jobs.enqueue_in(session, DIGEST, payload=Digest(channel_id=5, title="week"), guild_id=guild)
    with pytest.raises(RuntimeError, match="rolled back"):
        async with db.session() as session:
            await db.jobs.enqueue_in(session, DIGEST, payload={"channel_id": 6, "title": "lost"})
            raise RuntimeError("rolled back")

    assert [(j.job_id, j.payload, j.guild_id) for j in await _jobs_for(db, kind=DIGEST.name)] == [
        (kept.job_id, {"channel_id": 5, "title": "week"}, guild)
    ]


async def test_enqueue_in_validates_the_payload_against_its_kind_naming_the_field(db: Database) -> None:
    with pytest.raises(ValidationError) as bad:
        await db.jobs.enqueue(DIGEST, payload={"channel_id": 0, "title": "x"})
    assert bad.value.fields == ["payload.channel_id"]
    with pytest.raises(ValidationError) as missing:
        await db.jobs.enqueue(DIGEST)
    assert missing.value.fields == ["payload.channel_id", "payload.title"]
    assert await _jobs_for(db, kind=DIGEST.name) == []


async def test_a_known_registry_refuses_kinds_it_has_no_handler_for(db: Database) -> None:
    registry = JobRegistry()

    async def digest(ctx: JobContext, payload: Digest) -> None:
        del ctx, payload

    registry.register("test.typed", digest, payload=Digest)
    db.jobs.use(registry)
    try:
        with pytest.raises(ValidationError, match=r"no handler is registered for 'test\.unknown'") as unknown:
            await db.jobs.enqueue("test.unknown")
        assert unknown.value.fields == ["kind"]
        with pytest.raises(ValidationError) as untyped:
            await db.jobs.enqueue("test.typed", payload={"channel_id": "x", "title": "t"})
        assert untyped.value.fields == ["payload.channel_id"]
        typed = await db.jobs.enqueue("test.typed", payload={"channel_id": 9, "title": "t"})
        assert typed.payload == {"channel_id": 9, "title": "t"}
    finally:
        db.jobs.registry = None
    assert [j.kind for j in await _jobs_for(db)] == ["test.typed"]


async def test_cancel_in_removes_only_the_live_job_of_that_kind_and_key(db: Database) -> None:
    gone = await db.jobs.enqueue("test.ping", dedupe_key="a")
    await db.jobs.enqueue("test.ping", dedupe_key="b")
    await db.jobs.enqueue("test.pong", dedupe_key="a")
    (claimed,) = (await db.jobs.claim(["test.ping"], worker="w", limit=1, lease=LEASE)).jobs
    assert claimed.job_id == gone.job_id

    async with db.session() as session:
        assert await db.jobs.cancel_in(session, "test.ping", "a") == 1
        assert await db.jobs.cancel_in(session, "test.ping", "a") == 0

    assert [(j.kind, j.dedupe_key) for j in await _jobs_for(db)] == [("test.ping", "b"), ("test.pong", "a")]
    async with db.session() as session:
        assert not await db.jobs.complete_in(session, claimed), "the cancelled job's worker lost its claim"


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
