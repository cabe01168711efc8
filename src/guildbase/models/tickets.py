"""Tickets domain (R12): panels, tickets, participants, the event trail, transcripts and daily rollups.

Design decisions (compared with TicketsBot's and discord-tickets' schemas):

- A **panel** (``ticket_panel``) is the whole configuration of one kind of
  ticket: where tickets go (``category_id`` for channel mode, ``channel_id`` for
  thread mode), how they are named (``naming_scheme`` with ``{number}`` and
  ``{user}``), who handles them (``staff_role_ids``; a "team" is a set of roles),
  who is pinged and who may open one (``required_role_ids``), the per-user
  ``open_limit`` and ``cooldown_seconds``, the questions asked at open (up to
  five: a Discord modal's limit), close confirmation, the transcript channel,
  auto-close on inactivity or when the opener leaves, and optional working hours.
- A **ticket** is numbered per guild by the one-statement counter
  (``CounterKind.TICKET``). ``status`` is a state machine (``TRANSITIONS``):
  open → claimed → pending → closed, and closed → open on reopen; every
  transition is one ``UPDATE … WHERE status IN (<allowed sources>)``, so two
  racing writers cannot both move it, and an illegal move is refused by name.
  ``pending`` means "a close was requested and waits on the opener".
- ``first_response_at`` is set once, in SQL (``COALESCE``), by the first staff
  message; ``message_count`` / ``staff_message_count`` are increments in SQL.
- The ticket row carries no ``created_by`` / ``updated_by``: every change is a
  ``ticket_event`` row naming its actor (and an ``audit_log`` row), so the
  trail, not a last-writer stamp, says who did what.
- ``ticket_message`` is the transcript: author ID, content, attachment URLs
  and every earlier version of an edited message (``edits``). Only IDs are
  stored (R10.3), and the rows go with the ticket (``ON DELETE CASCADE``) and
  with the guild, which is the erase policy for them.
- Metrics come from ``ticket_daily`` (counts per day, panel and staff member;
  ``staff_id`` 0 when no staff member is involved) and ``ticket_daily_duration``
  (a log-scale histogram of first-response and resolution times per day and
  panel), both kept by
  ``INSERT … ON CONFLICT DO UPDATE`` increments, so any period is a sum over
  at most days, panels and staff rows, whatever the number of tickets.
"""

import enum
import math
from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import BaseModel, field_validator
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    PrimaryKeyConstraint,
    SmallInteger,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlmodel import Field, SQLModel

from guildbase.db.crud import CRUDMixin
from guildbase.db.mixins import AuditMixin, TimestampMixin
from guildbase.db.types import READ_ONLY, Snowflake, UTCDateTimeType, any_case, orm_identity, pg_enum, snowflake_field
from guildbase.models.core import GUILD_FK, REASON_MAX_LENGTH
from guildbase.models.jobs import JobKind
from guildbase.privacy.policy import STAMPS, Erase, personal_data

MAX_QUESTIONS = 5  # a Discord modal holds at most five text inputs
QUESTION_MAX_LENGTH = 45  # a text input's label
ANSWER_MAX_LENGTH = 1000
SUBJECT_MAX_LENGTH = 100  # a channel or thread name
LABEL_MAX_LENGTH = 80  # a button label
SCHEME_MAX_LENGTH = 80
MAX_ROLES = 25
MAX_OPEN_LIMIT = 50
MAX_COOLDOWN = timedelta(days=30)
MAX_INACTIVITY = timedelta(days=90)
MAX_CLOSE_DELAY = timedelta(days=7)
DEFAULT_CLOSE_DELAY = timedelta(hours=24)
CONTENT_MAX_LENGTH = 4000
MAX_ATTACHMENTS = 10
URL_MAX_LENGTH = 1000
COMMENT_MAX_LENGTH = 1000
MIN_STARS, MAX_STARS = 1, 5
BUCKET_BASE = 1.25
"""Duration histogram buckets grow by 25 %: a median or p90 read from them is within ±12 % of the exact value
(for durations over a minute)."""
MAX_BUCKET = 120


class TicketMode(enum.StrEnum):
    """Where a ticket lives: a private thread under the panel's channel, or a channel in its category."""

    THREAD = "thread"
    CHANNEL = "channel"


class TicketStatus(enum.StrEnum):
    OPEN = "open"
    CLAIMED = "claimed"
    PENDING = "pending"
    CLOSED = "closed"


