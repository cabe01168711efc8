"""Polls (R14.2): a question with 2-10 options, voted on by reaction or button, one vote per member.

- ``poll``: numbered per guild ("poll #12", ``CounterKind.POLL``), its channel
  and Discord message, how members vote (``kind``), an optional ``ends_at``
  (a ``POLL_CLOSE`` job enqueued with the poll closes it) and its ``status``.
  Deleting a poll is a soft delete.
- ``poll_option``: one row per option, with ``votes``: the live count, moved in
  the statement that writes the vote, so it always equals the vote rows.
- ``poll_vote``: one row per member and poll (the primary key is the "one vote
  per member" rule). Changing a vote is ONE upsert that also moves the two
  counts; ``previous_option_id`` is what the upsert replaced (the existing
  row's value, read under its row lock), so the count it leaves is known in
  the same statement even when the same member votes twice at once.
"""

import enum
from datetime import datetime
from typing import Annotated

import pydantic
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    PrimaryKeyConstraint,
    Text,
    UniqueConstraint,
    text,
)
from sqlmodel import Field, SQLModel

from guildbase.db.crud import CRUDMixin
from guildbase.db.mixins import AuditMixin, SoftDeleteMixin, TimestampMixin
from guildbase.db.types import (
    READ_ONLY,
    Snowflake,
    UTCDateTime,
    UTCDateTimeType,
    any_case,
    orm_identity,
    pg_enum,
    snowflake_field,
)
from guildbase.models.core import GUILD_FK
from guildbase.models.jobs import JobKind
from guildbase.privacy.policy import STAMPS, Erase, personal_data

__all__ = [
    "LABEL_MAX_LENGTH",
    "MAX_OPTIONS",
    "MIN_OPTIONS",
    "POLL_CLOSE",
    "QUESTION_MAX_LENGTH",
    "Poll",
    "PollBase",
    "PollClosePayload",
    "PollCreate",
    "PollKind",
    "PollOption",
    "PollOptionRead",
    "PollRead",
    "PollStatus",
    "PollUpdate",
    "PollVote",
    "VoteChange",
]

QUESTION_MAX_LENGTH = 300
LABEL_MAX_LENGTH = 100
EMOJI_MAX_LENGTH = 64
MIN_OPTIONS = 2
MAX_OPTIONS = 10


class PollKind(enum.StrEnum):
    """How members vote: by reacting with the option's emoji, or with the option's button."""

    REACTION = "reaction"
    BUTTON = "button"


class PollStatus(enum.StrEnum):
    """Only ``open`` polls take votes; closing is final."""

    OPEN = "open"
    CLOSED = "closed"


# -- poll ------------------------------------------------------------------------------------
class PollBase(SQLModel):
    # Part of the table's key (poll_id, guild_id); ignored by the models that are not tables.
    guild_id: Snowflake = snowflake_field(primary_key=True, foreign_key=GUILD_FK, ondelete="CASCADE")
    channel_id: Snowflake = snowflake_field()
    author_id: Snowflake = snowflake_field()
    question: str = Field(min_length=1, max_length=QUESTION_MAX_LENGTH, sa_type=Text)
    kind: Annotated[PollKind, any_case(PollKind)] = Field(
        default=PollKind.BUTTON, sa_type=pg_enum(PollKind, "poll_kind")
    )
    ends_at: UTCDateTime | None = Field(default=None, sa_type=UTCDateTimeType)


class PollCreate(PollBase):
    """Input of ``db.polls.create`` (the options are checked beside it)."""

    model_config = {"extra": "forbid"}


class PollUpdate(SQLModel):
    """What ``db.polls.set_message`` records once the bot has posted the poll."""

    model_config = {"extra": "forbid"}

    message_id: Snowflake | None = None


class Poll(PollBase, CRUDMixin, TimestampMixin, AuditMixin, SoftDeleteMixin, table=True):
    """One poll of a guild; its number is per guild, its key is ``poll_id``."""

    __tablename__ = "poll"
    __table_args__ = (
        # guild_id in every key (co-location by guild: ``guildbase.scaleout``), the id first so the key serves
        # lookups by id; also the target of the guild-leading foreign keys of options and votes.
        PrimaryKeyConstraint("poll_id", "guild_id"),
        UniqueConstraint("guild_id", "number"),
        CheckConstraint("number > 0", name="number_positive"),
    )
    __mapper_args__ = orm_identity("poll_id")

    poll_id: int | None = Field(default=None, primary_key=True, sa_type=BigInteger, sa_column_args=[Identity()])
    number: int = Field(sa_type=BigInteger)
    status: Annotated[PollStatus, any_case(PollStatus)] = Field(
        default=PollStatus.OPEN,
        sa_type=pg_enum(PollStatus, "poll_status"),
        sa_column_kwargs={"server_default": PollStatus.OPEN.value},
    )
    message_id: Snowflake | None = snowflake_field(default=None)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTimeType)


