"""Moderation settings (R4.3): per-guild punishment presets the moderation commands apply.

Three tables, each guild-leading:

- ``mod_config``: one row per guild with the switches (DM the user about the
  action, require a reason). A guild without a row has the defaults (both off).
- ``mod_action_config``: one row per (guild, case type) holding what is set
  for that type: its default duration (only types that may expire: TEMPBAN,
  TIMEOUT, JAIL) and the log channel its cases are posted to. A row whose
  settings are all cleared is deleted, so a row always says something.
- ``mod_escalation_rule``: "``warn_count`` warns within ``window`` → ``action``
  (for ``duration``)", at most one rule per warn count in a guild. The rule
  fires on the warn that makes the count of the user's live warns inside the
  window *equal* its ``warn_count``: crossing the threshold, not staying above
  it, so the fourth warn after "3 → timeout" does not time out again, and a
  count that falls back below (warns aging out, a warn voided) can cross again.
  Escalation is applied by the case controller in the warn's own transaction
  (``controllers/escalation.py``).

Durations are stored as whole seconds (``BIGINT``, positive by CHECK); the
read models also give them as ``timedelta``.
"""

from datetime import datetime, timedelta
from typing import Annotated

from pydantic import ValidationInfo, field_validator
from sqlalchemy import BigInteger, CheckConstraint, Integer, text
from sqlmodel import Field, SQLModel

from guildbase.db.crud import CRUDMixin
from guildbase.db.mixins import AuditMixin, TimestampMixin
from guildbase.db.types import READ_ONLY, Snowflake, any_case, pg_enum, snowflake_field
from guildbase.models.core import GUILD_FK
from guildbase.models.moderation import MAY_EXPIRE, CaseType
from guildbase.privacy.policy import STAMPS, personal_data

ESCALATION_ACTIONS = frozenset({CaseType.TIMEOUT, CaseType.KICK, CaseType.TEMPBAN, CaseType.BAN})
"""What a rule may do: actions that need nothing but the user (a JAIL would need the roles to save)."""

TIMED_ACTIONS = frozenset({CaseType.TIMEOUT, CaseType.TEMPBAN})
"""Escalation actions that need a duration (and only these take one)."""

MIN_WARN_COUNT = 2
MAX_WARN_COUNT = 100
MAX_WINDOW = timedelta(days=366)
MAX_TIMEOUT = timedelta(days=28)  # Discord's limit on a member timeout
MAX_DURATION = timedelta(days=366 * 5)
DEFAULT_IS_USER_NOTIFIED = False
DEFAULT_IS_REASON_REQUIRED = False


def _labels(types: frozenset[CaseType]) -> str:
    return ", ".join(f"'{t.value}'" for t in sorted(types))


def seconds(delta: timedelta | None) -> int | None:
    """A duration as whole seconds (rounded down), as stored; None stays None."""
    return None if delta is None else int(delta.total_seconds())


CaseTypeInput = Annotated[CaseType, any_case(CaseType)]


# -- mod_config ---------------------------------------------------------------------
class ModConfigBase(SQLModel):
    is_user_notified: bool = Field(default=DEFAULT_IS_USER_NOTIFIED, sa_column_kwargs={"server_default": text("false")})
    is_reason_required: bool = Field(
        default=DEFAULT_IS_REASON_REQUIRED, sa_column_kwargs={"server_default": text("false")}
    )


class ModConfigUpdate(SQLModel):
    """The switches ``db.mod_settings.configure`` changes; unknown names are refused."""

    model_config = {"extra": "forbid"}

    is_user_notified: bool | None = None
    is_reason_required: bool | None = None


class ModConfig(ModConfigBase, TimestampMixin, AuditMixin, CRUDMixin, table=True):
    """A guild's moderation switches; a guild without a row has the defaults."""

    __tablename__ = "mod_config"

    guild_id: Snowflake = snowflake_field(primary_key=True, foreign_key=GUILD_FK, ondelete="CASCADE")


personal_data(ModConfig, "Who set the moderation switches.", retention="while they exist", **STAMPS)


# -- mod_action_config --------------------------------------------------------------
class ModActionConfigBase(SQLModel):
    guild_id: Snowflake = snowflake_field(primary_key=True, foreign_key=GUILD_FK, ondelete="CASCADE")
    type: CaseTypeInput = Field(primary_key=True, sa_type=pg_enum(CaseType, "mod_case_type"))
    default_duration_seconds: int | None = Field(
        default=None, gt=0, le=int(MAX_DURATION.total_seconds()), sa_type=BigInteger
    )
    log_channel_id: Snowflake | None = snowflake_field(default=None)


class ModActionConfigCreate(ModActionConfigBase):
    """The settings of one case type to store; a duration only for types that can expire."""

    model_config = {"extra": "forbid"}

    @field_validator("default_duration_seconds")
    @classmethod
    def _duration_fits_type(cls, value: int | None, info: ValidationInfo) -> int | None:
        case_type = info.data.get("type")
        if case_type is None or value is None:
            return value
        if case_type not in MAY_EXPIRE:
            msg = f"must be empty for {case_type.value}; only {', '.join(sorted(MAY_EXPIRE))} last a while"
            raise ValueError(msg)
        if case_type is CaseType.TIMEOUT and value > MAX_TIMEOUT.total_seconds():
            msg = f"must be at most {MAX_TIMEOUT.days} days for a timeout (Discord's limit), got {value} seconds"
            raise ValueError(msg)
        return value