class TicketPriority(enum.StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class TicketEventKind(enum.StrEnum):
    """Every state change and interaction the trail records."""

    OPENED = "opened"
    CLAIMED = "claimed"
    UNCLAIMED = "unclaimed"
    TRANSFERRED = "transferred"
    RENAMED = "renamed"
    PARTICIPANT_ADDED = "participant_added"
    PARTICIPANT_REMOVED = "participant_removed"
    FIRST_RESPONSE = "first_response"
    CLOSE_REQUESTED = "close_requested"
    CLOSE_CANCELLED = "close_cancelled"
    CLOSED = "closed"
    REOPENED = "reopened"
    RATED = "rated"
    ACCESS_DENIED = "access_denied"


class TicketAction(enum.StrEnum):
    """What ``db.tickets.can`` answers for."""

    VIEW = "view"
    REPLY = "reply"
    CLAIM = "claim"
    CLOSE = "close"
    ADD_PARTICIPANT = "add-participant"
    RATE = "rate"


class DurationMetric(enum.StrEnum):
    FIRST_RESPONSE = "first_response"
    RESOLUTION = "resolution"


TRANSITIONS: dict[TicketStatus, frozenset[TicketStatus]] = {
    TicketStatus.OPEN: frozenset({TicketStatus.CLAIMED, TicketStatus.PENDING, TicketStatus.CLOSED}),
    TicketStatus.CLAIMED: frozenset(
        {TicketStatus.OPEN, TicketStatus.CLAIMED, TicketStatus.PENDING, TicketStatus.CLOSED}
    ),
    TicketStatus.PENDING: frozenset({TicketStatus.OPEN, TicketStatus.CLAIMED, TicketStatus.CLOSED}),
    TicketStatus.CLOSED: frozenset({TicketStatus.OPEN}),
}
"""Allowed moves (claimed → claimed is a transfer); anything else is an illegal transition."""


def sources(target: TicketStatus) -> list[TicketStatus]:
    """The statuses a ticket may move to ``target`` from."""
    return sorted(source for source, targets in TRANSITIONS.items() if target in targets)


def bucket_of(seconds: float) -> int:
    """The histogram bucket of a duration: ``floor(log_1.25(seconds + 1))``, capped."""
    return min(MAX_BUCKET, int(math.log(max(seconds, 0) + 1, BUCKET_BASE)))


def bucket_seconds(bucket: int) -> float:
    """A bucket's representative duration (its geometric middle), in seconds."""
    return float(BUCKET_BASE ** (bucket + 0.5) - 1)


class WorkingHours(BaseModel):
    """When staff answer: ``weekdays`` (0 = Monday) from ``start_hour`` to ``end_hour``, UTC offset in minutes."""

    model_config = {"extra": "forbid", "frozen": True}

    weekdays: list[Annotated[int, Field(ge=0, le=6)]] = Field(default_factory=lambda: [0, 1, 2, 3, 4], max_length=7)
    start_hour: int = Field(default=9, ge=0, le=23)
    end_hour: int = Field(default=17, ge=1, le=24)
    utc_offset_minutes: int = Field(default=0, ge=-720, le=840)

    @field_validator("end_hour")
    @classmethod
    def _after_start(cls, value: int, info: Any) -> int:
        start = info.data.get("start_hour")
        if start is not None and value <= start:
            msg = f"must be after start_hour ({start}), got {value}"
            raise ValueError(msg)
        return value

    def is_open(self, moment: datetime) -> bool:
        """Whether staff are working at ``moment`` (aware)."""
        local = moment + timedelta(minutes=self.utc_offset_minutes)
        return local.weekday() in self.weekdays and self.start_hour <= local.hour < self.end_hour


_ROLES = Field(
    default_factory=list,
    max_length=MAX_ROLES,
    sa_type=ARRAY(BigInteger),
    sa_column_kwargs={"server_default": "{}", "default": None},
)


# -- ticket_panel --------------------------------------------------------------------
class TicketPanelSettings(SQLModel):
    """The editable settings of a panel (all optional in ``TicketPanelUpdate``)."""

    mode: Annotated[TicketMode, any_case(TicketMode)] = Field(
        default=TicketMode.THREAD,
        sa_type=pg_enum(TicketMode, "ticket_mode"),
        sa_column_kwargs={"server_default": TicketMode.THREAD.value},
    )
    category_id: Snowflake | None = snowflake_field(default=None)
    channel_id: Snowflake | None = snowflake_field(default=None)
    message_id: Snowflake | None = snowflake_field(default=None)
    naming_scheme: str = Field(
        default="ticket-{number}",
        min_length=1,
        max_length=SCHEME_MAX_LENGTH,
        sa_column_kwargs={"server_default": "ticket-{number}"},
    )
    staff_role_ids: list[Snowflake] = _ROLES
    ping_role_ids: list[Snowflake] = _ROLES
    required_role_ids: list[Snowflake] = _ROLES
    open_limit: int = Field(
        default=1, ge=1, le=MAX_OPEN_LIMIT, sa_type=Integer, sa_column_kwargs={"server_default": "1"}
    )
    cooldown_seconds: int = Field(
        default=0, ge=0, le=int(MAX_COOLDOWN.total_seconds()), sa_type=Integer, sa_column_kwargs={"server_default": "0"}
    )
    questions: list[Annotated[str, Field(min_length=1, max_length=QUESTION_MAX_LENGTH)]] = Field(
        default_factory=list,
        max_length=MAX_QUESTIONS,
        sa_type=JSONB,
        sa_column_kwargs={"server_default": text("'[]'::jsonb"), "default": None},
    )
    is_close_confirmed: bool = Field(default=True, sa_column_kwargs={"server_default": text("true")})
    transcript_channel_id: Snowflake | None = snowflake_field(default=None)
    inactivity_seconds: int | None = Field(default=None, ge=60, le=int(MAX_INACTIVITY.total_seconds()), sa_type=Integer)
    close_on_leave: bool = Field(default=False, sa_column_kwargs={"server_default": text("false")})
    close_delay_seconds: int = Field(
        default=int(DEFAULT_CLOSE_DELAY.total_seconds()),
        ge=1,
        le=int(MAX_CLOSE_DELAY.total_seconds()),
        sa_type=Integer,
        sa_column_kwargs={"server_default": str(int(DEFAULT_CLOSE_DELAY.total_seconds()))},
    )
    working_hours: WorkingHours | None = Field(default=None, sa_type=JSONB)
    is_active: bool = Field(default=True, sa_column_kwargs={"server_default": text("true")})


class TicketPanelUpdate(SQLModel):
    """Settings to change on a panel; unknown names are refused."""

    model_config = {"extra": "forbid"}

    label: str | None = Field(default=None, min_length=1, max_length=LABEL_MAX_LENGTH)
    mode: Annotated[TicketMode, any_case(TicketMode)] | None = None
    category_id: Snowflake | None = None
    channel_id: Snowflake | None = None
    message_id: Snowflake | None = None
    naming_scheme: str | None = Field(default=None, min_length=1, max_length=SCHEME_MAX_LENGTH)
    staff_role_ids: list[Snowflake] | None = Field(default=None, max_length=MAX_ROLES)
    ping_role_ids: list[Snowflake] | None = Field(default=None, max_length=MAX_ROLES)
    required_role_ids: list[Snowflake] | None = Field(default=None, max_length=MAX_ROLES)
    open_limit: int | None = Field(default=None, ge=1, le=MAX_OPEN_LIMIT)
    cooldown_seconds: int | None = Field(default=None, ge=0, le=int(MAX_COOLDOWN.total_seconds()))
    questions: list[Annotated[str, Field(min_length=1, max_length=QUESTION_MAX_LENGTH)]] | None = Field(
        default=None, max_length=MAX_QUESTIONS
    )
    is_close_confirmed: bool | None = None
    transcript_channel_id: Snowflake | None = None
    inactivity_seconds: int | None = Field(default=None, ge=60, le=int(MAX_INACTIVITY.total_seconds()))
    close_on_leave: bool | None = None
    close_delay_seconds: int | None = Field(default=None, ge=1, le=int(MAX_CLOSE_DELAY.total_seconds()))
    working_hours: WorkingHours | None = None
    is_active: bool | None = None


CLEARABLE = frozenset(
    {"category_id", "channel_id", "message_id", "transcript_channel_id", "inactivity_seconds", "working_hours"}
)
"""Panel settings that an explicit None clears (the others keep their value when None is given)."""


class TicketPanel(TicketPanelSettings, TimestampMixin, AuditMixin, CRUDMixin, table=True):
    """One panel: the configuration every ticket opened from it follows."""

    __tablename__ = "ticket_panel"
    __table_args__ = (
        PrimaryKeyConstraint("panel_id", "guild_id"),  # guild_id in every key (``guildbase.scaleout``), id first
        UniqueConstraint("guild_id", "label"),
        CheckConstraint(f"cardinality(staff_role_ids) <= {MAX_ROLES}", name="staff_roles_max"),
        CheckConstraint("open_limit BETWEEN 1 AND 50", name="open_limit_range"),
        CheckConstraint("cooldown_seconds >= 0", name="cooldown_positive"),
        CheckConstraint("inactivity_seconds >= 60", name="inactivity_min"),
        CheckConstraint("close_delay_seconds > 0", name="close_delay_positive"),
    )
    __mapper_args__ = orm_identity("panel_id")

    panel_id: int | None = Field(default=None, primary_key=True, sa_type=BigInteger, sa_column_args=[Identity()])
    guild_id: Snowflake = snowflake_field(primary_key=True, foreign_key=GUILD_FK, ondelete="CASCADE")
    label: str = Field(max_length=LABEL_MAX_LENGTH)


class TicketPanelRead(TicketPanelSettings):
    model_config = READ_ONLY

    panel_id: int
    guild_id: Snowflake
    label: str
    created_at: datetime
    updated_at: datetime

    def ticket_name(self, number: int, user: str) -> str:
        """The channel or thread name of ticket ``number`` opened by ``user``."""
        name = self.naming_scheme.replace("{number}", f"{number:04d}").replace("{user}", user)
        return name[:SUBJECT_MAX_LENGTH]


# -- ticket ----------------------------------------------------------------------------
class Ticket(CRUDMixin, table=True):
    """One ticket: numbered per guild, moved through ``TRANSITIONS``, trailed by ``ticket_event``."""

    __tablename__ = "ticket"
    __table_args__ = (
        PrimaryKeyConstraint("ticket_id", "guild_id"),  # guild_id in every key (``guildbase.scaleout``), id first
        UniqueConstraint("guild_id", "number"),
        CheckConstraint("number > 0", name="number_positive"),
        CheckConstraint("rating BETWEEN 1 AND 5", name="rating_range"),
        CheckConstraint("(status = 'closed') = (closed_at IS NOT NULL)", name="closed_at_matches_status"),
        Index("ix_ticket_guild_id_opener_id_status", "guild_id", "opener_id", "status"),
        Index("ix_ticket_guild_id_status", "guild_id", "status", postgresql_where=text("status <> 'closed'")),
        # One ticket per channel of a guild; the plain index serves ``by_channel`` (the channel alone).
        Index("uq_ticket_guild_id_channel_id", "guild_id", "channel_id", unique=True),
        Index("ix_ticket_channel_id", "channel_id"),
        ForeignKeyConstraint(
            ["guild_id", "panel_id"], ["ticket_panel.guild_id", "ticket_panel.panel_id"], ondelete="CASCADE"
        ),
    )
    __mapper_args__ = orm_identity("ticket_id")

    ticket_id: int | None = Field(default=None, primary_key=True, sa_type=BigInteger, sa_column_args=[Identity()])
    guild_id: Snowflake = snowflake_field(primary_key=True, foreign_key=GUILD_FK, ondelete="CASCADE")
    number: int = Field(sa_type=BigInteger)
    panel_id: int = Field(sa_type=BigInteger)
    channel_id: Snowflake | None = snowflake_field(default=None)
    opener_id: Snowflake = snowflake_field()
    subject: str | None = Field(default=None, max_length=SUBJECT_MAX_LENGTH)
    priority: TicketPriority = Field(
        default=TicketPriority.NORMAL,
        sa_type=pg_enum(TicketPriority, "ticket_priority"),
        sa_column_kwargs={"server_default": TicketPriority.NORMAL.value},
    )
    status: TicketStatus = Field(
        default=TicketStatus.OPEN,
        sa_type=pg_enum(TicketStatus, "ticket_status"),
        sa_column_kwargs={"server_default": TicketStatus.OPEN.value},
    )
    answers: dict[str, Any] = Field(
        default_factory=dict, sa_type=JSONB, sa_column_kwargs={"server_default": text("'{}'::jsonb"), "default": None}
    )
    claimed_by: Snowflake | None = snowflake_field(default=None)
    assignee_id: Snowflake | None = snowflake_field(default=None)
    opened_at: datetime | None = Field(
        default=None, sa_type=UTCDateTimeType, sa_column_kwargs={"server_default": text("now()"), "nullable": False}
    )
    first_response_at: datetime | None = Field(default=None, sa_type=UTCDateTimeType)
    last_message_at: datetime | None = Field(default=None, sa_type=UTCDateTimeType)
    message_count: int = Field(default=0, sa_type=Integer, sa_column_kwargs={"server_default": "0"})
    staff_message_count: int = Field(default=0, sa_type=Integer, sa_column_kwargs={"server_default": "0"})
    close_requested_at: datetime | None = Field(default=None, sa_type=UTCDateTimeType)
    close_requested_by: Snowflake | None = snowflake_field(default=None)
    close_at: datetime | None = Field(default=None, sa_type=UTCDateTimeType)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTimeType)
    closed_by: Snowflake | None = snowflake_field(default=None)
    close_reason: str | None = Field(default=None, max_length=REASON_MAX_LENGTH)
    rating: int | None = Field(default=None, sa_type=SmallInteger)
    rating_comment: str | None = Field(default=None, max_length=COMMENT_MAX_LENGTH)
    rated_at: datetime | None = Field(default=None, sa_type=UTCDateTimeType)


