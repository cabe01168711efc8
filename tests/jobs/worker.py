"""Handlers for the multi-process tests, loaded by ``guildbase jobs run --handlers worker:register``.

Every call of a handler appends one line to this process's file in
``JOBS_TEST_CALLS_DIR`` (before any database write, so a duplicate call is
visible even when its transaction never commits). The generic kind's effect
is a row in ``test_job_effect`` written in the job's completion transaction.
With ``JOBS_TEST_MODE=hang`` the generic handler never returns (a worker to kill).
"""

import asyncio
import os
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from guildbase.jobs import BotActions, JobContext, JobRegistry, register_builtin
from guildbase.models.afk import AFKRead
from guildbase.models.moderation import CaseRead
from guildbase.models.reminders import ReminderRead

GENERIC = "test.generic"


def record(kind: str, ref: object, attempt: int) -> None:
    path = Path(os.environ["JOBS_TEST_CALLS_DIR"]) / f"calls-{os.getpid()}.log"
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(descriptor, f"{kind} {ref} {attempt} {os.getpid()}\n".encode())
    finally:
        os.close(descriptor)


async def generic(ctx: JobContext) -> None:
    record(GENERIC, ctx.job.job_id, ctx.attempt)
    if os.environ.get("JOBS_TEST_MODE") == "hang":
        await asyncio.sleep(3600)

    async def effect(session: AsyncSession) -> None:
        await session.execute(
            text("INSERT INTO test_job_effect (job_id, pid) VALUES (:job_id, :pid)"),
            {"job_id": ctx.job.job_id, "pid": os.getpid()},
        )

    ctx.then(effect)


async def unban(case: CaseRead, attempt: int) -> None:
    record("tempban_expiry", case.case_id, attempt)


async def end_timeout(case: CaseRead, attempt: int) -> None:
    record("timeout_expiry", case.case_id, attempt)


async def unjail(case: CaseRead, _roles: list[int], attempt: int) -> None:
    record("jail_expiry", case.case_id, attempt)


async def deliver(reminder: ReminderRead, attempt: int) -> None:
    record("reminder_delivery", reminder.reminder_id, attempt)


async def end_afk(afk: AFKRead, attempt: int) -> None:
    record("afk_expiry", f"{afk.guild_id}:{afk.user_id}", attempt)


def register(registry: JobRegistry) -> None:
    register_builtin(
        registry,
        BotActions(unban=unban, end_timeout=end_timeout, unjail=unjail, deliver_reminder=deliver, end_afk=end_afk),
    )
    registry.register(GENERIC, generic)
    # `guildbase jobs run` installs its signal handlers before it calls this: from here a SIGTERM is a clean stop.
    if calls := os.environ.get("JOBS_TEST_CALLS_DIR"):  # `jobs status --handlers` loads this too
        (Path(calls) / f"ready-{os.getpid()}").touch()
