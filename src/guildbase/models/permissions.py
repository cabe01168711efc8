"""Permissions domain (R3.3, R4.5, R22): ranks 0-10, role and command ranks, access rules, the check log.

Design decisions:

- **Ranks** (``permission_rank``): 0-10 per guild, each may have a name. A
  guild's legacy ``perm_level_0..7_role_id`` columns map one to one onto
  ``permission_role_rank`` rows (role → rank 0..7): ``legacy_role_ranks``.
  A member's rank is the highest rank of their roles (0 without any).
- **Command ranks** (``permission_command_rank``): a command or a module (a
  cog) needs a rank; a command without one falls back to its parent command,
  then to its module.
- **Rules** (``permission_rule``): one per (guild, subject, target): adding
  the same subject and target again replaces its effect, reason and expiry.
  The guild-default subject is keyed by the guild ID itself (Discord's
  ``@everyone`` convention) and the "all" target by ``*``, so no key column is
  NULL. ``is_whitelist`` marks an allow rule as part of a whitelist: for its
  target, every entity of the same kind that is not listed is denied at that
  level ("only in these channels"). A deny rule is the blacklist mode ("never
  in #general"). The precedence is in ``controllers/permission_eval.py`` and
  ``docs/permissions.md``.
- **Known commands** (``bot_command``): the command tree the bot registers at
  startup; rule and rank targets are validated against it, in any process.
- **Check log** (``permission_check``): every denial and a sample of allows,
  range-partitioned by month, written by binary COPY through a buffered writer.
"""

import enum
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel
from pydantic import Field as PydanticField
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Identity,
    Index,
    Integer,
    PrimaryKeyConstraint,
    SmallInteger,
    Text,
    text,
)
from sqlmodel import Field, SQLModel

from guildbase.db.crud import CRUDMixin
from guildbase.db.mixins import AuditMixin, TimestampMixin
from guildbase.db.types import READ_ONLY, Snowflake, UTCDateTimeType, any_case, orm_identity, pg_enum, snowflake_field
from guildbase.models.core import GUILD_FK
from guildbase.models.jobs import JobKind
from guildbase.privacy.policy import STAMPS, Erase, personal_data

MIN_RANK = 0
MAX_RANK = 10
LEGACY_LEVELS = 8
"""The previous schema's ``perm_level_0_role_id`` … ``perm_level_7_role_id``."""
RANK_NAME_MAX_LENGTH = 50
TARGET_NAME_MAX_LENGTH = 100
REASON_MAX_LENGTH = 512
MAX_RULES_PER_GUILD = 1000
ALL_TARGET = "*"


class SubjectKind(enum.StrEnum):
    """Who or where a rule is about."""

    MEMBER = "member"
    ROLE = "role"
    CHANNEL = "channel"
    """A text, voice or thread channel (a voice rule applies while the member is in it)."""
    CATEGORY = "category"
    GUILD = "guild"
    """The guild default (every member everywhere); its subject ID is the guild ID."""


class TargetKind(enum.StrEnum):
    """What a rule (or a rank requirement) is about."""

    COMMAND = "command"
    """A command or command group, by qualified name (``mod ban``)."""
    MODULE = "module"
    """A cog, by name (``Moderation``)."""
    FEATURE = "feature"
    """A ``Feature`` toggle's name: every command of the cogs gated by it."""
    ALL = "all"


class Effect(enum.StrEnum):
    ALLOW = "allow"
    DENY = "deny"


class DecidedBy(enum.StrEnum):
    """What decided a check (stored in the check log)."""

    OWNER = "owner"
    RULE = "rule"
    WHITELIST = "whitelist"
    """No listed entity of a whitelist matched: denied by the whitelist (its first rule is named)."""
    RANK = "rank"
    DEFAULT = "default"
    """Nothing configured applies: the guild's setting for unconfigured commands."""


RANK_TARGETS = frozenset({TargetKind.COMMAND, TargetKind.MODULE})
SubjectInput = Annotated[SubjectKind, any_case(SubjectKind)]
TargetInput = Annotated[TargetKind, any_case(TargetKind)]
EffectInput = Annotated[Effect, any_case(Effect)]
_RANK_RANGE = f"BETWEEN {MIN_RANK} AND {MAX_RANK}"


def _labels(kinds: frozenset[TargetKind]) -> str:
    return ", ".join(f"'{k.value}'" for k in sorted(kinds))


# -- configuration tables ---------------------------------------------------------------
class PermissionConfig(TimestampMixin, AuditMixin, CRUDMixin, table=True):
    """A guild's switch for commands nothing configures; a guild without a row allows them."""

    __tablename__ = "permission_config"

    guild_id: Snowflake = snowflake_field(primary_key=True, foreign_key=GUILD_FK, ondelete="CASCADE")
    is_unconfigured_allowed: bool = Field(default=True, sa_column_kwargs={"server_default": text("true")})


