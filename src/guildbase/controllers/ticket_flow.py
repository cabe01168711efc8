"""Ticket management (R12.2): claims, renames, participants, close requests, close, reopen, feedback.

Every method locks the ticket (``FOR UPDATE``), checks the move against the
state machine (``models.tickets.TRANSITIONS``; an illegal one raises
``TicketStateError`` naming both statuses), writes the change, its
``ticket_event`` row, its audit row and its rollup increments in the same
transaction. Timed work commits with the ticket: a close request enqueues its
scheduled close (``TICKET_SCHEDULED_CLOSE``), any activity reschedules the
inactivity close (``TICKET_AUTOCLOSE``), and closing cancels both. The job
handlers call the ``…_in`` methods, which re-check the ticket under its lock,
so a close request answered a moment before its job runs is not closed.
"""

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from guildbase.controllers.base import Controller
from guildbase.controllers.ticket_common import (
    add_event,
    bump_daily,
    bump_duration,
    check_move,
    database_now,
    load_panel,
    locked_ticket,
    staff_of,
)
from guildbase.db.audit import record_audit
from guildbase.db.context import current_actor
from guildbase.db.validation import (
    duration,
    integer,
    optional_text,
    positive,
    snowflake,
    text,
    unit_of_work,
)
from guildbase.errors import ConflictError, PermissionDeniedError
from guildbase.models.audit import AuditAction, AuditEntity
from guildbase.models.core import REASON_MAX_LENGTH
from guildbase.models.jobs import JobKind
from guildbase.models.tickets import (
    COMMENT_MAX_LENGTH,
    MAX_CLOSE_DELAY,
    MAX_STARS,
    MIN_STARS,
    SUBJECT_MAX_LENGTH,
    TICKET_AUTOCLOSE,
    TICKET_SCHEDULED_CLOSE,
    DurationMetric,
    Ticket,
    TicketClosePayload,
    TicketEventKind,
    TicketPanel,
    TicketParticipant,
    TicketRead,
    TicketStatus,
)

__all__ = ["TicketFlow"]

_AUDITED = ("status", "claimed_by", "assignee_id", "subject", "close_reason", "closed_by", "rating")
NO_REPLY = "no reply to the close request"
IDLE = "inactive"
LEFT = "the opener left the server"


def _key(ticket: TicketRead) -> str:
    return str(ticket.ticket_id)


async def _move(session: AsyncSession, ticket: TicketRead, values: dict[str, Any]) -> TicketRead:
    """Write ``values`` to the (locked) ticket and read it back."""
    row = (
        (
            await session.execute(
                update(Ticket)
                .where(col(Ticket.ticket_id) == ticket.ticket_id)
                .values(**values)
                .returning(*Ticket.__table__.c)  # type: ignore[attr-defined]
            )
        )
        .mappings()
        .one()
    )
    return TicketRead.model_validate(dict(row))


async def _audit(
    session: AsyncSession, action: AuditAction, before: TicketRead, after: TicketRead, reason: str | None = None
) -> None:
    await record_audit(
        session,
        action,
        AuditEntity.TICKET,
        before.ticket_id,
        guild_id=before.guild_id,
        before=before.model_dump(include=set(_AUDITED)),
        after=after.model_dump(include=set(_AUDITED)),
        reason=reason,
    )


