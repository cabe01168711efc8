"""Levels domain: per-member XP, per-guild XP rules, multipliers and level-role rewards.

Design decisions (compared with the legacy ``Levels`` table):

- ``member_level`` (singular, per the house style; the issue's ``member_levels``)
  references ``guild`` only, not ``member``: the per-message award is one
  statement, and requiring a ``member`` row first would cost a second write.
- XP is a ``BIGINT`` incremented in SQL (the legacy ``double`` was read,
  changed in Python and written back, losing updates).
- ``level`` is stored for cheap display and always recomputed in SQL from the
  new XP by ``level_for_xp(xp, curve)``, a function created by migration 0003
  and made a closed-form SQL expression, which the planner inlines, by 0029.
  ``level_total_xp`` / ``level_for_xp`` below are its Python twins, checked
  against the SQL functions by the tests.
- ``message_count`` counts messages that earned XP (outside the cooldown):
  counting every message would turn the cooldown-gated write into a write per
  message, which is what the cooldown exists to prevent.
- Multipliers live in ``level_multiplier`` (one row per role or channel), so
  the award statement can join them; a member's factor is the highest matching
  role multiplier times the channel's multiplier.
- The member's *open day* (``open_day``, the UTC day of their latest award)
  and its day, ISO-week and month totals live in the ``member_level`` row, kept
  by the award's own upsert under the row's lock. ``member_xp_daily`` holds the
  days a member has moved on from: the award that opens a new day hands the
  closed day over (``closed_day`` / ``closed_day_xp``) to the same statement,
  which adds it to ``member_xp_daily``. So a day's XP is its ``member_xp_daily``
  row plus ``day_xp`` if it is the member's open day; each award writes one
  row, and a second one only on the member's first award of a day.
"""

import enum
from datetime import date, datetime
from typing import Annotated

from pydantic import ValidationInfo, field_validator
from sqlalchemy import BigInteger, CheckConstraint, Date, Index, Integer, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel import Field, SQLModel

from guildbase.db.crud import CRUDMixin
from guildbase.db.mixins import AuditMixin, TimestampMixin
from guildbase.db.types import READ_ONLY, Snowflake, UTCDateTimeType, any_case, pg_enum, snowflake_field
from guildbase.models.core import GUILD_FK
from guildbase.privacy.policy import STAMPS, Erase, personal_data

DEFAULT_XP_MIN = 15
DEFAULT_XP_MAX = 25
DEFAULT_COOLDOWN_SECONDS = 60
MAX_XP_PER_MESSAGE = 1000
MAX_COOLDOWN_SECONDS = 86_400
MAX_XP = 10**12
"""Upper bound for ``set_xp``; keeps every curve's level inside a 32-bit integer."""
MAX_MULTIPLIER = 10.0
MAX_REWARD_LEVEL = 1000
MAX_IGNORED_CHANNELS = 500
MAX_ROLE_IDS = 250  # Discord's limit on roles per guild
FLAT_LEVEL_COST = 1000


class LevelCurve(enum.StrEnum):
    """How much XP each level costs.

    - ``mee6``: level l → l+1 costs 5·l² + 50·l + 100 (the MEE6 curve, default);
    - ``linear``: level l → l+1 costs 100·(l+1);
    - ``flat``: every level costs 1000.
    """

    MEE6 = "mee6"
    LINEAR = "linear"
    FLAT = "flat"


class LevelRoleMode(enum.StrEnum):
    """Whether reward roles accumulate or each one replaces the previous one."""

    STACK = "stack"
    REPLACE = "replace"


class MultiplierKind(enum.StrEnum):
    """What a ``level_multiplier`` row applies to."""

    ROLE = "role"
    CHANNEL = "channel"


def level_total_xp(level: int, curve: LevelCurve = LevelCurve.MEE6) -> int:
    """Cumulative XP needed to reach ``level`` (0 for level 0). Twin of SQL ``level_total_xp``."""
    if curve is LevelCurve.MEE6:
        return (10 * level**3 + 135 * level**2 + 455 * level) // 6
    if curve is LevelCurve.LINEAR:
        return 50 * level * (level + 1)
    return FLAT_LEVEL_COST * level


