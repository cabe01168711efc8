"""Starboard domain: per-guild board settings, starred messages and who starred them.

``starboard_entry.star_count`` is a cache of the rows in ``starboard_star``
for that message. It is only ever changed by the same statement that inserts
or deletes a star row, by exactly the number of rows that statement changed,
so concurrent stars and unstars can never make the two disagree.
"""

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKeyConstraint, Index, Integer, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Field, SQLModel

from guildbase.db.crud import CRUDMixin
from guildbase.db.mixins import AuditMixin, TimestampMixin
from guildbase.db.types import READ_ONLY, Snowflake, UTCDateTimeType, snowflake_field
from guildbase.models.core import GUILD_FK
from guildbase.privacy.policy import STAMPS, Erase, personal_data

DEFAULT_EMOJI = "⭐"
EMOJI_MAX_LENGTH = 64  # a custom emoji's "<a:name:id>" form fits comfortably
DEFAULT_THRESHOLD = 3
MAX_THRESHOLD = 1000
MAX_IGNORED_CHANNELS = 500


class StarboardFields(SQLModel):
    """Every setting of a guild's starboard; shared by the table and the update schema."""

    channel_id: Snowflake = snowflake_field()
    emoji: str = Field(
        default=DEFAULT_EMOJI,
        min_length=1,
        max_length=EMOJI_MAX_LENGTH,
        sa_column_kwargs={"server_default": DEFAULT_EMOJI},
    )
    threshold: int = Field(
        default=DEFAULT_THRESHOLD, ge=1, le=MAX_THRESHOLD, sa_column_kwargs={"server_default": str(DEFAULT_THRESHOLD)}
    )
    is_self_star_allowed: bool = Field(default=False, sa_column_kwargs={"server_default": text("false")})
    ignored_channel_ids: list[Snowflake] = Field(
        default_factory=list,
        max_length=MAX_IGNORED_CHANNELS,
        sa_type=ARRAY(BigInteger),
        sa_column_kwargs={"server_default": "{}", "default": None},
    )


class Starboard(StarboardFields, TimestampMixin, AuditMixin, CRUDMixin, table=True):
    """A guild's starboard; stars are only counted while it exists."""

    __tablename__ = "starboard"
    __table_args__ = (CheckConstraint("threshold >= 1", name="threshold_positive"),)

    guild_id: Snowflake = snowflake_field(primary_key=True, foreign_key=GUILD_FK, ondelete="CASCADE")


personal_data(Starboard, "Who set the starboard up.", retention="while it exists", **STAMPS)


class StarboardUpdate(SQLModel):
    """A partial change of the settings; ``channel_id`` is required the first time."""

    model_config = {"extra": "forbid"}

    channel_id: Snowflake | None = None
    emoji: str | None = Field(default=None, min_length=1, max_length=EMOJI_MAX_LENGTH)
    threshold: int | None = Field(default=None, ge=1, le=MAX_THRESHOLD)
    is_self_star_allowed: bool | None = None
    ignored_channel_ids: list[Snowflake] | None = Field(default=None, max_length=MAX_IGNORED_CHANNELS)


class StarboardRead(StarboardFields):
    model_config = READ_ONLY

    guild_id: Snowflake


class StarboardEntry(TimestampMixin, CRUDMixin, table=True):
    """A starred message, its cached star count and, once posted, its copy on the board."""

    __tablename__ = "starboard_entry"
    __table_args__ = (CheckConstraint("star_count >= 0", name="star_count_not_negative"),)

    guild_id: Snowflake = snowflake_field(primary_key=True, foreign_key=GUILD_FK, ondelete="CASCADE")
    message_id: Snowflake = snowflake_field(primary_key=True)
    channel_id: Snowflake = snowflake_field()
    author_id: Snowflake = snowflake_field()
    star_count: int = Field(default=0, sa_type=Integer, sa_column_kwargs={"server_default": text("0")})
    posted_message_id: Snowflake | None = snowflake_field(default=None)


personal_data(
    StarboardEntry,
    "Starred messages and their authors; the entry (and its stars) goes with its author.",
    retention="while the starboard exists",
    author_id=Erase.DELETE,
)


class StarboardEntryRead(SQLModel):
    model_config = READ_ONLY

    guild_id: Snowflake
    message_id: Snowflake
    channel_id: Snowflake
    author_id: Snowflake
    star_count: int
    posted_message_id: Snowflake | None
    created_at: datetime


class StarboardStar(CRUDMixin, table=True):
    """One user's star on one message; the primary key makes starring idempotent."""

    __tablename__ = "starboard_star"
    __table_args__ = (
        ForeignKeyConstraint(
            ["guild_id", "message_id"],
            ["starboard_entry.guild_id", "starboard_entry.message_id"],
            ondelete="CASCADE",
        ),
        Index("ix_starboard_star_user_id", "user_id"),
    )

    guild_id: Snowflake = snowflake_field(primary_key=True, foreign_key=GUILD_FK, ondelete="CASCADE")
    message_id: Snowflake = snowflake_field(primary_key=True)
    user_id: Snowflake = snowflake_field(primary_key=True)
    created_at: datetime | None = Field(
        default=None, sa_type=UTCDateTimeType, sa_column_kwargs={"server_default": text("now()"), "nullable": False}
    )


personal_data(
    StarboardStar,
    "Who starred which message.",
    retention="while the starred message's entry exists",
    # The entries' cached counts lose the user's stars before the stars go.
    run_first=(
        "UPDATE starboard_entry AS e SET star_count = greatest(e.star_count - 1, 0) FROM starboard_star AS s "
        "WHERE s.user_id = :user_id AND e.guild_id = s.guild_id AND e.message_id = s.message_id"
    ),
    user_id=Erase.DELETE,
)


class StarChange(SQLModel):
    """What ``add_star`` / ``remove_star`` did, and whether the board must react."""

    guild_id: Snowflake
    message_id: Snowflake
    star_count: int
    previous_count: int
    threshold: int
    posted_message_id: Snowflake | None

    @property
    def is_changed(self) -> bool:
        """False for a repeated star, a missing star, a self-star or an ignored channel."""
        return self.star_count != self.previous_count

    @property
    def crossed_up(self) -> bool:
        """The message just reached the threshold: post it to the board."""
        return self.previous_count < self.threshold <= self.star_count

    @property
    def crossed_down(self) -> bool:
        """The message just fell below the threshold: take it off the board."""
        return self.star_count < self.threshold <= self.previous_count
