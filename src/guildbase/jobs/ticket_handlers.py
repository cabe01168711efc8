"""Ticket timed work: the scheduled close of an unanswered close request, and the inactivity close.

Both re-check the ticket under its lock in the transaction that marks the job
done (``close_scheduled_in`` / ``close_idle_in``), so a close request the
opener answered, or a ticket that saw a message, a moment before the job ran
is left open. The Discord side (post the transcript, archive the thread) runs
once that transaction committed, with the closed ticket; a Discord failure
there is logged, not retried: the ticket is closed either way, and the
transcript stays exportable.
"""

import logging
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from guildbase.jobs.registry import JobContext
from guildbase.models.tickets import TicketClosePayload, TicketRead

TicketCloseAction = Callable[[TicketRead, int], Awaitable[object]]
log = logging.getLogger("guildbase.jobs")


async def _close(ctx: JobContext, payload: TicketClosePayload, *, idle: bool, action: TicketCloseAction) -> None:
    closed: list[TicketRead] = []

    async def write(session: AsyncSession) -> None:
        tickets = ctx.db.tickets
        method = tickets.close_idle_in if idle else tickets.close_scheduled_in
        ticket = await method(session, payload.guild_id, payload.number)
        if ticket is not None:
            closed.append(ticket)

    async def after() -> None:
        for ticket in closed:
            try:
                await action(ticket, ctx.attempt)
            except Exception:
                log.exception("ticket #%s in %s closed; its Discord follow-up failed", ticket.number, ticket.guild_id)

    ctx.then(write)
    ctx.on_commit(after)


async def scheduled_close(ctx: JobContext, payload: TicketClosePayload, *, action: TicketCloseAction) -> None:
    """Close a ticket whose close request went unanswered."""
    await _close(ctx, payload, idle=False, action=action)


async def idle_close(ctx: JobContext, payload: TicketClosePayload, *, action: TicketCloseAction) -> None:
    """Close a ticket idle for its panel's inactivity time."""
    await _close(ctx, payload, idle=True, action=action)