class PermissionRank(TimestampMixin, AuditMixin, CRUDMixin, table=True):
    """The name of one rank of a guild (``3`` → ``Moderator``)."""

    __tablename__ = "permission_rank"
    __table_args__ = (
        CheckConstraint(f"rank {_RANK_RANGE}", name="rank_range"),
        CheckConstraint(f"char_length(name) BETWEEN 1 AND {RANK_NAME_MAX_LENGTH}", name="name_length"),
    )

    guild_id: Snowflake = snowflake_field(primary_key=True, foreign_key=GUILD_FK, ondelete="CASCADE")
    rank: int = Field(primary_key=True, sa_type=SmallInteger, sa_column_kwargs={"autoincrement": False})
    name: str = Field(sa_type=Text)


class PermissionRoleRank(TimestampMixin, AuditMixin, CRUDMixin, table=True):
    """A role's rank in its guild."""

    __tablename__ = "permission_role_rank"
    __table_args__ = (CheckConstraint(f"rank {_RANK_RANGE}", name="rank_range"),)

    guild_id: Snowflake = snowflake_field(primary_key=True, foreign_key=GUILD_FK, ondelete="CASCADE")
    role_id: Snowflake = snowflake_field(primary_key=True)
    rank: int = Field(sa_type=SmallInteger)


class PermissionCommandRank(TimestampMixin, AuditMixin, CRUDMixin, table=True):
    """The rank a command or a module needs in a guild."""

    __tablename__ = "permission_command_rank"
    __table_args__ = (
        CheckConstraint(f"rank {_RANK_RANGE}", name="rank_range"),
        CheckConstraint(f"kind IN ({_labels(RANK_TARGETS)})", name="kind_allowed"),
    )

    guild_id: Snowflake = snowflake_field(primary_key=True, foreign_key=GUILD_FK, ondelete="CASCADE")
    kind: TargetKind = Field(primary_key=True, sa_type=pg_enum(TargetKind, "permission_target"))
    name: str = Field(primary_key=True, sa_type=Text)
    rank: int = Field(sa_type=SmallInteger)


class PermissionRule(TimestampMixin, AuditMixin, CRUDMixin, table=True):
    """One allow or deny rule; see the module docstring for the keys."""

    __tablename__ = "permission_rule"
    __table_args__ = (
        # guild_id in every key (co-location by guild: ``guildbase.scaleout``); the id first serves lookups by id.
        PrimaryKeyConstraint("rule_id", "guild_id"),
        CheckConstraint("(subject_kind = 'guild') = (subject_id = guild_id)", name="guild_subject_is_the_guild"),
        CheckConstraint(f"(target_kind = 'all') = (target_name = '{ALL_TARGET}')", name="all_target_is_star"),
        CheckConstraint(f"char_length(target_name) BETWEEN 1 AND {TARGET_NAME_MAX_LENGTH}", name="target_name_length"),
        CheckConstraint(
            "NOT is_whitelist OR (effect = 'allow' AND subject_kind <> 'guild')", name="whitelist_allows_an_entity"
        ),
        CheckConstraint(f"char_length(reason) <= {REASON_MAX_LENGTH}", name="reason_length"),
        Index(
            "uq_permission_rule_subject_target",
            "guild_id",
            "subject_kind",
            "subject_id",
            "target_kind",
            "target_name",
            unique=True,
        ),
    )
    __mapper_args__ = orm_identity("rule_id")

    rule_id: int | None = Field(default=None, primary_key=True, sa_type=BigInteger, sa_column_args=[Identity()])
    guild_id: Snowflake = snowflake_field(primary_key=True, foreign_key=GUILD_FK, ondelete="CASCADE")
    subject_kind: SubjectKind = Field(sa_type=pg_enum(SubjectKind, "permission_subject"))
    subject_id: Snowflake = snowflake_field()
    target_kind: TargetKind = Field(sa_type=pg_enum(TargetKind, "permission_target"))
    target_name: str = Field(sa_type=Text)
    effect: Effect = Field(sa_type=pg_enum(Effect, "permission_effect"))
    is_whitelist: bool = Field(default=False, sa_column_kwargs={"server_default": text("false")})
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTimeType)
    reason: str | None = Field(default=None, sa_type=Text)
    author_id: Snowflake | None = snowflake_field(default=None)


class BotCommand(SQLModel, table=True):
    """A command the bot registered (qualified name, its cog), so any process can validate rule targets."""

    __tablename__ = "bot_command"
    __table_args__ = (CheckConstraint(f"char_length(name) BETWEEN 1 AND {TARGET_NAME_MAX_LENGTH}", name="name_length"),)

    name: str = Field(primary_key=True, sa_type=Text)
    module: str | None = Field(default=None, sa_type=Text)
    registered_at: datetime | None = Field(
        default=None, sa_type=UTCDateTimeType, sa_column_kwargs={"server_default": text("now()"), "nullable": False}
    )


