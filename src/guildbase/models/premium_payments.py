"""Premium payments (R16.4): one row per provider reference, amounts in minor units, refunds, a ledger.

Never card data. Kept apart from ``models/premium.py`` (tiers, subscriptions, trials, keys).
"""

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Identity, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from guildbase.db.mixins import TimestampMixin
from guildbase.db.types import READ_ONLY, SnowflakeType, pg_enum
from guildbase.models.premium import (
    _OWNER,
    EXTERNAL_ID_MAX_LENGTH,
    PROVIDER_MAX_LENGTH,
    OwnerType,
    PaymentStatus,
)
from guildbase.privacy.policy import keep, personal_data


# -- payments ------------------------------------------------------------------------
class PaymentTransaction(TimestampMixin, table=True):
    """One payment at a provider; no card data, ever: the provider holds that."""

    __tablename__ = "payment_transaction"
    __table_args__ = (
        UniqueConstraint("provider", "provider_ref", name="uq_payment_transaction_provider_ref"),
        CheckConstraint("amount_minor >= 0", name="amount_not_negative"),
        CheckConstraint("refunded_minor BETWEEN 0 AND amount_minor", name="refund_within_amount"),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency_code"),
        CheckConstraint(f"char_length(provider) BETWEEN 1 AND {PROVIDER_MAX_LENGTH}", name="provider_length"),
        CheckConstraint(f"char_length(provider_ref) BETWEEN 1 AND {EXTERNAL_ID_MAX_LENGTH}", name="ref_length"),
        Index("ix_payment_transaction_owner", "owner_type", "owner_id", "created_at"),
    )

    transaction_id: int | None = Field(default=None, primary_key=True, sa_type=BigInteger, sa_column_args=[Identity()])
    owner_type: OwnerType = Field(sa_type=_OWNER)
    owner_id: int = Field(sa_type=SnowflakeType)
    subscription_id: int | None = Field(
        default=None, foreign_key="subscription.subscription_id", ondelete="SET NULL", sa_type=BigInteger
    )
    provider: str = Field(sa_type=Text)
    provider_ref: str = Field(sa_type=Text)
    amount_minor: int = Field(sa_type=BigInteger)
    currency: str = Field(sa_type=Text)
    status: PaymentStatus = Field(sa_type=pg_enum(PaymentStatus, "payment_status"))
    refunded_minor: int = Field(default=0, sa_type=BigInteger, sa_column_kwargs={"server_default": text("0")})


class PaymentTransactionRead(SQLModel):
    model_config = READ_ONLY

    transaction_id: int
    owner_type: OwnerType
    owner_id: int
    subscription_id: int | None
    provider: str
    provider_ref: str
    amount_minor: int
    currency: str
    status: PaymentStatus
    refunded_minor: int
    created_at: datetime
    updated_at: datetime


# -- personal data (R10.2) --------------------------------------------------------------
personal_data(
    PaymentTransaction,
    "Payments and refunds (amounts and provider references, never card data).",
    retention="as long as accounting law requires",
    not_user={"subscription_id": "the subscription the payment was for"},
    owner_id=keep("legal obligation (GDPR Art. 6(1)(c), 17(3)(b)): payment records are kept for tax and accounting"),
)
