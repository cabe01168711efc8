"""Content domain: things users and guilds save and reuse. For now, bookmarks.

A bookmark keeps a short excerpt, not the message: the message itself stays
on Discord (and can be deleted there), the excerpt is what a list shows.
"""

from datetime import datetime

from sqlalchemy import Index, Text, text
from sqlmodel import Field, SQLModel

from guildbase.db.crud import CRUDMixin
from guildbase.db.types import READ_ONLY, Snowflake, UTCDateTimeType, snowflake_field
from guildbase.models.core import GUILD_FK
from guildbase.privacy.policy import Erase, personal_data

EXCERPT_MAX_LENGTH = 200


class BookmarkFields(SQLModel):
    guild_id: Snowflake = snowflake_field(primary_key=True, foreign_key=GUILD_FK, ondelete="CASCADE")
    user_id: Snowflake = snowflake_field(primary_key=True)
    message_id: Snowflake = snowflake_field(primary_key=True)
    channel_id: Snowflake = snowflake_field()
    author_id: Snowflake = snowflake_field()
    excerpt: str = Field(default="", max_length=EXCERPT_MAX_LENGTH, sa_type=Text)


class Bookmark(BookmarkFields, CRUDMixin, table=True):
    """A message one user saved; the primary key makes it unique per user and message."""

    __tablename__ = "bookmark"
    __table_args__ = (Index("ix_bookmark_user_id_created_at_message_id", "user_id", "created_at", "message_id"),)

    created_at: datetime | None = Field(
        default=None, sa_type=UTCDateTimeType, sa_column_kwargs={"server_default": text("now()"), "nullable": False}
    )


personal_data(
    Bookmark,
    "Messages a user saved for later, with an excerpt.",
    retention="until the user removes the bookmark",
    personal={"excerpt": "the start of the saved message (written by its author)"},
    user_id=Erase.DELETE,
    author_id=Erase.ANONYMISE,
)


class BookmarkCreate(BookmarkFields):
    """Input of ``db.bookmarks.add``."""


class BookmarkRead(BookmarkFields):
    model_config = READ_ONLY

    created_at: datetime
