"""Timed work for a new domain needs no migration: a typed kind, ``enqueue_in`` and a handler.

The kind below exists only in this test. Its jobs go through the real runner:
the payload is validated by its model when enqueued and again when run.
"""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, Field
from support import eventually, finished, running, user

from guildbase import Database
from guildbase.db.types import make_snowflake, utcnow
from guildbase.jobs import BotActions, JobContext, JobRegistry, register_builtin
from guildbase.jobs.handlers import BUILTIN_KINDS
from guildbase.models.jobs import JobKind, JobStatus
from guildbase.models.moderation import CaseType

MakeDatabase = Callable[..., Awaitable[Database]]
"""The ``jobs_db`` fixture (tests/jobs/conftest.py)."""

GUILD = make_snowflake(utcnow() - timedelta(days=400), 31)


class AutoClose(BaseModel):
    """A ticket domain that does not exist yet: close ticket ``number`` unless someone replied."""

    guild_id: int = Field(gt=0)
    number: int = Field(ge=1)


AUTOCLOSE = JobKind("test.ticket_autoclose", AutoClose)


async def test_a_brand_new_kind_runs_through_the_real_runner_with_its_typed_payload(jobs_db: MakeDatabase) -> None:
    db = await jobs_db()
    await db.guilds.join(GUILD)
    seen: list[tuple[AutoClose, int]] = []
    registry = JobRegistry()

    @registry.handler(AUTOCLOSE)
    async def autoclose(ctx: JobContext, payload: AutoClose) -> None:
        seen.append((payload, ctx.attempt))

    async with db.session() as session:  # the domain's unit of work: its row and its timed work commit together
        job = await db.jobs.enqueue_in(
            session,
            AUTOCLOSE,
            run_at=utcnow() + timedelta(milliseconds=300),
            payload=AutoClose(guild_id=GUILD, number=7),
            dedupe_key=f"{GUILD}:7",
            guild_id=GUILD,
        )
    async with running(db, registry):
        await eventually(lambda: finished(db, job.job_id))

    done = await db.jobs.get(job.job_id)
    assert done is not None
    assert (done.status, done.attempts) == (JobStatus.DONE, 1)
    assert seen == [(AutoClose(guild_id=GUILD, number=7), 1)]
    assert isinstance(seen[0][0], AutoClose)


async def test_a_stored_payload_that_breaks_its_model_fails_the_attempt_naming_the_field(
    jobs_db: MakeDatabase,
) -> None:
    db = await jobs_db()
    calls: list[Any] = []
    registry = JobRegistry()

    async def never(ctx: JobContext, payload: AutoClose) -> None:
        calls.append(payload)

    registry.register("test.strict", never, payload=AutoClose)
    job = await db.jobs.enqueue("test.strict", payload={"guild_id": GUILD, "number": 0}, max_attempts=1)
    async with running(db, registry):
        await eventually(lambda: finished(db, job.job_id))

    failed = await db.jobs.get(job.job_id)
    assert failed is not None
    assert failed.status is JobStatus.FAILED
    assert failed.last_error is not None
    assert "payload.number" in failed.last_error
    assert calls == [], "the handler never sees a payload its model rejects"


async def test_every_kind_the_controllers_enqueue_has_a_builtin_handler() -> None:
    async def act(*_args: Any) -> None:
        return None

    registry = JobRegistry()
    register_builtin(
        registry,
        BotActions(
            unban=act,
            end_timeout=act,
            unjail=act,
            deliver_reminder=act,
            end_afk=act,
            post_feed_item=act,
            close_ticket=act,
            end_poll=act,
            end_lockdown=act,
        ),
    )

    assert sorted(kind.name for kind in BUILTIN_KINDS) == registry.kinds
    for kind in BUILTIN_KINDS:
        registration = registry.get(kind.name)
        assert registration is not None
        assert registration.payload is kind.payload, f"{kind.name} is run with the model it is enqueued with"
    assert {CaseType.TEMPBAN, CaseType.TIMEOUT, CaseType.JAIL} == {
        case_type for case_type in CaseType if f"{case_type.value.lower()}_expiry" in registry.kinds
    }


async def test_a_cancelled_reminder_is_never_delivered(jobs_db: MakeDatabase) -> None:
    db = await jobs_db()
    delivered: list[int] = []

    async def deliver(reminder: Any, _attempt: int) -> None:
        delivered.append(reminder.reminder_id)

    registry = JobRegistry()
    register_builtin(registry, BotActions(deliver_reminder=deliver))
    due = utcnow() + timedelta(milliseconds=500)
    kept = await db.reminders.create(user(1), content="kept", remind_at=due)
    dropped = await db.reminders.create(user(2), content="dropped", remind_at=due)
    await db.reminders.cancel(dropped.reminder_id, user_id=user(2))

    async with running(db, registry):
        await eventually(lambda: _sent(db, kept.reminder_id))
        await asyncio.sleep(0.5)

    assert delivered == [kept.reminder_id]


async def _sent(db: Database, reminder_id: int) -> bool:
    reminder = await db.reminders.get(reminder_id)
    return reminder is not None and reminder.sent_at is not None