class TicketFlow(Controller):
    """The state-changing half of ``db.tickets`` (mixed into ``TicketController``)."""

    async def _schedule_idle(self, session: AsyncSession, ticket: TicketRead, since: datetime) -> None:
        """(Re)start the inactivity clock of a ticket whose panel closes idle tickets."""
        panel = await load_panel(session, ticket.guild_id, ticket.panel_id)
        await self._db.jobs.cancel_in(session, TICKET_AUTOCLOSE, _key(ticket))
        if panel.inactivity_seconds is None or ticket.status is TicketStatus.CLOSED:
            return
        await self._db.jobs.enqueue_in(
            session,
            TICKET_AUTOCLOSE,
            run_at=since + timedelta(seconds=panel.inactivity_seconds),
            payload=TicketClosePayload(guild_id=ticket.guild_id, number=ticket.number),
            dedupe_key=_key(ticket),
            guild_id=ticket.guild_id,
        )

    async def set_channel(self, guild_id: int, number: int, channel_id: int) -> TicketRead:
        """Record the channel or thread the bot made for the ticket; starts its inactivity clock."""
        guild_id, number = snowflake("guild_id", guild_id), positive("number", number)
        channel_id = snowflake("channel_id", channel_id)
        async with self._write() as session:
            ticket = await locked_ticket(session, guild_id, number)
            if ticket.channel_id == channel_id:
                return ticket
            moved = await _move(session, ticket, {"channel_id": channel_id})
            await self._schedule_idle(session, moved, await database_now(session))
            return moved

    async def claim(self, guild_id: int, number: int, staff_id: int) -> TicketRead:
        """``staff_id`` takes the ticket (claimer and assignee); claiming one's own claim again changes nothing."""
        guild_id, number, staff_id = (
            snowflake("guild_id", guild_id),
            positive("number", number),
            snowflake("staff_id", staff_id),
        )
        async with self._write() as session:
            ticket = await locked_ticket(session, guild_id, number)
            if ticket.claimed_by == staff_id and ticket.status is TicketStatus.CLAIMED:
                return ticket
            if ticket.claimed_by is not None and ticket.status is TicketStatus.CLAIMED:
                msg = f"staff_id: ticket #{number} is claimed by {ticket.claimed_by}; transfer it instead"
                raise ConflictError(msg)
            check_move(ticket, TicketStatus.CLAIMED)
            values = {"status": TicketStatus.CLAIMED, "claimed_by": staff_id, "assignee_id": staff_id}
            if ticket.status is TicketStatus.PENDING:  # claiming answers a pending close request
                values |= {"close_requested_at": None, "close_requested_by": None, "close_at": None}
                await self._db.jobs.cancel_in(session, TICKET_SCHEDULED_CLOSE, _key(ticket))
            moved = await _move(session, ticket, values)
            await add_event(session, moved, TicketEventKind.CLAIMED, {"staff_id": staff_id}, actor_id=staff_id)
            await _audit(session, AuditAction.TICKET_CHANGE, ticket, moved)
            return moved

    async def unclaim(self, guild_id: int, number: int) -> TicketRead:
        """Give a claimed ticket back to the panel's staff (open, nobody assigned)."""
        guild_id, number = snowflake("guild_id", guild_id), positive("number", number)
        async with self._write() as session:
            ticket = await locked_ticket(session, guild_id, number)
            if ticket.status is not TicketStatus.CLAIMED:
                msg = f"status: ticket #{number} is {ticket.status.value}; only a claimed ticket can be unclaimed"
                raise ConflictError(msg)
            moved = await _move(session, ticket, {"status": TicketStatus.OPEN, "claimed_by": None, "assignee_id": None})
            await add_event(session, moved, TicketEventKind.UNCLAIMED, {"staff_id": ticket.claimed_by})
            await _audit(session, AuditAction.TICKET_CHANGE, ticket, moved)
            return moved

    async def transfer(self, guild_id: int, number: int, staff_id: int) -> TicketRead:
        """Hand a claimed ticket to another staff member (claimed → claimed)."""
        guild_id, number, staff_id = (
            snowflake("guild_id", guild_id),
            positive("number", number),
            snowflake("staff_id", staff_id),
        )
        async with self._write() as session:
            ticket = await locked_ticket(session, guild_id, number)
            if ticket.status is not TicketStatus.CLAIMED:
                msg = f"status: ticket #{number} is {ticket.status.value}; only a claimed ticket can be transferred"
                raise ConflictError(msg)
            if ticket.claimed_by == staff_id:
                return ticket
            moved = await _move(session, ticket, {"claimed_by": staff_id, "assignee_id": staff_id})
            await add_event(session, moved, TicketEventKind.TRANSFERRED, {"from": ticket.claimed_by, "to": staff_id})
            await _audit(session, AuditAction.TICKET_CHANGE, ticket, moved)
            return moved

    async def rename(self, guild_id: int, number: int, subject: str) -> TicketRead:
        """Change the ticket's subject (the cog renames its channel to match)."""
        guild_id, number = snowflake("guild_id", guild_id), positive("number", number)
        subject = text("subject", subject, min_length=1, max_length=SUBJECT_MAX_LENGTH)
        async with self._write() as session:
            ticket = await locked_ticket(session, guild_id, number)
            if ticket.subject == subject:
                return ticket
            moved = await _move(session, ticket, {"subject": subject})
            await add_event(session, moved, TicketEventKind.RENAMED, {"from": ticket.subject, "to": subject})
            await _audit(session, AuditAction.TICKET_CHANGE, ticket, moved)
            return moved

    async def add_participant(self, guild_id: int, number: int, user_id: int) -> bool:
        """Let ``user_id`` see and answer the ticket; False when they were already in."""
        guild_id, number, user_id = (
            snowflake("guild_id", guild_id),
            positive("number", number),
            snowflake("user_id", user_id),
        )
        async with self._write() as session:
            ticket = await locked_ticket(session, guild_id, number)
            added = await session.execute(
                insert(TicketParticipant)
                .values(ticket_id=ticket.ticket_id, user_id=user_id, guild_id=ticket.guild_id, added_by=current_actor())
                .on_conflict_do_nothing()
            )
            if not added.rowcount:  # type: ignore[attr-defined]
                return False
            await add_event(session, ticket, TicketEventKind.PARTICIPANT_ADDED, {"user_id": user_id})
            await record_audit(
                session,
                AuditAction.TICKET_CHANGE,
                AuditEntity.TICKET,
                ticket.ticket_id,
                guild_id=guild_id,
                after={"participant_added": user_id},
            )
            return True

    async def remove_participant(self, guild_id: int, number: int, user_id: int) -> bool:
        """Take ``user_id`` off the ticket; False when they were not on it."""
        guild_id, number, user_id = (
            snowflake("guild_id", guild_id),
            positive("number", number),
            snowflake("user_id", user_id),
        )
        async with self._write() as session:
            ticket = await locked_ticket(session, guild_id, number)
            removed = await session.execute(
                delete(TicketParticipant).where(
                    col(TicketParticipant.ticket_id) == ticket.ticket_id, col(TicketParticipant.user_id) == user_id
                )
            )
            if not removed.rowcount:  # type: ignore[attr-defined]
                return False
            await add_event(session, ticket, TicketEventKind.PARTICIPANT_REMOVED, {"user_id": user_id})
            await record_audit(
                session,
                AuditAction.TICKET_CHANGE,
                AuditEntity.TICKET,
                ticket.ticket_id,
                guild_id=guild_id,
                before={"participant_removed": user_id},
            )
            return True

    async def request_close(
        self, guild_id: int, number: int, *, reason: str | None = None, delay: timedelta | None = None
    ) -> TicketRead:
        """Ask the opener whether the ticket can close: pending, closed by a job after ``delay`` unless they answer.

        ``delay`` defaults to the panel's ``close_delay_seconds``. The opener's
        next message (``record_message``) or ``cancel_close_request`` cancels it.
        """
        guild_id, number = snowflake("guild_id", guild_id), positive("number", number)
        reason = optional_text("reason", reason, max_length=REASON_MAX_LENGTH)
        wait = None if delay is None else duration("delay", delay, minimum=timedelta(seconds=1))
        if wait is not None and wait > MAX_CLOSE_DELAY:
            wait = MAX_CLOSE_DELAY
        async with self._write() as session:
            ticket = await locked_ticket(session, guild_id, number)
            check_move(ticket, TicketStatus.PENDING)
            panel = await load_panel(session, guild_id, ticket.panel_id)
            now = await database_now(session)
            close_at = now + (wait or timedelta(seconds=panel.close_delay_seconds))
            moved = await _move(
                session,
                ticket,
                {
                    "status": TicketStatus.PENDING,
                    "close_requested_at": now,
                    "close_requested_by": current_actor(),
                    "close_at": close_at,
                    "close_reason": reason,
                },
            )
            await self._db.jobs.enqueue_in(
                session,
                TICKET_SCHEDULED_CLOSE,
                run_at=close_at,
                payload=TicketClosePayload(guild_id=guild_id, number=number),
                dedupe_key=_key(ticket),
                guild_id=guild_id,
            )
            await add_event(session, moved, TicketEventKind.CLOSE_REQUESTED, {"close_at": close_at, "reason": reason})
            await _audit(session, AuditAction.TICKET_CHANGE, ticket, moved, reason)
            return moved

    async def cancel_close_request(self, guild_id: int, number: int) -> TicketRead:
        """Withdraw a pending close request: the ticket goes back to claimed (if held) or open."""
        guild_id, number = snowflake("guild_id", guild_id), positive("number", number)
        async with self._write() as session:
            ticket = await locked_ticket(session, guild_id, number)
            if ticket.status is not TicketStatus.PENDING:
                msg = f"status: ticket #{number} is {ticket.status.value}; it has no close request to cancel"
                raise ConflictError(msg)
            return await self._cancel_request_in(session, ticket)

    async def _cancel_request_in(self, session: AsyncSession, ticket: TicketRead) -> TicketRead:
        back = TicketStatus.CLAIMED if ticket.claimed_by is not None else TicketStatus.OPEN
        check_move(ticket, back)
        moved = await _move(
            session,
            ticket,
            {
                "status": back,
                "close_requested_at": None,
                "close_requested_by": None,
                "close_at": None,
                "close_reason": None,
            },
        )
        await self._db.jobs.cancel_in(session, TICKET_SCHEDULED_CLOSE, _key(ticket))
        await add_event(session, moved, TicketEventKind.CLOSE_CANCELLED, {"status": back.value})
        await _audit(session, AuditAction.TICKET_CHANGE, ticket, moved)
        return moved

    async def close(self, guild_id: int, number: int, *, reason: str | None = None) -> TicketRead:
        """Close the ticket now (the acting user closes it); its scheduled and idle closes are cancelled."""
        guild_id, number = snowflake("guild_id", guild_id), positive("number", number)
        reason = optional_text("reason", reason, max_length=REASON_MAX_LENGTH)
        async with self._write() as session:
            ticket = await locked_ticket(session, guild_id, number)
            return await self._close_locked(session, ticket, reason, running=None)

    async def _close_locked(
        self, session: AsyncSession, ticket: TicketRead, reason: str | None, *, running: JobKind[Any] | None
    ) -> TicketRead:
        """Close a locked ticket: row, trail, audit, rollups; cancels the timed closes except the one running."""
        check_move(ticket, TicketStatus.CLOSED)
        moved = await _move(
            session,
            ticket,
            {
                "status": TicketStatus.CLOSED,
                "closed_at": func.now(),
                "closed_by": current_actor(),
                "close_reason": reason or ticket.close_reason,
                "close_at": None,
            },
        )
        for kind in (TICKET_SCHEDULED_CLOSE, TICKET_AUTOCLOSE):
            if kind is not running:
                await self._db.jobs.cancel_in(session, kind, _key(ticket))
        counts = {"messages": moved.message_count, "staff_messages": moved.staff_message_count}
        await add_event(session, moved, TicketEventKind.CLOSED, {"reason": moved.close_reason, **counts})
        await _audit(session, AuditAction.TICKET_CLOSE, ticket, moved, moved.close_reason)
        staff = staff_of(moved)
        await bump_daily(session, moved, staff, closed=1)
        assert moved.closed_at is not None  # noqa: S101 - just set
        await bump_duration(session, moved, DurationMetric.RESOLUTION, start=moved.opened_at, end=moved.closed_at)
        return moved

    async def reopen(self, guild_id: int, number: int) -> TicketRead:
        """Open a closed ticket again (unclaimed; its rating, if any, stays: feedback is once per ticket)."""
        guild_id, number = snowflake("guild_id", guild_id), positive("number", number)
        async with self._write() as session:
            ticket = await locked_ticket(session, guild_id, number)
            check_move(ticket, TicketStatus.OPEN)
            if ticket.status is not TicketStatus.CLOSED:
                msg = f"status: ticket #{number} is {ticket.status.value}; only a closed ticket can be reopened"
                raise ConflictError(msg)
            moved = await _move(
                session,
                ticket,
                {
                    "status": TicketStatus.OPEN,
                    "closed_at": None,
                    "closed_by": None,
                    "close_reason": None,
                    "close_requested_at": None,
                    "close_requested_by": None,
                    "claimed_by": None,
                    "assignee_id": None,
                },
            )
            await add_event(session, moved, TicketEventKind.REOPENED, {"closed_by": ticket.closed_by})
            await _audit(session, AuditAction.TICKET_REOPEN, ticket, moved)
            await bump_daily(session, moved, 0, reopened=1)
            await self._schedule_idle(session, moved, await database_now(session))
            return moved

    async def rate(
        self, guild_id: int, number: int, user_id: int, stars: int, *, comment: str | None = None
    ) -> TicketRead:
        """The opener's feedback on a closed ticket: 1-5 stars and a comment, once per ticket."""
        guild_id, number, user_id = (
            snowflake("guild_id", guild_id),
            positive("number", number),
            snowflake("user_id", user_id),
        )
        stars = integer("stars", stars, minimum=MIN_STARS, maximum=MAX_STARS)
        comment = optional_text("comment", comment, max_length=COMMENT_MAX_LENGTH)
        async with self._write() as session:
            ticket = await locked_ticket(session, guild_id, number)
            if user_id != ticket.opener_id:
                msg = f"user_id: only the opener of ticket #{number} may rate it"
                raise PermissionDeniedError(msg)
            if ticket.status is not TicketStatus.CLOSED:
                msg = f"status: ticket #{number} is {ticket.status.value}; a ticket is rated once closed"
                raise ConflictError(msg)
            if ticket.rating is not None:
                msg = f"stars: ticket #{number} was already rated ({ticket.rating}); feedback is once per ticket"
                raise ConflictError(msg)
            moved = await _move(session, ticket, {"rating": stars, "rating_comment": comment, "rated_at": func.now()})
            await add_event(session, moved, TicketEventKind.RATED, {"stars": stars}, actor_id=user_id)
            await _audit(session, AuditAction.TICKET_RATE, ticket, moved)
            await bump_daily(session, moved, staff_of(moved), ratings=1, rating_sum=stars)
            return moved

    # -- what the jobs and the member-left listener run ----------------------------------------
    async def close_scheduled_in(self, session: AsyncSession, guild_id: int, number: int) -> TicketRead | None:
        """The scheduled close of a close request: closes it if still pending and due; None otherwise."""
        session = unit_of_work(session)
        guild_id, number = snowflake("guild_id", guild_id), positive("number", number)
        ticket = await locked_ticket(session, guild_id, number)
        now = await database_now(session)
        if ticket.status is not TicketStatus.PENDING or ticket.close_at is None or ticket.close_at > now:
            return None
        return await self._close_locked(
            session, ticket, ticket.close_reason or NO_REPLY, running=TICKET_SCHEDULED_CLOSE
        )

    async def close_idle_in(self, session: AsyncSession, guild_id: int, number: int) -> TicketRead | None:
        """The inactivity close: closes the ticket if nothing happened for its panel's idle time; None otherwise."""
        session = unit_of_work(session)
        guild_id, number = snowflake("guild_id", guild_id), positive("number", number)
        ticket = await locked_ticket(session, guild_id, number)
        panel = await load_panel(session, guild_id, ticket.panel_id)
        if ticket.status is TicketStatus.CLOSED or panel.inactivity_seconds is None:
            return None
        last = ticket.last_message_at or ticket.opened_at
        if last + timedelta(seconds=panel.inactivity_seconds) > await database_now(session):
            return None
        return await self._close_locked(session, ticket, IDLE, running=TICKET_AUTOCLOSE)

    async def opener_left(self, guild_id: int, user_id: int) -> list[TicketRead]:
        """Close the tickets ``user_id`` opened from panels that close when the opener leaves."""
        guild_id, user_id = snowflake("guild_id", guild_id), snowflake("user_id", user_id)
        async with self._write() as session:
            numbers = (
                await session.execute(
                    select(col(Ticket.number))
                    .join(TicketPanel, col(TicketPanel.panel_id) == col(Ticket.panel_id))
                    .where(
                        col(Ticket.guild_id) == guild_id,
                        col(Ticket.opener_id) == user_id,
                        col(Ticket.status) != TicketStatus.CLOSED,
                        col(TicketPanel.close_on_leave).is_(True),
                    )
                    .order_by(col(Ticket.number))
                )
            ).scalars()
            closed = []
            for number in list(numbers):
                ticket = await locked_ticket(session, guild_id, number)
                if ticket.status is not TicketStatus.CLOSED:
                    closed.append(await self._close_locked(session, ticket, LEFT, running=None))
            return closed
