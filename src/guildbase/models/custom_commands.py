"""Custom commands (R15.2): a guild's own commands, a templated reply with arguments, a rank and a cooldown.

- ``custom_command``: the name (in the guild's one case-insensitive namespace,
  shared with snippets and their aliases, and never a built-in command's
  name), the ``template`` (``{user}``, ``{channel}``, ``{guild}``, ``{args}``,
  ``{1}`` … ``{9}``; see ``controllers/custom_commands.render``), the
  ``arg_count`` (the highest ``{n}`` in the template: how many arguments a run
  needs), the ``required_rank`` a member needs (None: everyone; the permissions domain
  supplies a member's rank), a per-member ``cooldown_seconds`` and ``uses``.
- ``custom_command_use``: when each member last ran each command. The cooldown
  is ONE upsert (``… DO UPDATE … WHERE last_used_at <= now() - cooldown``): a
  run inside the cooldown returns no row, so two concurrent runs cannot both
  pass, and ``uses`` moves in the same statement.
"""

from datetime import datetime

from pydantic import field_validator
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    PrimaryKeyConstraint,
    Text,
    text,
)
from sqlmodel import Field, SQLModel

from guildbase.db.crud import CRUDMixin
from guildbase.db.mixins import AuditMixin, TimestampMixin
from guildbase.db.types import READ_ONLY, Snowflake, UTCDateTimeType, orm_identity, snowflake_field
from guildbase.models.core import GUILD_FK
from guildbase.models.snippets import NAME_MAX_LENGTH, check_name
from guildbase.privacy.policy import STAMPS, Erase, personal_data

__all__ = [
    "MAX_COOLDOWN_SECONDS",
    "MAX_RANK",
    "TEMPLATE_MAX_LENGTH",
    "CommandRun",
    "CustomCommand",
    "CustomCommandCreate",
    "CustomCommandRead",
    "CustomCommandUpdate",
    "CustomCommandUse",
]

TEMPLATE_MAX_LENGTH = 2000
MAX_COOLDOWN_SECONDS = 7 * 24 * 3600
MAX_RANK = 100
"""Ranks run 0 (everyone) to 100; the permissions domain decides who holds which."""


class CustomCommandBase(SQLModel):
    # Part of the table's key (command_id, guild_id); ignored by the models that are not tables.
    guild_id: Snowflake = snowflake_field(primary_key=True, foreign_key=GUILD_FK, ondelete="CASCADE")
    name: str = Field(max_length=NAME_MAX_LENGTH, sa_type=Text)
    template: str = Field(min_length=1, max_length=TEMPLATE_MAX_LENGTH, sa_type=Text)
    required_rank: int | None = Field(default=None, ge=0, le=MAX_RANK, sa_type=Integer)
    cooldown_seconds: int = Field(
        default=0, ge=0, le=MAX_COOLDOWN_SECONDS, sa_type=Integer, sa_column_kwargs={"server_default": text("0")}
    )
    author_id: Snowflake = snowflake_field()


class CustomCommandCreate(CustomCommandBase):
    """Input of ``db.custom_commands.create``."""

    model_config = {"extra": "forbid"}

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_name(value)


class CustomCommandUpdate(SQLModel):
    """What ``db.custom_commands.edit`` may change; unknown names are refused."""

    model_config = {"extra": "forbid"}

    template: str | None = Field(default=None, min_length=1, max_length=TEMPLATE_MAX_LENGTH)
    required_rank: int | None = Field(default=None, ge=0, le=MAX_RANK)
    cooldown_seconds: int | None = Field(default=None, ge=0, le=MAX_COOLDOWN_SECONDS)


class CustomCommand(CustomCommandBase, TimestampMixin, AuditMixin, CRUDMixin, table=True):
    """One custom command of a guild."""

    __tablename__ = "custom_command"
    __table_args__ = (
        # The lookup, and the command half of the guild's name space (snippets hold the other half).
        Index("ix_custom_command_guild_id_lower_name", "guild_id", text("lower(name)"), unique=True),
        # (id, guild_id): guild_id in every key (co-location by guild: ``guildbase.scaleout``), the id first so
        # the key still serves lookups by id; also the target of guild-leading foreign keys.
        PrimaryKeyConstraint("command_id", "guild_id"),
        CheckConstraint(f"char_length(name) BETWEEN 1 AND {NAME_MAX_LENGTH}", name="name_length"),
        CheckConstraint("name !~ '[[:space:]@<>#`]'", name="name_characters"),
        CheckConstraint(f"required_rank BETWEEN 0 AND {MAX_RANK}", name="rank_range"),
        CheckConstraint(f"cooldown_seconds BETWEEN 0 AND {MAX_COOLDOWN_SECONDS}", name="cooldown_range"),
        CheckConstraint("uses >= 0", name="uses_not_negative"),
        CheckConstraint("arg_count BETWEEN 0 AND 9", name="arg_count_range"),
    )
    __mapper_args__ = orm_identity("command_id")

    command_id: int | None = Field(default=None, primary_key=True, sa_type=BigInteger, sa_column_args=[Identity()])
    arg_count: int = Field(default=0, sa_type=Integer, sa_column_kwargs={"server_default": text("0")})
    uses: int = Field(default=0, sa_type=BigInteger, sa_column_kwargs={"server_default": text("0")})


class CustomCommandUse(SQLModel, table=True):
    """When a member last ran a command: the cooldown's state, one row per (command, member)."""

    __tablename__ = "custom_command_use"
    __table_args__ = (
        ForeignKeyConstraint(
            ["guild_id", "command_id"],
            ["custom_command.guild_id", "custom_command.command_id"],
            name="fk_custom_command_use_command_id",
            ondelete="CASCADE",
        ),
    )

    guild_id: Snowflake = snowflake_field(primary_key=True, foreign_key=GUILD_FK, ondelete="CASCADE")
    command_id: int = Field(primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False})
    user_id: Snowflake = snowflake_field(primary_key=True)
    last_used_at: datetime = Field(sa_type=UTCDateTimeType, sa_column_kwargs={"server_default": text("now()")})


class CustomCommandRead(CustomCommandBase):
    model_config = READ_ONLY

    command_id: int
    arg_count: int
    uses: int
    created_at: datetime
    updated_at: datetime
    created_by: int | None = None
    updated_by: int | None = None


class CommandRun(SQLModel):
    """What ``db.custom_commands.invoke`` did: ran (``is_run``), or why not, and the arguments it was given."""

    model_config = READ_ONLY

    command: CustomCommandRead
    arguments: list[str] = Field(default_factory=list)
    is_run: bool
    is_allowed: bool
    """False: the member's rank is below ``required_rank`` (nothing was counted)."""
    retry_after_seconds: float = 0.0
    """While cooling down: how long until this member may run it again."""


# -- personal data (R10.2): what erasing a user does to each table of this module ----------
personal_data(
    CustomCommand,
    "Custom commands and who wrote them.",
    retention="until deleted",
    author_id=Erase.ANONYMISE,
    **STAMPS,
)

personal_data(
    CustomCommandUse,
    "When a member last ran a command (its cooldown).",
    retention="until the cooldown is over",
    not_user={"command_id": "the command"},
    user_id=Erase.DELETE,
)
