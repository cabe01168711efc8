"""Premium domain (R16): tiers and their benefits, subscriptions, payments, trials and redeemable keys.

Design decisions:

- A tier (``premium_tier``) is named by a slug (``"pro"``) and ranked: its
  benefits are feature flags (short names the bot checks with ``require``)
  and named limits (``PremiumLimit``: the most snippets, autoresponders,
  ticket panels). A guild or user with no tier has ``FREE_LIMITS`` and no
  features. ``premium_sku`` maps a Discord SKU ID to a tier.
- A subscription belongs to a user or a guild (``owner_type`` + ``owner_id``;
  no foreign key: a user has no row, and the billing trail must outlive a
  guild leaving). Its ``external_id`` (the Discord entitlement ID, a Stripe
  subscription ID) is unique per ``source``, so a replayed event finds its row.
- Status is a state machine (``TRANSITIONS``); the controller refuses every
  other move and audits each allowed one in its transaction. Which statuses
  grant benefits: ``GRANTING``.
- ``event_phase`` / ``event_at`` order the Discord events applied to a row
  (ongoing < ended < deleted, then the event's time): an event that is not
  newer than what the row already reflects changes nothing.
- Trials: ``premium_trial``'s primary key is (owner, tier), so a second
  trial for the same owner and tier is impossible, whoever races.
- Payments never hold card data: an amount in minor units, an ISO 4217
  currency, the provider and its reference (unique per provider), and refunds.
- Keys are stored as the SHA-256 of the code: the code itself is shown once.
"""

import enum
import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import field_validator
from sqlalchemy import BigInteger, CheckConstraint, Identity, Index, Integer, SmallInteger, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from guildbase.db.mixins import AuditMixin, TimestampMixin
from guildbase.db.types import READ_ONLY, Snowflake, SnowflakeType, UTCDateTimeType, any_case, pg_enum, snowflake_field
from guildbase.db.validation import text as checked_text
from guildbase.errors import ValidationError, shown
from guildbase.models.currencies import ISO_4217
from guildbase.models.jobs import JobKind
from guildbase.privacy.policy import STAMPS, keep, personal_data

__all__ = [
    "FEATURE_PATTERN",
    "FREE_LIMITS",
    "GRANTING",
    "NEXT_STATUS",
    "PREMIUM_EXPIRY",
    "TERMINAL",
    "TRANSITIONS",
    "Benefits",
    "ExpiryPayload",
    "OwnerType",
    "PaymentStatus",
    "PremiumKey",
    "PremiumLimit",
    "PremiumSku",
    "PremiumTier",
    "PremiumTierCreate",
    "PremiumTierRead",
    "PremiumTrial",
    "Subscription",
    "SubscriptionRead",
    "SubscriptionSource",
    "SubscriptionStatus",
    "TrialConversion",
]

TIER_ID_PATTERN = r"^[a-z][a-z0-9_-]{0,31}$"
FEATURE_PATTERN = r"^[a-z][a-z0-9_.]{0,63}$"
EXTERNAL_ID_MAX_LENGTH = 200
PROVIDER_MAX_LENGTH = 40
DEFAULT_GRACE_SECONDS = 3 * 86_400
MAX_GRACE_SECONDS = 90 * 86_400
MAX_LIMIT = 1_000_000


class OwnerType(enum.StrEnum):
    """Who a subscription or payment belongs to."""

    USER = "user"
    GUILD = "guild"


class SubscriptionSource(enum.StrEnum):
    """Where a subscription came from: a Discord SKU, staff, a redeemed key, or an outside provider."""

    DISCORD = "discord"
    MANUAL = "manual"
    KEY = "key"
    EXTERNAL = "external"


class SubscriptionStatus(enum.StrEnum):
    """Where a subscription is in its life (``TRANSITIONS`` says how it may move)."""

    TRIALING = "trialing"
    ACTIVE = "active"
    GRACE = "grace"
    CANCELED = "canceled"
    EXPIRED = "expired"