def level_for_xp(xp: int, curve: LevelCurve = LevelCurve.MEE6) -> int:
    """The level a member with ``xp`` has reached. Twin of SQL ``level_for_xp``."""
    level = 0
    step = 1
    while level_total_xp(level + step, curve) <= xp:  # gallop, then bisect
        step *= 2
    low, high = level + step // 2, level + step
    while high - low > 1:
        middle = (low + high) // 2
        if level_total_xp(middle, curve) <= xp:
            low = middle
        else:
            high = middle
    return low


# -- member_level --------------------------------------------------------------
class MemberLevel(TimestampMixin, AuditMixin, CRUDMixin, table=True):
    """XP and level of one user in one guild; written by one statement per message.

    ``updated_by`` records who last set or reset the XP by hand (awards leave it alone).
    """

    __tablename__ = "member_level"
    __table_args__ = (
        CheckConstraint("xp >= 0", name="xp_not_negative"),
        CheckConstraint("level >= 0", name="level_not_negative"),
        CheckConstraint("message_count >= 0", name="message_count_not_negative"),
        CheckConstraint("day_xp >= 0 AND week_xp >= day_xp AND month_xp >= day_xp", name="period_xp_consistent"),
        # Leaderboards and ranks only ever count members who can earn XP, so the
        # index leaves blacklisted members out and stays in exact ranking order
        # (read backwards for xp DESC, user_id DESC).
        Index("ix_member_level_leaderboard", "guild_id", "xp", "user_id", postgresql_where=text("NOT is_blacklisted")),
        Index("ix_member_level_user_id", "user_id"),
    )

    guild_id: Snowflake = snowflake_field(primary_key=True, foreign_key=GUILD_FK, ondelete="CASCADE")
    user_id: Snowflake = snowflake_field(primary_key=True)
    xp: int = Field(default=0, sa_type=BigInteger, sa_column_kwargs={"server_default": text("0")})
    level: int = Field(default=0, sa_type=Integer, sa_column_kwargs={"server_default": text("0")})
    message_count: int = Field(default=0, sa_type=BigInteger, sa_column_kwargs={"server_default": text("0")})
    last_message_at: datetime | None = Field(default=None, sa_type=UTCDateTimeType)
    is_blacklisted: bool = Field(default=False, sa_column_kwargs={"server_default": text("false")})
    open_day: date | None = Field(default=None, sa_type=Date)
    """The UTC day of the member's latest award: the day ``day_xp``, ``week_xp`` and ``month_xp`` are about."""
    day_xp: int = Field(default=0, sa_type=BigInteger, sa_column_kwargs={"server_default": text("0")})
    """XP earned on ``open_day`` (not yet in ``member_xp_daily``)."""
    week_xp: int = Field(default=0, sa_type=BigInteger, sa_column_kwargs={"server_default": text("0")})
    """XP earned in ``open_day``'s ISO week, ``open_day`` included."""
    month_xp: int = Field(default=0, sa_type=BigInteger, sa_column_kwargs={"server_default": text("0")})
    """XP earned in ``open_day``'s month, ``open_day`` included."""
    closed_day: date | None = Field(default=None, sa_type=Date)
    """The day the latest award closed (its first on a new day), handed to ``member_xp_daily`` in its statement."""
    closed_day_xp: int | None = Field(default=None, sa_type=BigInteger)
    """The XP of ``closed_day``; both are NULL after an award on the member's open day."""


personal_data(
    MemberLevel,
    "A member's XP, level and message count, and who last set their XP by hand.",
    retention="while the guild has levels; reset or erased on request",
    user_id=Erase.DELETE,
    **STAMPS,
)


# -- member_xp_daily -----------------------------------------------------------
class MemberXPDaily(CRUDMixin, table=True):
    """XP earned per member per UTC day, for the days the member has moved on from.

    With the member's open day in ``member_level`` (``open_day``, ``day_xp``)
    it is the source the period leaderboards are rebuilt from: a period's XP
    is the sum of its rows here plus ``day_xp`` where ``open_day`` falls in the
    period. Written by the award's own statement, when a member's first award
    of a new day closes the previous one, so a day/week/month board in Redis
    can always be rebuilt exactly from PostgreSQL. Old days can be dropped by
    retention without touching all-time XP.
    """

    __tablename__ = "member_xp_daily"
    __table_args__ = (
        CheckConstraint("xp >= 0", name="xp_not_negative"),
        # Rebuilding a period board scans one guild's days in a range.
        Index("ix_member_xp_daily_guild_id_day", "guild_id", "day"),
    )

    guild_id: Snowflake = snowflake_field(primary_key=True, foreign_key=GUILD_FK, ondelete="CASCADE")
    user_id: Snowflake = snowflake_field(primary_key=True)
    day: date = Field(primary_key=True, sa_type=Date)
    xp: int = Field(default=0, sa_type=BigInteger, sa_column_kwargs={"server_default": text("0")})


