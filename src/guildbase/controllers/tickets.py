"""Tickets (R12): panels, opening, reads and access; the rest of the domain is mixed in from its modules.

``db.tickets`` is one controller assembled from one module per job:
``ticket_flow`` (claims, participants, close requests, close, reopen,
feedback, the job handlers' closes), ``ticket_transcripts`` (archived
messages, first response, exports) and ``ticket_metrics`` (the daily rollups
and their report). This module holds the panels, ``open`` and ``can``.

``open`` is the benchmarked hot path (W16): on the pool's asyncpg connection,
in one transaction, four prepared statements: a per-opener advisory lock (so
two clicks of one member cannot both pass the open limit), the guard (panel,
open count, last open), the numbered insert with its audit row (one
statement, ``audited_insert``), and the ``opened`` event with today's rollup
increment (one statement). ``bench/tickets.py`` runs the same four SQL texts
on raw asyncpg for the ratio.
"""

import json
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col

from guildbase.controllers.features import gated
from guildbase.controllers.ticket_access import allowed, roles_of
from guildbase.controllers.ticket_common import add_event, load_panel
from guildbase.controllers.ticket_metrics import TicketMetricsReport
from guildbase.controllers.ticket_transcripts import TicketTranscripts
from guildbase.db.audit import audited_insert, locked_values, record_audit
from guildbase.db.context import current_actor
from guildbase.db.fast import translating
from guildbase.db.mixins import actor_columns
from guildbase.db.numbering import numbered_insert
from guildbase.db.rows import read_all
from guildbase.db.validation import (
    changes_of,
    flag,
    instance,
    mapping,
    optional_positive,
    optional_snowflake,
    optional_text,
    page_limit,
    positive,
    snowflake,
    snowflakes,
    text,
    validate,
    validate_enum,
)
from guildbase.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from guildbase.models.audit import AuditAction, AuditEntity
from guildbase.models.core import CounterKind, Feature
from guildbase.models.ticket_records import TicketEvent, TicketEventRead
from guildbase.models.tickets import (
    ANSWER_MAX_LENGTH,
    CLEARABLE,
    LABEL_MAX_LENGTH,
    MAX_ROLES,
    SUBJECT_MAX_LENGTH,
    Ticket,
    TicketAction,
    TicketEventKind,
    TicketPanel,
    TicketPanelRead,
    TicketPanelUpdate,
    TicketParticipant,
    TicketPriority,
    TicketRead,
    TicketStatus,
)

__all__ = ["GUARD_SQL", "LOCK_SQL", "OPEN_TICKET", "TRAIL_SQL", "TicketController", "open_lock_key"]

CREATE_TICKET = numbered_insert(Ticket, CounterKind.TICKET)
OPEN_TICKET = audited_insert(
    CREATE_TICKET,
    AuditAction.TICKET_OPEN,
    AuditEntity.TICKET,
    "ticket_id",
    ("number", "panel_id", "opener_id", "subject", "priority", "status"),
)
LOCK_SQL = "SELECT pg_advisory_xact_lock($1)"
GUARD_SQL = """SELECT p.is_active, p.required_role_ids, p.open_limit, p.cooldown_seconds, p.questions,
  (SELECT count(*) FROM ticket t WHERE t.guild_id = p.guild_id AND t.opener_id = $3 AND t.panel_id = p.panel_id
     AND t.status <> 'closed') AS open_count,
  (SELECT max(t.opened_at) FROM ticket t WHERE t.guild_id = p.guild_id AND t.opener_id = $3
     AND t.panel_id = p.panel_id) AS last_opened_at,
  now() AS now
FROM ticket_panel p WHERE p.guild_id = $1 AND p.panel_id = $2"""
TRAIL_SQL = """WITH event AS (
  INSERT INTO ticket_event (ticket_id, guild_id, kind, actor_id, details) VALUES ($1, $2, 'opened', $3, $4::jsonb)
)
INSERT INTO ticket_daily (guild_id, day, panel_id, staff_id, opened)
VALUES ($2, (now() AT TIME ZONE 'UTC')::date, $5, 0, 1)
ON CONFLICT (guild_id, day, panel_id, staff_id) DO UPDATE SET opened = ticket_daily.opened + 1"""
MAX_PANELS = 100
MAX_BROWSE = 100


def open_lock_key(guild_id: int, opener_id: int) -> int:
    """The advisory lock one opener's opens in one guild queue on (a collision only serialises two openers)."""
    return (guild_id ^ (opener_id * 31)) & (2**63 - 1)


