"""Premium billing (R16.4): payment transactions and the ledger, and redeemable keys.

A payment row is what a provider told us (Stripe, Patreon, Discord's own
purchases): the amount in minor units, an ISO 4217 currency, the provider and
its reference, unique together, so the same webhook twice stores one row.
Never card data: there is no column for it. Refunds add up in SQL and never
pass the amount.

A key is a code worth ``days`` of a tier. Only its SHA-256 is stored; the code
is returned once, by ``create_key``. Redeeming is one ``UPDATE … WHERE
redeemed_at IS NULL``, so two people racing for one key get one subscription.
"""

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import case, func, literal, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col

from guildbase.controllers.base import Controller
from guildbase.controllers.premium_state import insert_subscription_in
from guildbase.db.audit import record_audit
from guildbase.db.mixins import actor_columns
from guildbase.db.rows import read_all
from guildbase.db.types import utcnow
from guildbase.db.validation import (
    integer,
    optional_positive,
    page_limit,
    snowflake,
    validate_enum,
)
from guildbase.db.validation import text as checked_text
from guildbase.errors import ConflictError, NotFoundError, ValidationError
from guildbase.models.audit import AuditAction, AuditEntity
from guildbase.models.premium import (
    EXTERNAL_ID_MAX_LENGTH,
    PROVIDER_MAX_LENGTH,
    OwnerType,
    PaymentStatus,
    PremiumKey,
    PremiumTier,
    SubscriptionRead,
    SubscriptionSource,
    SubscriptionStatus,
    check_currency,
    tier_slug,
)
from guildbase.models.premium_payments import PaymentTransaction, PaymentTransactionRead

__all__ = ["PremiumBilling", "hash_code"]

MAX_AMOUNT = 10**12
MAX_KEY_DAYS = 3660
LEDGER_MAX = 500
CODE_LENGTH = 64
_STATUS = PaymentTransaction.__table__.c.status.type  # type: ignore[attr-defined]
_REFUNDABLE = (PaymentStatus.SUCCEEDED, PaymentStatus.PARTIALLY_REFUNDED)
_PAYMENT_FIELDS = ("owner_type", "owner_id", "subscription_id", "amount_minor", "currency", "status", "refunded_minor")


def hash_code(code: str) -> str:
    """The stored form of a key: SHA-256 of the code without spaces or dashes, in capitals."""
    normal = "".join(code.split()).replace("-", "").upper()
    return hashlib.sha256(normal.encode()).hexdigest()


def _audit_payment(row: PaymentTransactionRead) -> dict[str, object]:
    return {name: getattr(row, name) for name in _PAYMENT_FIELDS}