class TicketRead(SQLModel):
    model_config = READ_ONLY

    ticket_id: int
    guild_id: Snowflake
    number: int
    panel_id: int
    channel_id: Snowflake | None
    opener_id: Snowflake
    subject: str | None
    priority: TicketPriority
    status: TicketStatus
    answers: dict[str, Any]
    claimed_by: Snowflake | None
    assignee_id: Snowflake | None
    opened_at: datetime
    first_response_at: datetime | None
    last_message_at: datetime | None
    message_count: int
    staff_message_count: int
    close_requested_at: datetime | None
    close_requested_by: Snowflake | None
    close_at: datetime | None
    closed_at: datetime | None
    closed_by: Snowflake | None
    close_reason: str | None
    rating: int | None
    rating_comment: str | None
    rated_at: datetime | None


class TicketParticipant(SQLModel, table=True):
    """A member added to a ticket (besides its opener and staff)."""

    __tablename__ = "ticket_participant"
    __table_args__ = (
        PrimaryKeyConstraint("ticket_id", "user_id", "guild_id"),  # guild_id in every key (``guildbase.scaleout``)
        ForeignKeyConstraint(["guild_id", "ticket_id"], ["ticket.guild_id", "ticket.ticket_id"], ondelete="CASCADE"),
    )
    __mapper_args__ = orm_identity("ticket_id", "user_id")

    ticket_id: int = Field(primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False})
    user_id: Snowflake = snowflake_field(primary_key=True)
    guild_id: Snowflake = snowflake_field(primary_key=True, foreign_key=GUILD_FK, ondelete="CASCADE")
    added_by: Snowflake | None = snowflake_field(default=None)
    added_at: datetime | None = Field(
        default=None, sa_type=UTCDateTimeType, sa_column_kwargs={"server_default": text("now()"), "nullable": False}
    )