class ModActionConfig(ModActionConfigBase, TimestampMixin, AuditMixin, CRUDMixin, table=True):
    """What one case type does in one guild: its default duration and its log channel."""

    __tablename__ = "mod_action_config"
    __table_args__ = (
        CheckConstraint("default_duration_seconds > 0", name="duration_positive"),
        CheckConstraint(
            f"default_duration_seconds IS NULL OR type IN ({_labels(MAY_EXPIRE)})", name="duration_allowed"
        ),
        CheckConstraint("num_nonnulls(default_duration_seconds, log_channel_id) > 0", name="says_something"),
    )


personal_data(ModActionConfig, "Who set a case type's duration or log channel.", retention="while it exists", **STAMPS)


class ModActionRead(ModActionConfigBase):
    model_config = READ_ONLY

    @property
    def default_duration(self) -> timedelta | None:
        """``default_duration_seconds`` as a ``timedelta``."""
        return None if self.default_duration_seconds is None else timedelta(seconds=self.default_duration_seconds)


# -- mod_escalation_rule -------------------------------------------------------------
class EscalationRuleBase(SQLModel):
    guild_id: Snowflake = snowflake_field(primary_key=True, foreign_key=GUILD_FK, ondelete="CASCADE")
    warn_count: int = Field(
        primary_key=True,
        ge=MIN_WARN_COUNT,
        le=MAX_WARN_COUNT,
        sa_type=Integer,
        sa_column_kwargs={"autoincrement": False},
    )
    window_seconds: int = Field(gt=0, le=int(MAX_WINDOW.total_seconds()), sa_type=BigInteger)
    action: CaseTypeInput = Field(sa_type=pg_enum(CaseType, "mod_case_type"))
    duration_seconds: int | None = Field(default=None, gt=0, le=int(MAX_DURATION.total_seconds()), sa_type=BigInteger)


class EscalationRuleCreate(EscalationRuleBase):
    """A rule to store; the action and its duration are checked together, before any write."""

    model_config = {"extra": "forbid"}

    @field_validator("action")
    @classmethod
    def _escalation_action(cls, value: CaseType) -> CaseType:
        if value not in ESCALATION_ACTIONS:
            msg = f"must be one of {', '.join(sorted(ESCALATION_ACTIONS))}, got {value.value}"
            raise ValueError(msg)
        return value

    @field_validator("duration_seconds")
    @classmethod
    def _duration_fits_action(cls, value: int | None, info: ValidationInfo) -> int | None:
        action = info.data.get("action")
        if action is None:  # the action itself was invalid and is reported on its own
            return value
        if action in TIMED_ACTIONS and value is None:
            msg = f"is required for a {action.value} rule (how long it lasts)"
            raise ValueError(msg)
        if action not in TIMED_ACTIONS and value is not None:
            msg = f"must be empty for a {action.value} rule; only {', '.join(sorted(TIMED_ACTIONS))} last a while"
            raise ValueError(msg)
        if action is CaseType.TIMEOUT and value is not None and value > MAX_TIMEOUT.total_seconds():
            msg = f"must be at most {MAX_TIMEOUT.days} days for a timeout (Discord's limit), got {value} seconds"
            raise ValueError(msg)
        return value


class EscalationRule(EscalationRuleBase, TimestampMixin, AuditMixin, CRUDMixin, table=True):
    """One escalation step of a guild; its key is the warn count that triggers it."""

    __tablename__ = "mod_escalation_rule"
    __table_args__ = (
        CheckConstraint(f"warn_count >= {MIN_WARN_COUNT}", name="warn_count_range"),
        CheckConstraint("window_seconds > 0", name="window_positive"),
        CheckConstraint("duration_seconds > 0", name="duration_positive"),
        CheckConstraint(f"action IN ({_labels(ESCALATION_ACTIONS)})", name="action_allowed"),
        CheckConstraint(
            f"(action IN ({_labels(TIMED_ACTIONS)})) = (duration_seconds IS NOT NULL)", name="duration_matches_action"
        ),
    )


personal_data(EscalationRule, "Who set an escalation rule.", retention="while it exists", **STAMPS)


class EscalationRuleRead(EscalationRuleBase):
    model_config = READ_ONLY

    created_at: datetime
    updated_at: datetime
    created_by: int | None = None
    updated_by: int | None = None

    @property
    def window(self) -> timedelta:
        """How far back warns are counted."""
        return timedelta(seconds=self.window_seconds)

    @property
    def duration(self) -> timedelta | None:
        """How long the timeout or tempban lasts (None for kick and ban)."""
        return None if self.duration_seconds is None else timedelta(seconds=self.duration_seconds)


# -- what the moderation commands read ---------------------------------------------------
class ModSettingsRead(SQLModel):
    """Everything the moderation commands of one guild apply, read (and cached) as one value.

    ``rules`` are ordered by ``warn_count``, highest first: the order they are checked in.
    """

    model_config = READ_ONLY

    guild_id: Snowflake
    is_user_notified: bool = DEFAULT_IS_USER_NOTIFIED
    is_reason_required: bool = DEFAULT_IS_REASON_REQUIRED
    actions: list[ModActionRead] = Field(default_factory=list)
    rules: list[EscalationRuleRead] = Field(default_factory=list)

    def default_duration(self, case_type: CaseType) -> timedelta | None:
        """The guild's default duration for ``case_type``, or None."""
        action = self._action(case_type)
        return None if action is None else action.default_duration

    def log_channel(self, case_type: CaseType) -> int | None:
        """The channel set for ``case_type``'s cases, or None (the caller falls back to the mod log)."""
        action = self._action(case_type)
        return None if action is None else action.log_channel_id

    def _action(self, case_type: CaseType) -> ModActionRead | None:
        return next((a for a in self.actions if a.type is case_type), None)
