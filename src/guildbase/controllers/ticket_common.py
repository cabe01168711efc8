"""What every ticket write shares: the locked read, the state machine check, the trail, the rollups.

Each helper runs on the caller's session, so a ticket change, its
``ticket_event`` row, its ``audit_log`` row and its rollup increments commit
together or not at all. Rollups are ``INSERT … ON CONFLICT DO UPDATE`` with
the increment in SQL, so concurrent writers add up instead of overwriting.
"""

from datetime import datetime
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy import func, insert, literal_column, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from guildbase.db.context import current_actor
from guildbase.errors import ConflictError, NotFoundError
from guildbase.models.ticket_records import TicketEvent
from guildbase.models.ticket_stats import TicketDaily, TicketDailyDuration
from guildbase.models.tickets import (
    TRANSITIONS,
    DurationMetric,
    Ticket,
    TicketEventKind,
    TicketPanel,
    TicketPanelRead,
    TicketRead,
    TicketStatus,
    bucket_of,
)

__all__ = [
    "TicketStateError",
    "add_event",
    "bump_daily",
    "bump_duration",
    "check_move",
    "load_panel",
    "locked_ticket",
    "staff_of",
]

UTC_DAY = text("(now() AT TIME ZONE 'UTC')::date")


class TicketStateError(ConflictError):
    """An illegal status transition, named: ``status: ticket #3 is closed; it cannot become claimed``."""

    def __init__(self, number: int, current: TicketStatus, target: TicketStatus) -> None:
        self.number, self.current, self.target = number, current, target
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "nothing"
        super().__init__(
            f"status: ticket #{number} is {current.value}; it cannot become {target.value} (from {current.value}: "
            f"{allowed})"
        )


def check_move(ticket: TicketRead, target: TicketStatus) -> None:
    """Refuse, by name, a move the state machine does not allow."""
    if target not in TRANSITIONS[ticket.status]:
        raise TicketStateError(ticket.number, ticket.status, target)


async def locked_ticket(session: AsyncSession, guild_id: int, number: int) -> TicketRead:
    """Ticket ``number`` of the guild, locked until the caller's transaction ends."""
    row = (
        (
            await session.execute(
                select(Ticket.__table__)  # type: ignore[attr-defined]
                .where(col(Ticket.guild_id) == guild_id, col(Ticket.number) == number)
                .with_for_update()
            )
        )
        .mappings()
        .one_or_none()
    )
    if row is None:
        msg = f"number: guild {guild_id} has no ticket #{number}"
        raise NotFoundError(msg)
    return TicketRead.model_validate(dict(row))


async def load_panel(session: AsyncSession, guild_id: int, panel_id: int) -> TicketPanelRead:
    """The panel, or ``NotFoundError`` naming ``panel_id``."""
    row = (
        (
            await session.execute(
                select(TicketPanel.__table__).where(  # type: ignore[attr-defined]
                    col(TicketPanel.guild_id) == guild_id, col(TicketPanel.panel_id) == panel_id
                )
            )
        )
        .mappings()
        .one_or_none()
    )
    if row is None:
        msg = f"panel_id: guild {guild_id} has no ticket panel {panel_id}"
        raise NotFoundError(msg)
    return TicketPanelRead.model_validate(dict(row))


def staff_of(ticket: TicketRead) -> int:
    """Who a ticket's closing and rating count for in the rollups (0: no staff member)."""
    return ticket.claimed_by or ticket.closed_by or 0


async def add_event(
    session: AsyncSession,
    ticket: TicketRead,
    kind: TicketEventKind,
    details: dict[str, Any] | None = None,
    *,
    actor_id: int | None = None,
) -> None:
    """One ``ticket_event`` row; the actor defaults to the acting user."""
    await session.execute(
        insert(TicketEvent).values(
            ticket_id=ticket.ticket_id,
            guild_id=ticket.guild_id,
            kind=kind,
            actor_id=current_actor() if actor_id is None else actor_id,
            details=to_jsonable_python(details or {}),
        )
    )


async def bump_daily(session: AsyncSession, ticket: TicketRead, staff_id: int, **increments: int) -> None:
    """Add ``increments`` (``opened=1``, ``rating_sum=4`` …) to today's rollup row of the ticket's panel."""
    stmt = pg_insert(TicketDaily).values(
        guild_id=ticket.guild_id, day=UTC_DAY, panel_id=ticket.panel_id, staff_id=staff_id, **increments
    )
    table = TicketDaily.__table__  # type: ignore[attr-defined]
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["guild_id", "day", "panel_id", "staff_id"],
            set_={name: table.c[name] + stmt.excluded[name] for name in increments},
        )
    )


async def bump_duration(
    session: AsyncSession, ticket: TicketRead, metric: DurationMetric, *, start: datetime, end: datetime
) -> None:
    """Count one duration (``end - start``) in today's histogram bucket."""
    bucket = bucket_of((end - start).total_seconds())
    stmt = pg_insert(TicketDailyDuration).values(
        guild_id=ticket.guild_id,
        day=UTC_DAY,
        panel_id=ticket.panel_id,
        metric=metric,
        bucket=bucket,
        count=1,
    )
    table = TicketDailyDuration.__table__  # type: ignore[attr-defined]
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["guild_id", "day", "panel_id", "metric", "bucket"],
            set_={"count": table.c.count + literal_column("1")},
        )
    )


async def database_now(session: AsyncSession) -> datetime:
    """The transaction's ``now()`` (what every timestamp column of the same write holds)."""
    return (await session.execute(select(func.now()))).scalar_one()