personal_data(
    MemberXPDaily,
    "XP per member and day: the weekly and monthly leaderboards.",
    retention="as long as the period boards need (the level domain's rollup)",
    user_id=Erase.DELETE,
)


class MemberLevelRead(SQLModel):
    model_config = READ_ONLY

    guild_id: Snowflake
    user_id: Snowflake
    xp: int
    level: int
    message_count: int
    last_message_at: datetime | None
    is_blacklisted: bool
    updated_by: int | None = None


class XPSet(SQLModel):
    """Input of ``set_xp``: validated before the write."""

    guild_id: Snowflake
    user_id: Snowflake
    xp: int = Field(ge=0, le=MAX_XP)


class XPAward(SQLModel):
    """What ``award_message_xp`` did: the bot acts on ``leveled_up`` and the role lists.

    ``xp`` and ``level`` are None when nothing was written (cooldown, ignored
    channel, blacklisted member, or the guild's ``levels`` feature turned off:
    then ``is_feature_off`` is True as well).
    """

    is_feature_off: bool = False
    """The guild turned ``levels`` off: the message was not counted (read in the award's own statement)."""
    awarded_xp: int = 0
    xp: int | None = None
    level: int | None = None
    leveled_up: bool = False
    roles_to_grant: list[int] = Field(default_factory=list)
    roles_to_remove: list[int] = Field(default_factory=list)
    day_xp: int | None = None
    """The member's XP today (UTC) after this award; with week/month, what the period boards show."""
    week_xp: int | None = None
    month_xp: int | None = None

    @property
    def is_awarded(self) -> bool:
        """Whether the message counted (it may still be worth 0 XP in a channel with multiplier 0)."""
        return self.xp is not None


class RankCard(SQLModel):
    """Everything a rank card shows, read in one query."""

    guild_id: Snowflake
    user_id: Snowflake
    xp: int
    level: int
    message_count: int
    is_blacklisted: bool
    rank: int | None
    """1-based position on the leaderboard; None for blacklisted members."""
    ranked_members: int
    level_xp: int
    """Cumulative XP at which the current level started."""
    next_level_xp: int
    """Cumulative XP at which the next level starts."""

    @property
    def xp_into_level(self) -> int:
        """Progress inside the current level (the filled part of the bar)."""
        return self.xp - self.level_xp

    @property
    def xp_for_level(self) -> int:
        """Size of the current level (the whole bar)."""
        return self.next_level_xp - self.level_xp


class LeaderboardCursor(SQLModel):
    """Where the previous page ended; pass it back as ``after`` for the next page."""

    xp: int
    user_id: int
    rank: int


class LeaderboardEntry(SQLModel):
    rank: int
    user_id: Snowflake
    xp: int
    level: int
    message_count: int


class LeaderboardPage(SQLModel):
    entries: list[LeaderboardEntry]
    next: LeaderboardCursor | None
    """None on the last page."""