_S = SubscriptionStatus  # the transition table below reads better with a short name
TRANSITIONS: dict[SubscriptionStatus, frozenset[SubscriptionStatus]] = {
    _S.TRIALING: frozenset({_S.ACTIVE, _S.CANCELED, _S.EXPIRED}),  # converted, canceled, trial ran out
    _S.ACTIVE: frozenset({_S.GRACE, _S.CANCELED}),  # period ended unpaid, refunded or removed
    _S.GRACE: frozenset({_S.ACTIVE, _S.EXPIRED, _S.CANCELED}),  # paid late, grace ran out, removed
    _S.EXPIRED: frozenset({_S.ACTIVE}),  # paid after it ran out: the same subscription resumes
    _S.CANCELED: frozenset(),  # final: a refund or a removal is never undone (a new purchase is a new row)
}
"""Every allowed status change; any pair not listed (a status to itself included) is refused."""
GRANTING = frozenset({_S.TRIALING, _S.ACTIVE, _S.GRACE})
"""Statuses whose tier counts towards the owner's benefits."""
TERMINAL = frozenset({_S.CANCELED})


class PaymentStatus(enum.StrEnum):
    """A payment's state at its provider."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REFUNDED = "refunded"
    PARTIALLY_REFUNDED = "partially_refunded"


class PremiumLimit(enum.StrEnum):
    """The named limits a tier raises; the domains ask ``db.premium.limit(guild_id, name)``."""

    MAX_SNIPPETS = "max_snippets"
    MAX_AUTORESPONDERS = "max_autoresponders"
    MAX_TICKET_PANELS = "max_ticket_panels"


FREE_LIMITS: dict[PremiumLimit, int] = {
    PremiumLimit.MAX_SNIPPETS: 25,
    PremiumLimit.MAX_AUTORESPONDERS: 10,
    PremiumLimit.MAX_TICKET_PANELS: 1,
}
"""What a guild or user without a tier may have; a tier's limit never lowers these."""

_OWNER = pg_enum(OwnerType, "premium_owner_type")
_STATUS = pg_enum(SubscriptionStatus, "subscription_status")


def _labels(values: frozenset[SubscriptionStatus]) -> str:
    return ", ".join(f"'{v.value}'" for v in sorted(values))


# -- tiers --------------------------------------------------------------------------
class PremiumTierFields(SQLModel):
    name: str = Field(min_length=1, max_length=100, sa_type=Text)
    rank: int = Field(ge=1, le=1000, sa_type=Integer)
    features: list[str] = Field(
        default_factory=list, sa_type=JSONB, sa_column_kwargs={"server_default": text("'[]'::jsonb")}
    )
    limits: dict[str, int] = Field(
        default_factory=dict, sa_type=JSONB, sa_column_kwargs={"server_default": text("'{}'::jsonb")}
    )
    grace_seconds: int = Field(
        default=DEFAULT_GRACE_SECONDS,
        ge=0,
        le=MAX_GRACE_SECONDS,
        sa_type=BigInteger,
        sa_column_kwargs={"server_default": text(str(DEFAULT_GRACE_SECONDS))},
    )


class PremiumTierCreate(PremiumTierFields):
    """A tier to store; feature names and limit names are checked before any write."""

    model_config = {"extra": "forbid"}

    tier_id: str = Field(regex=TIER_ID_PATTERN)

    @field_validator("features")
    @classmethod
    def _features(cls, value: list[str]) -> list[str]:
        for name in value:
            if not re.fullmatch(FEATURE_PATTERN, name):
                msg = f"must be names of a-z, 0-9, '_' and '.' starting with a letter, got {name[:40]!r}"
                raise ValueError(msg)
        return sorted(set(value))

    @field_validator("limits")
    @classmethod
    def _limits(cls, value: dict[str, int]) -> dict[str, int]:
        known = {limit.value for limit in PremiumLimit}
        for name, amount in value.items():
            if name not in known:
                msg = f"must name limits among {', '.join(sorted(known))}, got {name[:40]!r}"
                raise ValueError(msg)
            if type(amount) is not int or not 0 <= amount <= MAX_LIMIT:
                msg = f"{name} must be a whole number from 0 to 1000000, got {amount!r}"
                raise ValueError(msg)
        return dict(sorted(value.items()))