# -- timed work -------------------------------------------------------------------------
class TicketClosePayload(BaseModel):
    guild_id: int = Field(gt=0)
    number: int = Field(ge=1)


TICKET_SCHEDULED_CLOSE = JobKind("ticket.scheduled_close", TicketClosePayload)
"""Closes a ticket whose close request the opener did not answer (cancelled by their reply)."""
TICKET_AUTOCLOSE = JobKind("ticket.autoclose", TicketClosePayload)
"""Closes a ticket idle for its panel's ``inactivity_seconds`` (rescheduled by every message)."""

__all__ = [
    "TICKET_AUTOCLOSE",
    "TICKET_SCHEDULED_CLOSE",
    "TRANSITIONS",
    "DurationMetric",
    "Ticket",
    "TicketAction",
    "TicketClosePayload",
    "TicketEventKind",
    "TicketMode",
    "TicketPanel",
    "TicketPanelRead",
    "TicketPanelUpdate",
    "TicketParticipant",
    "TicketPriority",
    "TicketRead",
    "TicketStatus",
    "WorkingHours",
]


# -- personal data (R10.2): what erasing a user does to each table of this module ----------
personal_data(
    TicketPanel,
    "Who set up a ticket panel.",
    retention="while the panel exists",
    not_user={
        "category_id": "a Discord category, not a person",
        "questions": "the panel's questions (configuration)",
        "working_hours": "the panel's opening hours (configuration)",
    },
    **STAMPS,
)

personal_data(
    Ticket,
    "Support tickets: who opened, claimed and closed them; the guild keeps its support history, anonymised.",
    retention="while the guild keeps it",
    not_user={"panel_id": "the ticket's panel"},
    personal={"answers": "what the opener answered at open"},
    opener_id=Erase.ANONYMISE,
    assignee_id=Erase.ANONYMISE,
    claimed_by=Erase.ANONYMISE,
    close_requested_by=Erase.ANONYMISE,
    closed_by=Erase.ANONYMISE,
    answers=Erase.ANONYMISE,
)

personal_data(
    TicketParticipant,
    "Members added to a ticket.",
    retention="while the ticket exists",
    not_user={"ticket_id": "the ticket"},
    user_id=Erase.DELETE,
    added_by=Erase.ANONYMISE,
)