# -- level_config ---------------------------------------------------------------
class LevelConfigFields(SQLModel):
    """Every XP rule of a guild; shared by the table and the update schema."""

    xp_min: int = Field(
        default=DEFAULT_XP_MIN, ge=0, le=MAX_XP_PER_MESSAGE, sa_column_kwargs={"server_default": str(DEFAULT_XP_MIN)}
    )
    xp_max: int = Field(
        default=DEFAULT_XP_MAX, ge=0, le=MAX_XP_PER_MESSAGE, sa_column_kwargs={"server_default": str(DEFAULT_XP_MAX)}
    )
    cooldown_seconds: int = Field(
        default=DEFAULT_COOLDOWN_SECONDS,
        ge=0,
        le=MAX_COOLDOWN_SECONDS,
        sa_column_kwargs={"server_default": str(DEFAULT_COOLDOWN_SECONDS)},
    )
    curve: Annotated[LevelCurve, any_case(LevelCurve)] = Field(
        default=LevelCurve.MEE6,
        sa_type=pg_enum(LevelCurve, "level_curve"),
        sa_column_kwargs={"server_default": LevelCurve.MEE6.value},
    )
    role_mode: Annotated[LevelRoleMode, any_case(LevelRoleMode)] = Field(
        default=LevelRoleMode.STACK,
        sa_type=pg_enum(LevelRoleMode, "level_role_mode"),
        sa_column_kwargs={"server_default": LevelRoleMode.STACK.value},
    )
    ignored_channel_ids: list[Snowflake] = Field(
        default_factory=list,
        max_length=MAX_IGNORED_CHANNELS,
        sa_type=ARRAY(BigInteger),
        sa_column_kwargs={"server_default": "{}", "default": None},
    )

    @field_validator("xp_max")
    @classmethod
    def _at_least_xp_min(cls, value: int, info: ValidationInfo) -> int:
        xp_min = info.data.get("xp_min")
        if xp_min is not None and value < xp_min:
            msg = f"must be at least xp_min ({xp_min})"
            raise ValueError(msg)
        return value


class LevelConfig(LevelConfigFields, TimestampMixin, AuditMixin, CRUDMixin, table=True):
    """A guild's XP rules; a guild without a row uses the defaults above."""

    __tablename__ = "level_config"
    __table_args__ = (CheckConstraint("xp_min >= 0 AND xp_max >= xp_min", name="xp_range"),)

    guild_id: Snowflake = snowflake_field(primary_key=True, foreign_key=GUILD_FK, ondelete="CASCADE")


personal_data(LevelConfig, "Who set the guild's XP rules.", retention="while the rules exist", **STAMPS)


class LevelConfigRead(LevelConfigFields):
    model_config = READ_ONLY

    guild_id: Snowflake


# -- level_multiplier -------------------------------------------------------------
class LevelMultiplierBase(SQLModel):
    guild_id: Snowflake = snowflake_field(primary_key=True, foreign_key=GUILD_FK, ondelete="CASCADE")
    kind: Annotated[MultiplierKind, any_case(MultiplierKind)] = Field(
        primary_key=True, sa_type=pg_enum(MultiplierKind, "level_multiplier_kind")
    )
    target_id: Snowflake = snowflake_field(primary_key=True)
    multiplier: float = Field(ge=0, le=MAX_MULTIPLIER)


class LevelMultiplier(LevelMultiplierBase, CRUDMixin, table=True):
    """XP factor for members with a role, or for messages in a channel (0 = no XP there)."""

    __tablename__ = "level_multiplier"
    __table_args__ = (CheckConstraint(f"multiplier >= 0 AND multiplier <= {MAX_MULTIPLIER}", name="multiplier_range"),)


personal_data(
    LevelMultiplier,
    "XP multipliers of roles and channels; no user data.",
    retention="while the multiplier exists",
    not_user={"target_id": "a role or a channel (kind says which), never a user"},
)


class LevelMultiplierRead(LevelMultiplierBase):
    model_config = READ_ONLY


# -- level_role -------------------------------------------------------------------
class LevelRoleBase(SQLModel):
    guild_id: Snowflake = snowflake_field(primary_key=True, foreign_key=GUILD_FK, ondelete="CASCADE")
    level: int = Field(primary_key=True, ge=1, le=MAX_REWARD_LEVEL, sa_column_kwargs={"autoincrement": False})
    role_id: Snowflake = snowflake_field()


class LevelRole(LevelRoleBase, TimestampMixin, AuditMixin, CRUDMixin, table=True):
    """The role a member earns on reaching ``level``; one role per level, one level per role."""

    __tablename__ = "level_role"
    __table_args__ = (
        CheckConstraint("level >= 1", name="level_positive"),
        UniqueConstraint("guild_id", "role_id"),
    )


personal_data(LevelRole, "Who set a level-role reward.", retention="while the reward exists", **STAMPS)


class LevelRoleRead(LevelRoleBase):
    model_config = READ_ONLY