def _panel_values(checked: TicketPanelUpdate, given: Mapping[str, Any]) -> dict[str, Any]:
    """The settings to write: given ones; None only for those an explicit None clears."""
    values = {}
    for name in given:
        value = getattr(checked, name)
        if value is None and name not in CLEARABLE:
            continue
        values[name] = value.model_dump() if name == "working_hours" and value is not None else value
    return values


class TicketController(TicketTranscripts, TicketMetricsReport):
    """``db.tickets``: panels, numbered tickets, their flow, trail, transcripts, metrics and access."""

    # -- panels ------------------------------------------------------------------------
    async def create_panel(
        self, guild_id: int, label: str, changes: TicketPanelUpdate | Mapping[str, Any] | None = None, /, **fields: Any
    ) -> TicketPanelRead:
        """A new panel called ``label`` with the given settings (``TicketPanelUpdate``'s fields)."""
        guild_id = snowflake("guild_id", guild_id)
        label = text("label", label, min_length=1, max_length=LABEL_MAX_LENGTH)
        given = changes_of(changes, TicketPanelUpdate) | fields
        given.pop("label", None)
        values = _panel_values(validate(TicketPanelUpdate, given), given)
        async with self._write() as session:
            row = (
                (
                    await session.execute(
                        insert(TicketPanel)
                        .values(guild_id=guild_id, label=label, **values, **actor_columns(TicketPanel, "insert"))
                        .returning(*TicketPanel.__table__.c)  # type: ignore[attr-defined]
                    )
                )
                .mappings()
                .one()
            )
            panel = TicketPanelRead.model_validate(dict(row))
            await record_audit(
                session,
                AuditAction.TICKET_PANEL,
                AuditEntity.TICKET_PANEL,
                panel.panel_id,
                guild_id=guild_id,
                after={"label": label, **values},
            )
        return panel

    async def update_panel(
        self,
        guild_id: int,
        panel_id: int,
        changes: TicketPanelUpdate | Mapping[str, Any] | None = None,
        /,
        **fields: Any,
    ) -> TicketPanelRead:
        """Change a panel's settings; None clears a clearable one (channels, inactivity, working hours)."""
        guild_id, panel_id = snowflake("guild_id", guild_id), positive("panel_id", panel_id)
        given = changes_of(changes, TicketPanelUpdate) | fields
        values = _panel_values(validate(TicketPanelUpdate, given), given)
        async with self._write() as session:
            before = await locked_values(session, TicketPanel, values, guild_id=guild_id, panel_id=panel_id)
            panel = await load_panel(session, guild_id, panel_id)  # NotFoundError names panel_id
            if not values:
                return panel
            await session.execute(
                update(TicketPanel)
                .where(col(TicketPanel.guild_id) == guild_id, col(TicketPanel.panel_id) == panel_id)
                .values(**values, **actor_columns(TicketPanel, "update"))
            )
            await record_audit(
                session,
                AuditAction.TICKET_PANEL,
                AuditEntity.TICKET_PANEL,
                panel_id,
                guild_id=guild_id,
                before=before,
                after=values,
            )
            return await load_panel(session, guild_id, panel_id)

    async def panel(self, guild_id: int, panel_id: int) -> TicketPanelRead:
        """One panel (``NotFoundError`` naming ``panel_id`` when the guild has none by that ID)."""
        guild_id, panel_id = snowflake("guild_id", guild_id), positive("panel_id", panel_id)
        async with self._write() as session:
            return await load_panel(session, guild_id, panel_id)

    async def panels(self, guild_id: int) -> list[TicketPanelRead]:
        """The guild's panels, oldest first."""
        guild_id = snowflake("guild_id", guild_id)
        async with self._write() as session:
            rows = await session.execute(
                select(TicketPanel.__table__)  # type: ignore[attr-defined]
                .where(col(TicketPanel.guild_id) == guild_id)
                .order_by(col(TicketPanel.panel_id))
                .limit(MAX_PANELS)
            )
            return read_all(TicketPanelRead, rows.mappings())

    # -- opening -------------------------------------------------------------------------
    @gated(Feature.TICKETS)
    async def open(
        self,
        guild_id: int,
        panel_id: int,
        opener_id: int,
        *,
        role_ids: Sequence[int] = (),
        subject: str | None = None,
        answers: Mapping[str, Any] | None = None,
        priority: TicketPriority | str = TicketPriority.NORMAL,
    ) -> TicketRead:
        """Open a ticket from a panel: the guild's next number, its row, its ``opened`` event, one transaction.

        Refused (nothing written) when the panel is inactive, the opener lacks
        its required roles (``role_ids`` are theirs), has ``open_limit``
        tickets open from it already, or opened one within its cooldown, and
        when ``answers`` name a question the panel does not ask.
        """
        guild_id, panel_id = snowflake("guild_id", guild_id), positive("panel_id", panel_id)
        opener_id = snowflake("opener_id", opener_id)
        roles = set(snowflakes("role_ids", role_ids, max_items=MAX_ROLES * 10))
        subject = optional_text("subject", subject, max_length=SUBJECT_MAX_LENGTH)
        given = {} if answers is None else mapping("answers", answers)
        replies = {str(q): text(f"answers.{q}", a, max_length=ANSWER_MAX_LENGTH) for q, a in given.items()}
        level = validate_enum("priority", TicketPriority, priority)
        async with self._db.hot_rows.admit(guild_id, CounterKind.TICKET), self._fast() as unit:
            connection = unit.connection
            with translating():
                await connection.execute(LOCK_SQL, open_lock_key(guild_id, opener_id))
                guard = await connection.fetchrow(GUARD_SQL, guild_id, panel_id, opener_id)
            self._check_guard(guard, guild_id, panel_id, roles, replies)
            values = {
                "guild_id": guild_id,
                "panel_id": panel_id,
                "opener_id": opener_id,
                "subject": subject,
                "priority": level,
                "answers": replies,
            }
            row = await OPEN_TICKET.fetchrow(connection, values)
            details = json.dumps({"panel_id": panel_id, "answers": len(replies)})
            actor = current_actor() or opener_id
            with translating():
                await connection.execute(TRAIL_SQL, row["ticket_id"], guild_id, actor, details, panel_id)
        return TicketRead.model_validate(row)

    @staticmethod
    def _check_guard(guard: Any, guild_id: int, panel_id: int, roles: set[int], replies: Mapping[str, str]) -> None:
        if guard is None:
            msg = f"panel_id: guild {guild_id} has no ticket panel {panel_id}"
            raise NotFoundError(msg)
        if not guard["is_active"]:
            msg = f"panel_id: panel {panel_id} is not taking tickets"
            raise ConflictError(msg)
        required = set(guard["required_role_ids"])
        if required and not required & roles:
            msg = f"role_ids: opening a ticket from panel {panel_id} needs one of the roles {sorted(required)}"
            raise PermissionDeniedError(msg)
        if guard["open_count"] >= guard["open_limit"]:
            msg = f"opener_id: already has {guard['open_count']} open ticket(s) here (limit {guard['open_limit']})"
            raise ConflictError(msg)
        last, cooldown = guard["last_opened_at"], timedelta(seconds=guard["cooldown_seconds"])
        if last is not None and cooldown and guard["now"] < last + cooldown:
            msg = f"opener_id: may open another ticket here at {(last + cooldown).isoformat()} (cooldown)"
            raise ConflictError(msg)
        unknown = sorted(set(replies) - set(guard["questions"]))
        if unknown:
            msg = f"answers: {unknown[0][:40]!r} is not one of the panel's questions"
            raise ValidationError.single("answers", "question", msg)

    # -- reads -----------------------------------------------------------------------------
    async def get(self, guild_id: int, number: int) -> TicketRead | None:
        """Ticket ``number`` of the guild, or None."""
        guild_id, number = snowflake("guild_id", guild_id), positive("number", number)
        async with self._write() as session:
            row = (
                (
                    await session.execute(
                        select(Ticket.__table__).where(  # type: ignore[attr-defined]
                            col(Ticket.guild_id) == guild_id, col(Ticket.number) == number
                        )
                    )
                )
                .mappings()
                .one_or_none()
            )
            return None if row is None else TicketRead.model_validate(dict(row))

    async def by_channel(self, channel_id: int) -> TicketRead | None:
        """The ticket living in a channel or thread, or None (how the cog recognises ticket channels).

        Channel IDs are unique across Discord; the database keeps them unique per guild (its unique keys
        contain ``guild_id``), so a channel found in two guilds' tickets, which Discord never hands out,
        answers with the newest.
        """
        channel_id = snowflake("channel_id", channel_id)
        async with self._write() as session:
            row = (
                (
                    await session.execute(
                        select(Ticket.__table__)  # type: ignore[attr-defined]
                        .where(col(Ticket.channel_id) == channel_id)
                        .order_by(col(Ticket.ticket_id).desc())
                        .limit(1)
                    )
                )
                .mappings()
                .one_or_none()
            )
            return None if row is None else TicketRead.model_validate(dict(row))

    async def list_open(self, guild_id: int, *, opener_id: int | None = None) -> list[TicketRead]:
        """The guild's tickets not closed (an opener's, when given), by number."""
        guild_id, opener_id = snowflake("guild_id", guild_id), optional_snowflake("opener_id", opener_id)
        stmt = select(Ticket.__table__).where(  # type: ignore[attr-defined]
            col(Ticket.guild_id) == guild_id, col(Ticket.status) != TicketStatus.CLOSED
        )
        if opener_id is not None:
            stmt = stmt.where(col(Ticket.opener_id) == opener_id)
        async with self._write() as session:
            rows = await session.execute(stmt.order_by(col(Ticket.number)).limit(1000))
            return read_all(TicketRead, rows.mappings())

    async def browse(
        self, guild_id: int, *, status: TicketStatus | str | None = None, limit: int = 50, before: int | None = None
    ) -> list[TicketRead]:
        """The guild's tickets newest first, of one status when given; ``before=page[-1].number`` pages on.

        One keyset query on the ``(guild_id, number)`` key, for the dashboard's
        list (``list_open`` is the bot's: every open ticket, oldest first).
        """
        guild_id = snowflake("guild_id", guild_id)
        wanted = None if status is None else validate_enum("status", TicketStatus, status)
        limit, before = page_limit(limit, MAX_BROWSE), optional_positive("before", before)
        stmt = select(Ticket.__table__).where(col(Ticket.guild_id) == guild_id)  # type: ignore[attr-defined]
        if wanted is not None:
            stmt = stmt.where(col(Ticket.status) == wanted)
        if before is not None:
            stmt = stmt.where(col(Ticket.number) < before)
        async with self._write() as session:
            rows = await session.execute(stmt.order_by(col(Ticket.number).desc()).limit(limit))
            return read_all(TicketRead, rows.mappings())

    async def events(self, guild_id: int, number: int) -> list[TicketEventRead]:
        """A ticket's trail, oldest first."""
        guild_id, number = snowflake("guild_id", guild_id), positive("number", number)
        async with self._write() as session:
            rows = await session.execute(
                select(TicketEvent.__table__)  # type: ignore[attr-defined]
                .join(Ticket, col(Ticket.ticket_id) == col(TicketEvent.ticket_id))
                .where(col(Ticket.guild_id) == guild_id, col(Ticket.number) == number)
                .order_by(col(TicketEvent.event_id))
            )
            return read_all(TicketEventRead, rows.mappings())

    async def participants(self, guild_id: int, number: int) -> list[int]:
        """The users added to a ticket, in the order they were added."""
        guild_id, number = snowflake("guild_id", guild_id), positive("number", number)
        async with self._write() as session:
            rows = await session.execute(
                select(col(TicketParticipant.user_id))
                .join(
                    Ticket,
                    and_(
                        col(Ticket.guild_id) == col(TicketParticipant.guild_id),
                        col(Ticket.ticket_id) == col(TicketParticipant.ticket_id),
                    ),
                )
                .where(col(Ticket.guild_id) == guild_id, col(Ticket.number) == number)
                .order_by(col(TicketParticipant.added_at), col(TicketParticipant.user_id))
            )
            return [int(user_id) for user_id in rows.scalars()]

    # -- access ------------------------------------------------------------------------------
    async def can(
        self,
        ticket: TicketRead,
        user_id: int,
        role_ids: Sequence[int],
        action: TicketAction | str,
        *,
        is_admin: bool = False,
    ) -> bool:
        """Whether ``user_id`` (holding ``role_ids``) may ``action`` the ticket (``ticket_access`` has the table).

        A refusal is logged: an ``access_denied`` event on the ticket, naming
        the user and the action.
        """
        ticket = instance("ticket", ticket, TicketRead)
        user_id = snowflake("user_id", user_id)
        roles = snowflakes("role_ids", role_ids, max_items=MAX_ROLES * 10)
        wanted = validate_enum("action", TicketAction, action)
        is_admin = flag("is_admin", is_admin)
        async with self._write() as session:
            panel = await load_panel(session, ticket.guild_id, ticket.panel_id)
            participant = await session.scalar(
                select(col(TicketParticipant.user_id)).where(
                    col(TicketParticipant.ticket_id) == ticket.ticket_id, col(TicketParticipant.user_id) == user_id
                )
            )
            held = roles_of(
                ticket,
                user_id,
                roles,
                staff_role_ids=panel.staff_role_ids,
                participant_ids=() if participant is None else (user_id,),
                is_admin=is_admin,
            )
            if allowed(ticket, held, wanted):
                return True
            await add_event(
                session,
                ticket,
                TicketEventKind.ACCESS_DENIED,
                {"action": wanted.value, "roles": sorted(held)},
                actor_id=user_id,
            )
            return False