# -- poll_option -------------------------------------------------------------------------------
class PollOption(SQLModel, table=True):
    """One answer of a poll and its live vote count."""

    __tablename__ = "poll_option"
    __table_args__ = (
        PrimaryKeyConstraint("option_id", "guild_id"),  # as poll's: the target of the votes' foreign key
        UniqueConstraint("guild_id", "poll_id", "position"),
        CheckConstraint(f"position BETWEEN 1 AND {MAX_OPTIONS}", name="position_range"),
        CheckConstraint("votes >= 0", name="votes_not_negative"),
        ForeignKeyConstraint(
            ["guild_id", "poll_id"],
            ["poll.guild_id", "poll.poll_id"],
            name="fk_poll_option_poll_id_poll",
            ondelete="CASCADE",
        ),
    )
    __mapper_args__ = orm_identity("option_id")

    option_id: int | None = Field(default=None, primary_key=True, sa_type=BigInteger, sa_column_args=[Identity()])
    guild_id: Snowflake = snowflake_field(primary_key=True, foreign_key=GUILD_FK, ondelete="CASCADE")
    poll_id: int = Field(sa_type=BigInteger)
    position: int = Field(sa_type=Integer)
    label: str = Field(max_length=LABEL_MAX_LENGTH, sa_type=Text)
    emoji: str = Field(max_length=EMOJI_MAX_LENGTH, sa_type=Text)
    votes: int = Field(default=0, sa_type=BigInteger, sa_column_kwargs={"server_default": text("0")})


# -- poll_vote --------------------------------------------------------------------------------
class PollVote(SQLModel, table=True):
    """A member's one vote in a poll (the primary key), pointing at the option they chose."""

    __tablename__ = "poll_vote"
    __table_args__ = (
        # Guild-leading: a vote, its poll and its option live together (and in one guild).
        ForeignKeyConstraint(
            ["guild_id", "poll_id"],
            ["poll.guild_id", "poll.poll_id"],
            name="fk_poll_vote_poll_id_poll",
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(
            ["guild_id", "option_id"],
            ["poll_option.guild_id", "poll_option.option_id"],
            name="fk_poll_vote_option_id_poll_option",
            ondelete="CASCADE",
        ),
        # Counting an option's votes from the rows (the ground truth of ``votes``), and the option FK's cascade.
        Index("ix_poll_vote_option_id", "option_id"),
    )

    guild_id: Snowflake = snowflake_field(primary_key=True, foreign_key=GUILD_FK, ondelete="CASCADE")
    poll_id: int = Field(primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False})
    user_id: Snowflake = snowflake_field(primary_key=True)
    option_id: int = Field(sa_type=BigInteger)
    previous_option_id: int | None = Field(default=None, sa_type=BigInteger)
    voted_at: datetime | None = Field(
        default=None, sa_type=UTCDateTimeType, sa_column_kwargs={"server_default": text("now()"), "nullable": False}
    )


# -- read models -------------------------------------------------------------------------------
class PollOptionRead(SQLModel):
    model_config = READ_ONLY

    position: int
    label: str
    emoji: str
    votes: int


class PollRead(PollBase):
    model_config = READ_ONLY

    poll_id: int
    number: int
    status: PollStatus
    message_id: int | None
    closed_at: datetime | None
    created_at: datetime
    options: list[PollOptionRead] = Field(default_factory=list)

    @property
    def total_votes(self) -> int:
        """Votes over every option (one per member who voted)."""
        return sum(option.votes for option in self.options)


class VoteChange(SQLModel):
    """What one vote did: ``is_changed`` False when the member already had that vote."""

    model_config = READ_ONLY

    guild_id: int
    number: int
    user_id: int
    position: int | None
    previous_position: int | None
    is_changed: bool


class PollClosePayload(pydantic.BaseModel):
    """What a poll's close job carries: the poll, by guild and number."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    guild_id: int = pydantic.Field(gt=0, lt=2**63)
    number: int = pydantic.Field(ge=1)


POLL_CLOSE = JobKind("poll.close", PollClosePayload)
"""Closes an open poll at its ``ends_at``; the bot's callback shows the final counts on Discord."""


# -- personal data (R10.2): what erasing a user does to each table of this module ----------
personal_data(
    Poll,
    "Polls and who ran them.",
    retention="until deleted",
    author_id=Erase.ANONYMISE,
    deleted_by=Erase.ANONYMISE,
    **STAMPS,
)

personal_data(PollOption, "A poll's options.", retention="with the poll", not_user={"poll_id": "the poll"})

personal_data(
    PollVote,
    "Who voted for what; an erased member's votes go and the live counts lose them.",
    retention="with the poll",
    not_user={"poll_id": "the poll", "option_id": "the option", "previous_option_id": "the option before a change"},
    run_first=(
        "UPDATE poll_option AS o SET votes = greatest(o.votes - 1, 0) FROM poll_vote AS v "
        "WHERE v.user_id = :user_id AND o.guild_id = v.guild_id AND o.option_id = v.option_id"
    ),
    user_id=Erase.DELETE,
)
