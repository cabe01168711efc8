"""Ticket timed work through the real runner: the inactivity close and the scheduled close of a close request."""

from collections.abc import Awaitable, Callable
from datetime import timedelta

from sqlalchemy import text
from support import eventually, finished, running

from guildbase import Database
from guildbase.jobs import BotActions, JobRegistry, register_builtin
from guildbase.models.jobs import JobStatus
from guildbase.models.tickets import TICKET_AUTOCLOSE, TICKET_SCHEDULED_CLOSE, TicketRead, TicketStatus
from guildbase.testing import ids

MakeDatabase = Callable[..., Awaitable[Database]]
BLOCK = ids.block()
GUILD = BLOCK + 1
OPENER = BLOCK + 101
CHANNEL = BLOCK + 401


async def _due_now(db: Database, kind: str, ticket: TicketRead) -> int:
    """Make the ticket's job of ``kind`` due now (as if its time had come); its ID."""
    async with db.session() as session:
        result = await session.execute(
            text("UPDATE job SET run_at = now() WHERE kind = :k AND dedupe_key = :d RETURNING job_id"),
            {"k": kind, "d": str(ticket.ticket_id)},
        )
        return int(result.scalar_one())


async def test_an_idle_ticket_is_closed_by_its_job_and_the_bot_told_once(jobs_db: MakeDatabase) -> None:
    db = await jobs_db()
    await db.guilds.join(GUILD)
    await db.guild_config.set_feature(GUILD, "tickets", enabled=True)
    panel = await db.tickets.create_panel(GUILD, "Support", inactivity_seconds=3600)
    ticket = await db.tickets.open(GUILD, panel.panel_id, OPENER)
    await db.tickets.set_channel(GUILD, ticket.number, CHANNEL)
    async with db.session() as session:  # the last activity was over an hour ago
        await session.execute(
            text("UPDATE ticket SET opened_at = now() - interval '2 hours' WHERE ticket_id = :t"),
            {"t": ticket.ticket_id},
        )
    job_id = await _due_now(db, TICKET_AUTOCLOSE.name, ticket)
    told: list[tuple[TicketRead, int]] = []

    async def close_ticket(closed: TicketRead, attempt: int) -> None:
        told.append((closed, attempt))

    registry = JobRegistry()
    register_builtin(registry, BotActions(close_ticket=close_ticket))
    async with running(db, registry):
        await eventually(lambda: finished(db, job_id))
        await eventually(lambda: _told(told))

    job = await db.jobs.get(job_id)
    assert job is not None
    assert job.status is JobStatus.DONE
    stored = await db.tickets.get(GUILD, ticket.number)
    assert stored is not None
    assert (stored.status, stored.close_reason) == (TicketStatus.CLOSED, "inactive")
    assert [(t.number, t.status, attempt) for t, attempt in told] == [(1, TicketStatus.CLOSED, 1)]


async def test_a_close_request_the_opener_answered_is_not_closed_by_its_job(jobs_db: MakeDatabase) -> None:
    db = await jobs_db()
    await db.guilds.join(GUILD)
    await db.guild_config.set_feature(GUILD, "tickets", enabled=True)
    panel = await db.tickets.create_panel(GUILD, "Support")
    ticket = await db.tickets.open(GUILD, panel.panel_id, OPENER)
    await db.tickets.set_channel(GUILD, ticket.number, CHANNEL)
    await db.tickets.request_close(GUILD, ticket.number, delay=timedelta(hours=1))
    job_id = await _due_now(db, TICKET_SCHEDULED_CLOSE.name, ticket)
    async with db.session() as session:  # the opener answered (close_at cleared) just as the job came due
        await session.execute(
            text("UPDATE ticket SET status = 'open', close_at = NULL WHERE ticket_id = :t"), {"t": ticket.ticket_id}
        )
    told: list[TicketRead] = []

    async def close_ticket(closed: TicketRead, _attempt: int) -> None:
        told.append(closed)

    registry = JobRegistry()
    register_builtin(registry, BotActions(close_ticket=close_ticket))
    async with running(db, registry):
        await eventually(lambda: finished(db, job_id))
    stored = await db.tickets.get(GUILD, ticket.number)
    assert stored is not None
    assert stored.status is TicketStatus.OPEN
    assert told == []


async def _told(told: list[tuple[TicketRead, int]]) -> bool:
    return bool(told)