class PremiumBilling(Controller):
    """Payments, the ledger and keys (part of ``db.premium``)."""

    async def record_payment(
        self,
        owner_type: OwnerType | str,
        owner_id: int,
        *,
        provider: str,
        provider_ref: str,
        amount_minor: int,
        currency: str,
        status: PaymentStatus | str = PaymentStatus.SUCCEEDED,
        subscription_id: int | None = None,
    ) -> PaymentTransactionRead:
        """Store a payment (or its new status); the same provider reference again updates, never duplicates.

        A reference already stored for another owner, amount or currency is a ``ConflictError``.
        """
        kind = validate_enum("owner_type", OwnerType, owner_type)
        owner_id = snowflake("owner_id", owner_id)
        provider = checked_text("provider", provider, min_length=1, max_length=PROVIDER_MAX_LENGTH)
        provider_ref = checked_text("provider_ref", provider_ref, min_length=1, max_length=EXTERNAL_ID_MAX_LENGTH)
        amount = integer("amount_minor", amount_minor, minimum=0, maximum=MAX_AMOUNT)
        code = checked_text("currency", currency, min_length=3, max_length=3)
        try:
            code = check_currency(code)
        except ValueError as error:
            raise ValidationError.single("currency", "iso_4217", str(error)) from None
        state = validate_enum("status", PaymentStatus, status)
        paid_for = optional_positive("subscription_id", subscription_id)
        key = (col(PaymentTransaction.provider) == provider, col(PaymentTransaction.provider_ref) == provider_ref)
        async with self._write() as session:
            found = (await session.scalars(select(PaymentTransaction).where(*key).with_for_update())).one_or_none()
            before = None if found is None else PaymentTransactionRead.model_validate(found)
            if before is not None and (before.owner_type, before.owner_id, before.amount_minor, before.currency) != (
                kind,
                owner_id,
                amount,
                code,
            ):
                msg = f"provider_ref: {provider} {provider_ref} is already stored for another owner or amount"
                raise ConflictError(msg)
            if before is not None and before.status is state:
                return before
            stmt = (
                insert(PaymentTransaction)
                .values(
                    owner_type=kind,
                    owner_id=owner_id,
                    subscription_id=paid_for,
                    provider=provider,
                    provider_ref=provider_ref,
                    amount_minor=amount,
                    currency=code,
                    status=state,
                )
                .on_conflict_do_update(
                    constraint="uq_payment_transaction_provider_ref",
                    set_={
                        "status": state,
                        "subscription_id": func.coalesce(paid_for, PaymentTransaction.subscription_id),
                        "updated_at": func.now(),
                    },
                )
                .returning(*PaymentTransaction.__table__.c)  # type: ignore[attr-defined]
            )
            row = PaymentTransactionRead.model_validate(dict((await session.execute(stmt)).one()._mapping))  # noqa: SLF001
            await record_audit(
                session,
                AuditAction.PAYMENT_RECORD,
                AuditEntity.PAYMENT,
                row.transaction_id,
                guild_id=owner_id if kind is OwnerType.GUILD else None,
                before={} if before is None else _audit_payment(before),
                after=_audit_payment(row),
            )
            return row

    async def refund(self, provider: str, provider_ref: str, *, amount_minor: int) -> PaymentTransactionRead:
        """Refund part or all of a payment; refunds never add up past its amount (``ConflictError``)."""
        provider = checked_text("provider", provider, min_length=1, max_length=PROVIDER_MAX_LENGTH)
        provider_ref = checked_text("provider_ref", provider_ref, min_length=1, max_length=EXTERNAL_ID_MAX_LENGTH)
        amount = integer("amount_minor", amount_minor, minimum=1, maximum=MAX_AMOUNT)
        refunded = col(PaymentTransaction.refunded_minor) + amount
        stmt = (
            update(PaymentTransaction)
            .where(
                col(PaymentTransaction.provider) == provider,
                col(PaymentTransaction.provider_ref) == provider_ref,
                col(PaymentTransaction.status).in_(_REFUNDABLE),
                refunded <= col(PaymentTransaction.amount_minor),
            )
            .values(
                refunded_minor=refunded,
                status=case(
                    (refunded == col(PaymentTransaction.amount_minor), literal(PaymentStatus.REFUNDED, _STATUS)),
                    else_=literal(PaymentStatus.PARTIALLY_REFUNDED, _STATUS),
                ),
                updated_at=func.now(),
            )
            .returning(*PaymentTransaction.__table__.c)  # type: ignore[attr-defined]
        )
        async with self._write() as session:
            done = (await session.execute(stmt)).one_or_none()
            if done is None:
                exists = await session.scalar(
                    select(func.count()).where(
                        col(PaymentTransaction.provider) == provider,
                        col(PaymentTransaction.provider_ref) == provider_ref,
                    )
                )
                if not exists:
                    msg = f"provider_ref: no payment {provider_ref!r} from {provider}"
                    raise NotFoundError(msg)
                msg = f"amount_minor: {amount} would refund more than was paid (or the payment did not succeed)"
                raise ConflictError(msg)
            row = PaymentTransactionRead.model_validate(dict(done._mapping))  # noqa: SLF001
            await record_audit(
                session,
                AuditAction.PAYMENT_REFUND,
                AuditEntity.PAYMENT,
                row.transaction_id,
                guild_id=row.owner_id if row.owner_type is OwnerType.GUILD else None,
                before={"refunded_minor": row.refunded_minor - amount},
                after={"refunded_minor": row.refunded_minor, "status": row.status},
            )
            return row

    async def ledger(
        self, owner_type: OwnerType | str, owner_id: int, *, limit: int = 50
    ) -> list[PaymentTransactionRead]:
        """An owner's payments, newest first."""
        kind, owner_id = validate_enum("owner_type", OwnerType, owner_type), snowflake("owner_id", owner_id)
        limit = page_limit(limit, LEDGER_MAX)
        stmt = (
            select(PaymentTransaction)
            .where(col(PaymentTransaction.owner_type) == kind, col(PaymentTransaction.owner_id) == owner_id)
            .order_by(col(PaymentTransaction.transaction_id).desc())
            .limit(limit)
        )
        async with self._read() as session:
            return read_all(PaymentTransactionRead, await session.scalars(stmt))

    async def create_key(self, tier_id: str, *, days: int) -> str:
        """A new key worth ``days`` of ``tier_id``; the code is returned once and only its hash is kept."""
        tier_id = tier_slug("tier_id", tier_id)
        days = integer("days", days, minimum=1, maximum=MAX_KEY_DAYS)
        raw = secrets.token_hex(10).upper()
        code = "-".join(raw[i : i + 5] for i in range(0, len(raw), 5))
        async with self._write() as session:
            if (await session.get(PremiumTier, tier_id)) is None:
                msg = f"tier_id: no tier {tier_id!r}"
                raise NotFoundError(msg)
            key_id = await session.scalar(
                insert(PremiumKey)
                .values(code_hash=hash_code(code), tier_id=tier_id, days=days, **actor_columns(PremiumKey, "insert"))
                .returning(col(PremiumKey.key_id))
            )
            assert key_id is not None  # noqa: S101 - RETURNING of an insert
            await record_audit(
                session,
                AuditAction.PREMIUM_KEY_CREATE,
                AuditEntity.PREMIUM_KEY,
                key_id,
                guild_id=None,
                after={"tier_id": tier_id, "days": days},
            )
        return code

    async def redeem_key(self, code: str, *, owner_type: OwnerType | str, owner_id: int) -> SubscriptionRead:
        """Turn a key into an active subscription of its tier for its days; a key works once."""
        code = checked_text("code", code, min_length=1, max_length=CODE_LENGTH)
        kind = validate_enum("owner_type", OwnerType, owner_type)
        owner_id = snowflake("owner_id", owner_id)
        digest = hash_code(code)
        now = utcnow()
        async with self._write() as session:
            key = (
                await session.scalars(select(PremiumKey).where(col(PremiumKey.code_hash) == digest).with_for_update())
            ).one_or_none()
            if key is None:
                msg = "code: no such key"
                raise NotFoundError(msg)
            if key.redeemed_at is not None:
                msg = "code: this key was already redeemed"
                raise ConflictError(msg)
            sub = await insert_subscription_in(
                self._db,
                session,
                {
                    "owner_type": kind,
                    "owner_id": owner_id,
                    "tier_id": key.tier_id,
                    "source": SubscriptionSource.KEY,
                    "external_id": f"key:{key.key_id}",
                    "status": SubscriptionStatus.ACTIVE,
                    "period_start": now,
                    "period_end": now + timedelta(days=key.days),
                },
            )
            await session.execute(
                update(PremiumKey)
                .where(col(PremiumKey.key_id) == key.key_id)
                .values(
                    redeemed_at=func.now(),
                    subscription_id=sub.subscription_id,
                    updated_at=func.now(),
                    **actor_columns(PremiumKey, "update"),
                )
            )
            await record_audit(
                session,
                AuditAction.PREMIUM_KEY_REDEEM,
                AuditEntity.PREMIUM_KEY,
                key.key_id or 0,
                guild_id=owner_id if kind is OwnerType.GUILD else None,
                before={"redeemed": False},
                after={"redeemed": True, "subscription_id": sub.subscription_id},
            )
            return sub
