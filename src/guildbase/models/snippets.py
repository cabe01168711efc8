"""Snippets (R7.3, R15.1): saved texts a guild recalls by name, with aliases, usage counts and a lock.

Two tables, one namespace:

- ``snippet``: the content, its author, ``uses`` (kept by ``SET uses = uses + 1``
  in the statement that looks the snippet up, never read-modify-write) and
  ``is_locked`` (a locked snippet is edited only by its author or staff).
- ``snippet_name``: every name a snippet answers to, its own name (``is_alias``
  false, exactly one per snippet: a partial unique index) and its aliases.
  Names and aliases share ONE case-insensitive namespace per guild: the unique
  index is on ``(guild_id, lower(name))``, so ``Faq`` cannot be added as an
  alias while ``faq`` is a snippet. Each row is a foreign key to its snippet
  (``(guild_id, snippet_id)``, so an alias is in its snippet's guild) with
  ``ON DELETE CASCADE``: deleting a snippet deletes its aliases in the same
  statement, and no alias can outlive or precede its snippet.

A name is 1-32 characters with no whitespace and nothing that reads as a
mention (``@``, ``<``, ``>``, ``#``) or breaks Discord markdown (a backtick).
Custom commands (``models/custom_commands.py``) live in the same namespace:
the controllers refuse a name taken by the other kind, under one per-guild lock.
"""

import re
from datetime import datetime

from pydantic import field_validator
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKeyConstraint,
    Identity,
    Index,
    PrimaryKeyConstraint,
    Text,
    text,
)
from sqlmodel import Field, SQLModel

from guildbase.db.crud import CRUDMixin
from guildbase.db.mixins import AuditMixin, TimestampMixin
from guildbase.db.types import READ_ONLY, Snowflake, orm_identity, snowflake_field
from guildbase.models.core import GUILD_FK
from guildbase.privacy.policy import STAMPS, Erase, personal_data

__all__ = [
    "CONTENT_MAX_LENGTH",
    "MAX_ALIASES",
    "NAME_MAX_LENGTH",
    "Snippet",
    "SnippetCreate",
    "SnippetName",
    "SnippetRead",
    "check_name",
]

NAME_MAX_LENGTH = 32
CONTENT_MAX_LENGTH = 2000
MAX_ALIASES = 10
"""Aliases one snippet may have (its own name not counted)."""
_FORBIDDEN = re.compile(r"[\s@<>#`]")


def check_name(value: str) -> str:
    """A snippet, alias or custom command name: 1-32 characters, no whitespace, nothing that reads as a mention."""
    if not 1 <= len(value) <= NAME_MAX_LENGTH:
        msg = f"must be 1-{NAME_MAX_LENGTH} characters, got {len(value)}"
        raise ValueError(msg)
    found = _FORBIDDEN.search(value)
    if found is not None:
        what = "whitespace" if found.group().isspace() else f"{found.group()!r} (mentions and markdown)"
        msg = f"must not contain {what}"
        raise ValueError(msg)
    return value


# -- snippet ------------------------------------------------------------------------------
class SnippetBase(SQLModel):
    # Part of the table's key (snippet_id, guild_id); ignored by the models that are not tables.
    guild_id: Snowflake = snowflake_field(primary_key=True, foreign_key=GUILD_FK, ondelete="CASCADE")
    content: str = Field(min_length=1, max_length=CONTENT_MAX_LENGTH, sa_type=Text)
    author_id: Snowflake = snowflake_field()


class Snippet(SnippetBase, TimestampMixin, AuditMixin, CRUDMixin, table=True):
    """A guild's saved text; its names (its own and its aliases) are ``snippet_name`` rows."""

    __tablename__ = "snippet"
    __table_args__ = (
        # guild_id in every key (co-location by guild: ``guildbase.scaleout``), the id first so the key serves
        # lookups by id; also the target of snippet_name's guild-scoped foreign key.
        PrimaryKeyConstraint("snippet_id", "guild_id"),
        CheckConstraint("uses >= 0", name="uses_not_negative"),
        CheckConstraint(f"char_length(content) BETWEEN 1 AND {CONTENT_MAX_LENGTH}", name="content_length"),
    )
    __mapper_args__ = orm_identity("snippet_id")

    snippet_id: int | None = Field(default=None, primary_key=True, sa_type=BigInteger, sa_column_args=[Identity()])
    uses: int = Field(default=0, sa_type=BigInteger, sa_column_kwargs={"server_default": text("0")})
    is_locked: bool = Field(default=False, sa_column_kwargs={"server_default": text("false")})


class SnippetCreate(SnippetBase):
    """Input of ``db.snippets.create``: the name is checked with it."""

    model_config = {"extra": "forbid"}

    name: str

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_name(value)


# -- snippet_name -----------------------------------------------------------------------------
class SnippetName(SQLModel, table=True):
    """One name a snippet answers to: its own (``is_alias`` false) or an alias."""

    __tablename__ = "snippet_name"
    __table_args__ = (
        PrimaryKeyConstraint("name_id", "guild_id"),  # guild_id in every key; the id first serves lookups by id
        ForeignKeyConstraint(
            ["guild_id", "snippet_id"],
            ["snippet.guild_id", "snippet.snippet_id"],
            name="fk_snippet_name_guild_id_snippet_id_snippet",
            ondelete="CASCADE",
        ),
        # The namespace: one name per guild in any letter case; also the lookup's index.
        Index("ix_snippet_name_guild_id_lower_name", "guild_id", text("lower(name)"), unique=True),
        # A snippet's names (its aliases, the cascade of its foreign key).
        Index("ix_snippet_name_guild_id_snippet_id", "guild_id", "snippet_id"),
        # Exactly one own name per snippet; aliases are not limited by it (partial).
        Index(
            "ix_snippet_name_guild_id_snippet_id_own",
            "guild_id",
            "snippet_id",
            unique=True,
            postgresql_where=text("NOT is_alias"),
        ),
        CheckConstraint(f"char_length(name) BETWEEN 1 AND {NAME_MAX_LENGTH}", name="name_length"),
        CheckConstraint("name !~ '[[:space:]@<>#`]'", name="name_characters"),
    )
    __mapper_args__ = orm_identity("name_id")

    name_id: int | None = Field(default=None, primary_key=True, sa_type=BigInteger, sa_column_args=[Identity()])
    guild_id: Snowflake = snowflake_field(primary_key=True, foreign_key=GUILD_FK, ondelete="CASCADE")
    snippet_id: int = Field(sa_type=BigInteger)
    name: str = Field(max_length=NAME_MAX_LENGTH, sa_type=Text)
    is_alias: bool = Field(default=False, sa_column_kwargs={"server_default": text("false")})


class SnippetRead(SnippetBase):
    """A snippet with its own name and its aliases (sorted)."""

    model_config = READ_ONLY

    snippet_id: int
    name: str
    aliases: list[str] = Field(default_factory=list)
    uses: int
    is_locked: bool
    created_at: datetime
    updated_at: datetime
    created_by: int | None = None
    updated_by: int | None = None


# -- personal data (R10.2): what erasing a user does to each table of this module ----------
personal_data(
    Snippet,
    "Snippets and their authors; a snippet stays for the server, its author anonymised.",
    retention="until deleted",
    author_id=Erase.ANONYMISE,
    **STAMPS,
)

personal_data(
    SnippetName, "A snippet's names and aliases.", retention="with the snippet", not_user={"snippet_id": "the snippet"}
)