class PermissionCheck(SQLModel, table=True):
    """One logged check: who, where, which command, the answer and what decided it."""

    __tablename__ = "permission_check"
    __table_args__ = (
        CheckConstraint("decided_by IN ('owner', 'rule', 'whitelist', 'rank', 'default')", name="decided_by_allowed"),
        Index("ix_permission_check_guild_id_checked_at", "guild_id", "checked_at"),
        {"postgresql_partition_by": "RANGE (checked_at)"},
    )

    __mapper_args__ = orm_identity("check_id", "checked_at")

    check_id: int | None = Field(default=None, primary_key=True, sa_type=BigInteger, sa_column_args=[Identity()])
    checked_at: datetime = Field(
        primary_key=True, sa_type=UTCDateTimeType, sa_column_kwargs={"server_default": text("now()")}
    )
    guild_id: Snowflake = snowflake_field(primary_key=True)
    user_id: Snowflake = snowflake_field()
    channel_id: Snowflake | None = snowflake_field(default=None, nullable=True)
    command: str = Field(sa_type=Text)
    is_allowed: bool = Field(sa_type=Boolean)
    decided_by: str = Field(sa_type=Text)
    rule_id: int | None = Field(default=None, sa_type=BigInteger)
    required_rank: int | None = Field(default=None, sa_type=Integer)
    member_rank: int | None = Field(default=None, sa_type=Integer)


# -- read models -------------------------------------------------------------------------
class PermissionRuleRead(SQLModel):
    model_config = READ_ONLY

    rule_id: int
    guild_id: Snowflake
    subject_kind: SubjectKind
    subject_id: Snowflake
    target_kind: TargetKind
    target_name: str
    effect: Effect
    is_whitelist: bool = False
    expires_at: datetime | None = None
    reason: str | None = None
    author_id: int | None = None

    def describe(self) -> str:
        """``rule #12 (deny ban for role 123)``: how replies and the explain command name a rule."""
        target = "everything" if self.target_kind is TargetKind.ALL else f"{self.target_kind} {self.target_name}"
        subject = "the server" if self.subject_kind is SubjectKind.GUILD else f"{self.subject_kind} {self.subject_id}"
        mode = "whitelist " if self.is_whitelist else ""
        return f"rule #{self.rule_id} ({mode}{self.effect} {target} for {subject})"


class PermissionCheckRead(SQLModel):
    model_config = READ_ONLY

    check_id: int
    checked_at: datetime
    guild_id: int
    user_id: int
    channel_id: int | None
    command: str
    is_allowed: bool
    decided_by: DecidedBy
    rule_id: int | None
    required_rank: int | None
    member_rank: int | None


class PermissionSetRead(BaseModel):
    """Everything a guild's checks read, cached as one value and compiled in each process.

    ``rules`` holds every rule stored, expired ones included: the compiled set
    drops them at read time, against the clock, so Redis never has to be
    rewritten when one expires.
    """

    model_config = READ_ONLY

    guild_id: int
    is_unconfigured_allowed: bool = True
    rank_names: dict[int, str] = PydanticField(default_factory=dict)
    role_ranks: dict[int, int] = PydanticField(default_factory=dict)
    command_ranks: dict[str, int] = PydanticField(default_factory=dict)
    """``command:<name>`` / ``module:<name>`` → required rank."""
    rules: list[PermissionRuleRead] = PydanticField(default_factory=list)


class ExpiryPayload(BaseModel):
    """The ``permissions.expire`` job takes nothing: it deletes every rule whose expiry has passed."""


PERMISSION_EXPIRY = JobKind("permissions.expire", ExpiryPayload)
"""Deletes expired rules (each with its audit row); checks ignore them before that, at read time."""


def legacy_role_ranks(config: dict[str, Any]) -> dict[int, int]:
    """The role → rank rows of a legacy ``GuildConfig`` row's ``perm_level_0..7_role_id`` columns.

    A role set on several levels gets the highest; empty levels are skipped.
    """
    ranks: dict[int, int] = {}
    for level in range(LEGACY_LEVELS):
        role = config.get(f"perm_level_{level}_role_id")
        if role is not None:
            ranks[int(role)] = max(level, ranks.get(int(role), level))
    return ranks


# -- personal data (R10.2): what erasing a user does to each table of this module ----------
personal_data(PermissionConfig, "Who changed a guild's permission settings.", retention="while set", **STAMPS)

personal_data(PermissionRank, "Who named a permission rank.", retention="while set", **STAMPS)

personal_data(PermissionRoleRank, "Who mapped a role to a rank.", retention="while set", **STAMPS)

personal_data(PermissionCommandRank, "Who set a command's rank.", retention="while set", **STAMPS)

personal_data(
    PermissionRule,
    "Allow and deny rules; a rule about a member names them.",
    retention="until removed or expired",
    subject_id=Erase.DELETE,
    author_id=Erase.ANONYMISE,
    **STAMPS,
)

personal_data(
    PermissionCheck,
    "The permission check log: who was allowed or refused what.",
    retention="until its monthly partition is dropped",
    not_user={"rule_id": "the deciding rule, not a person"},
    user_id=Erase.DELETE,
)