class PremiumTier(PremiumTierFields, TimestampMixin, AuditMixin, table=True):
    """One tier and its benefits."""

    __tablename__ = "premium_tier"
    __table_args__ = (
        CheckConstraint(f"tier_id ~ '{TIER_ID_PATTERN}'", name="tier_id_pattern"),
        CheckConstraint("rank BETWEEN 1 AND 1000", name="rank_range"),
        CheckConstraint(f"grace_seconds BETWEEN 0 AND {MAX_GRACE_SECONDS}", name="grace_range"),
        UniqueConstraint("rank", name="uq_premium_tier_rank"),
    )

    tier_id: str = Field(primary_key=True, sa_type=Text)


class PremiumTierRead(PremiumTierFields):
    model_config = READ_ONLY

    tier_id: str
    sku_ids: list[int] = Field(default_factory=list)


class PremiumSku(SQLModel, table=True):
    """A Discord SKU whose entitlements grant ``tier_id``."""

    __tablename__ = "premium_sku"

    sku_id: Snowflake = snowflake_field(primary_key=True)
    tier_id: str = Field(foreign_key="premium_tier.tier_id", ondelete="CASCADE", sa_type=Text, index=True)


# -- subscriptions ------------------------------------------------------------------
class Subscription(TimestampMixin, AuditMixin, table=True):
    """One subscription of a user or a guild to a tier."""

    __tablename__ = "subscription"
    __table_args__ = (
        UniqueConstraint("source", "external_id", name="uq_subscription_source_external_id"),
        CheckConstraint(f"char_length(external_id) BETWEEN 1 AND {EXTERNAL_ID_MAX_LENGTH}", name="external_id_length"),
        CheckConstraint("status <> 'grace' OR grace_until IS NOT NULL", name="grace_has_end"),
        CheckConstraint("status <> 'trialing' OR trial_end IS NOT NULL", name="trial_has_end"),
        CheckConstraint("status <> 'canceled' OR canceled_at IS NOT NULL", name="canceled_has_time"),
        CheckConstraint("event_phase BETWEEN 0 AND 2", name="event_phase_range"),
        # Benefits read an owner's granting subscriptions: small, partial.
        Index(
            "ix_subscription_owner_granting",
            "owner_type",
            "owner_id",
            postgresql_where=text(f"status IN ({_labels(GRANTING)})"),
        ),
        Index("ix_subscription_owner", "owner_type", "owner_id", "created_at"),
    )

    subscription_id: int | None = Field(default=None, primary_key=True, sa_type=BigInteger, sa_column_args=[Identity()])
    owner_type: OwnerType = Field(sa_type=_OWNER)
    owner_id: int = Field(sa_type=SnowflakeType)
    tier_id: str = Field(foreign_key="premium_tier.tier_id", ondelete="RESTRICT", sa_type=Text)
    source: SubscriptionSource = Field(sa_type=pg_enum(SubscriptionSource, "subscription_source"))
    external_id: str | None = Field(default=None, sa_type=Text)
    status: SubscriptionStatus = Field(sa_type=_STATUS)
    period_start: datetime | None = Field(default=None, sa_type=UTCDateTimeType)
    period_end: datetime | None = Field(default=None, sa_type=UTCDateTimeType)
    grace_until: datetime | None = Field(default=None, sa_type=UTCDateTimeType)
    canceled_at: datetime | None = Field(default=None, sa_type=UTCDateTimeType)
    trial_end: datetime | None = Field(default=None, sa_type=UTCDateTimeType)
    event_phase: int = Field(default=0, sa_type=SmallInteger, sa_column_kwargs={"server_default": text("0")})
    event_at: datetime | None = Field(default=None, sa_type=UTCDateTimeType)


