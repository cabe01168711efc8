"""A ticket's record: its event trail (``ticket_event``) and its transcript (``ticket_message``).

Kept apart from ``models/tickets.py`` (panels, tickets, participants) so each module stays one job;
both tables hang off ``ticket`` and go with it.
"""

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import (
    BigInteger,
    ForeignKeyConstraint,
    Identity,
    Index,
    PrimaryKeyConstraint,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlmodel import Field, SQLModel

from guildbase.db.types import READ_ONLY, Snowflake, UTCDateTimeType, orm_identity, pg_enum, snowflake_field
from guildbase.models.core import GUILD_FK
from guildbase.models.tickets import (
    TicketEventKind,
    TicketStatus,
)
from guildbase.privacy.policy import Erase, personal_data


class TicketEvent(SQLModel, table=True):
    """One entry of a ticket's trail: what happened, who did it, and its details."""

    __tablename__ = "ticket_event"
    __table_args__ = (
        PrimaryKeyConstraint("event_id", "guild_id"),  # guild_id in every key; the id first serves lookups by id
        ForeignKeyConstraint(["guild_id", "ticket_id"], ["ticket.guild_id", "ticket.ticket_id"], ondelete="CASCADE"),
        Index("ix_ticket_event_ticket_id_event_id", "ticket_id", "event_id"),
    )
    __mapper_args__ = orm_identity("event_id")

    event_id: int | None = Field(default=None, primary_key=True, sa_type=BigInteger, sa_column_args=[Identity()])
    ticket_id: int = Field(sa_type=BigInteger)
    guild_id: Snowflake = snowflake_field(primary_key=True, foreign_key=GUILD_FK, ondelete="CASCADE")
    kind: TicketEventKind = Field(sa_type=pg_enum(TicketEventKind, "ticket_event_kind"))
    actor_id: Snowflake | None = snowflake_field(default=None)
    details: dict[str, Any] = Field(
        default_factory=dict, sa_type=JSONB, sa_column_kwargs={"server_default": text("'{}'::jsonb"), "default": None}
    )
    created_at: datetime | None = Field(
        default=None, sa_type=UTCDateTimeType, sa_column_kwargs={"server_default": text("now()"), "nullable": False}
    )


class TicketEventRead(SQLModel):
    model_config = READ_ONLY

    event_id: int
    ticket_id: int
    kind: TicketEventKind
    actor_id: int | None
    details: dict[str, Any]
    created_at: datetime


class TicketMessage(SQLModel, table=True):
    """One archived message of a ticket's transcript (IDs only; ``edits`` holds earlier versions)."""

    __tablename__ = "ticket_message"
    __table_args__ = (
        PrimaryKeyConstraint("message_id", "guild_id"),  # guild_id in every key (``guildbase.scaleout``)
        ForeignKeyConstraint(["guild_id", "ticket_id"], ["ticket.guild_id", "ticket.ticket_id"], ondelete="CASCADE"),
        Index("ix_ticket_message_ticket_id_message_id", "ticket_id", "message_id"),
    )
    __mapper_args__ = orm_identity("message_id")

    message_id: Snowflake = snowflake_field(primary_key=True)
    ticket_id: int = Field(sa_type=BigInteger)
    guild_id: Snowflake = snowflake_field(primary_key=True, foreign_key=GUILD_FK, ondelete="CASCADE")
    author_id: Snowflake = snowflake_field()
    content: str = Field(default="", sa_type=Text)
    attachment_urls: list[str] = Field(
        default_factory=list, sa_type=ARRAY(Text), sa_column_kwargs={"server_default": "{}", "default": None}
    )
    is_staff: bool = Field(default=False, sa_column_kwargs={"server_default": text("false")})
    edits: list[dict[str, Any]] = Field(
        default_factory=list, sa_type=JSONB, sa_column_kwargs={"server_default": text("'[]'::jsonb"), "default": None}
    )
    sent_at: datetime | None = Field(
        default=None, sa_type=UTCDateTimeType, sa_column_kwargs={"server_default": text("now()"), "nullable": False}
    )
    edited_at: datetime | None = Field(default=None, sa_type=UTCDateTimeType)


class TranscriptEdit(BaseModel):
    model_config = {"frozen": True}

    content: str
    edited_at: datetime


class TranscriptMessage(BaseModel):
    """A transcript line as exported (JSON) and imported back."""

    model_config = {"frozen": True}

    message_id: int
    author_id: int
    content: str
    attachment_urls: list[str]
    is_staff: bool
    sent_at: datetime
    edited_at: datetime | None = None
    edits: list[TranscriptEdit] = []


class Transcript(BaseModel):
    """A whole ticket's transcript: what ``export_json`` writes and ``Transcript.model_validate_json`` reads."""

    model_config = {"frozen": True}

    guild_id: int
    number: int
    subject: str | None
    opener_id: int
    status: TicketStatus
    opened_at: datetime
    closed_at: datetime | None
    messages: list[TranscriptMessage]


# -- personal data (R10.2) --------------------------------------------------------------
personal_data(
    TicketMessage,
    "Ticket transcripts; an erased author's messages are emptied (text, attachments, edits) and anonymised.",
    retention="while the ticket exists",
    not_user={"ticket_id": "the ticket", "edits": "earlier texts of the message, emptied by the erase's first step"},
    personal={"content": "what the member wrote in the ticket"},
    run_first=(
        "UPDATE ticket_message SET content = '', attachment_urls = '{}', edits = '[]'::jsonb WHERE author_id = :user_id"
    ),
    author_id=Erase.ANONYMISE,
)

personal_data(
    TicketEvent,
    "The ticket trail: who did what to a ticket.",
    retention="while the ticket exists",
    not_user={"ticket_id": "the ticket"},
    actor_id=Erase.ANONYMISE,
    details=Erase.ANONYMISE,
)