class SubscriptionRead(SQLModel):
    model_config = READ_ONLY

    subscription_id: int
    owner_type: OwnerType
    owner_id: int
    tier_id: str
    source: SubscriptionSource
    external_id: str | None
    status: SubscriptionStatus
    period_start: datetime | None
    period_end: datetime | None
    grace_until: datetime | None
    canceled_at: datetime | None
    trial_end: datetime | None
    event_phase: int
    event_at: datetime | None
    created_at: datetime
    updated_at: datetime


# -- trials ------------------------------------------------------------------------
class PremiumTrial(SQLModel, table=True):
    """The one trial an owner may have of a tier; ``converted_at`` is set when it turned into a paid one."""

    __tablename__ = "premium_trial"
    owner_type: OwnerType = Field(primary_key=True, sa_type=_OWNER)
    owner_id: int = Field(primary_key=True, sa_type=SnowflakeType)
    tier_id: str = Field(primary_key=True, foreign_key="premium_tier.tier_id", ondelete="CASCADE", sa_type=Text)
    subscription_id: int = Field(foreign_key="subscription.subscription_id", ondelete="CASCADE", sa_type=BigInteger)
    started_at: datetime | None = Field(
        default=None, sa_type=UTCDateTimeType, sa_column_kwargs={"server_default": text("now()"), "nullable": False}
    )
    converted_at: datetime | None = Field(default=None, sa_type=UTCDateTimeType)


class TrialConversion(SQLModel):
    """Trials started in one month and how many of them became paid."""

    model_config = READ_ONLY

    month: str
    started: int
    converted: int

    @property
    def rate(self) -> float:
        """Converted trials over started ones (0.0 for a month with none)."""
        return self.converted / self.started if self.started else 0.0


def tier_slug(field: str, value: object) -> str:
    """A premium tier's ID: a slug of a-z, 0-9, '_' and '-' starting with a letter (``pro``, ``gold-2``)."""
    slug = checked_text(field, value, min_length=1, max_length=32)
    if not re.fullmatch(TIER_ID_PATTERN, slug):
        msg = f"must be a tier slug of a-z, 0-9, '_' and '-' starting with a letter, got {shown(slug)}"
        raise ValidationError.single(field, "pattern", msg)
    return slug


def check_currency(value: str) -> str:
    """An active ISO 4217 code, upper case (``"eur"`` → ``"EUR"``)."""
    code = value.upper()
    if code not in ISO_4217:
        msg = f"must be an ISO 4217 currency code such as EUR or USD, got {value[:40]!r}"
        raise ValueError(msg)
    return code


# -- keys ------------------------------------------------------------------------
class PremiumKey(TimestampMixin, AuditMixin, table=True):
    """A redeemable code for ``days`` of ``tier_id``, stored only as its SHA-256."""

    __tablename__ = "premium_key"
    __table_args__ = (
        CheckConstraint("days BETWEEN 1 AND 3660", name="days_range"),
        CheckConstraint("code_hash ~ '^[0-9a-f]{64}$'", name="code_hash_hex"),
        CheckConstraint("(redeemed_at IS NULL) = (subscription_id IS NULL)", name="redeemed_together"),
    )

    key_id: int | None = Field(default=None, primary_key=True, sa_type=BigInteger, sa_column_args=[Identity()])
    code_hash: str = Field(sa_type=Text, unique=True)
    tier_id: str = Field(foreign_key="premium_tier.tier_id", ondelete="CASCADE", sa_type=Text)
    days: int = Field(sa_type=Integer)
    redeemed_at: datetime | None = Field(default=None, sa_type=UTCDateTimeType)
    subscription_id: int | None = Field(
        default=None, foreign_key="subscription.subscription_id", ondelete="SET NULL", sa_type=BigInteger
    )


# -- what a check reads ------------------------------------------------------------
class Benefits(SQLModel):
    """The effective benefits of a guild and (optionally) a user: one frozen value, cached.

    Rule (docs/premium.md): the features are the union of every granting
    subscription's tier of the guild and of the user; each limit is the
    highest any of them gives, never below ``FREE_LIMITS``; ``tier_id`` is
    the highest-ranked tier among them (None: free).
    """

    model_config = READ_ONLY

    tier_id: str | None = None
    rank: int = 0
    features: frozenset[str] = frozenset()
    limits: dict[str, int] = Field(default_factory=lambda: {k.value: v for k, v in FREE_LIMITS.items()})

    def has(self, feature: str) -> bool:
        """Whether ``feature`` is among the benefits."""
        return feature in self.features

    def limit(self, name: "PremiumLimit | str") -> int:
        """The value of the named limit."""
        return self.limits[str(name)]


LimitInput = Annotated[PremiumLimit, any_case(PremiumLimit)]


def combine(tiers: list[Any]) -> Benefits:
    """The benefits of several tiers together (the rule above); ``[]`` is the free benefits."""
    if not tiers:
        return Benefits()
    best = max(tiers, key=lambda t: t.rank)
    features: set[str] = set()
    limits = {k.value: v for k, v in FREE_LIMITS.items()}
    for tier in tiers:
        features.update(tier.features)
        for name, amount in tier.limits.items():
            limits[name] = max(limits.get(name, 0), amount)
    return Benefits(tier_id=best.tier_id, rank=best.rank, features=frozenset(features), limits=limits)


# -- timed work ------------------------------------------------------------------------
class ExpiryPayload(SQLModel):
    """Move subscription ``subscription_id`` on from ``status`` if its deadline is still ``deadline``."""

    subscription_id: int = Field(gt=0)
    status: SubscriptionStatus
    deadline: datetime


PREMIUM_EXPIRY = JobKind("premium.expiry", ExpiryPayload)
"""Due at a subscription's deadline: active → grace at the period's end, trialing / grace → expired."""
NEXT_STATUS: dict[SubscriptionStatus, SubscriptionStatus] = {
    _S.ACTIVE: _S.GRACE,
    _S.TRIALING: _S.EXPIRED,
    _S.GRACE: _S.EXPIRED,
}
"""Where a subscription goes when its deadline passes."""


def deadline_of(status: SubscriptionStatus, row: Any) -> datetime | None:
    """When a subscription in ``status`` moves on by itself (None: it does not)."""
    if status is _S.ACTIVE:
        return row.period_end  # type: ignore[no-any-return]
    if status is _S.TRIALING:
        return row.trial_end  # type: ignore[no-any-return]
    if status is _S.GRACE:
        return row.grace_until  # type: ignore[no-any-return]
    return None


# -- personal data (R10.2): what erasing a user does to each table of this module ----------
personal_data(
    PremiumTier,
    "Who defined a premium tier.",
    retention="while the tier exists",
    not_user={"features": "the tier's feature flags", "limits": "the tier's named limits"},
    **STAMPS,
)

personal_data(
    PremiumSku,
    "A Discord SKU mapped to a tier.",
    retention="while mapped",
    not_user={"sku_id": "a Discord SKU ID, not a person"},
)

personal_data(
    Subscription,
    "Premium subscriptions of users and guilds.",
    retention="kept with the payments that paid for them",
    owner_id=keep("contract and accounting (GDPR Art. 6(1)(b), (c)): a subscription is the record of what was sold"),
    **STAMPS,
)

personal_data(
    PremiumTrial,
    "Which owners have had a trial of a tier.",
    retention="kept: one trial per owner and tier",
    not_user={"subscription_id": "the trial's subscription"},
    owner_id=keep("legitimate interest (GDPR Art. 6(1)(f)): one trial per owner, or erasure becomes endless trials"),
)

personal_data(
    PremiumKey,
    "Redeemable premium keys and who made them.",
    retention="until redeemed or deleted",
    not_user={"subscription_id": "the subscription a redeemed key started"},
    **STAMPS,
)
