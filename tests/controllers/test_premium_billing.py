"""Payments, the ledger (R16.4) and redeemable keys: idempotent, checked, never card data, codes hashed."""

import asyncio

import pytest
from sqlalchemy import text

from guildbase import Database
from guildbase.errors import ConflictError, NotFoundError, ValidationError
from guildbase.models.audit import AuditEntity
from guildbase.models.premium import PaymentStatus, SubscriptionRead, SubscriptionStatus
from guildbase.models.premium_payments import PaymentTransaction
from guildbase.testing import ids

pytestmark = pytest.mark.clock  # key periods are measured from now


async def tier(db: Database) -> None:
    await db.premium.set_tier("pro", name="Pro", rank=10, features=["custom_embeds"])


async def test_a_payment_is_stored_once_per_provider_reference_and_listed_in_the_ledger(db: Database) -> None:
    await tier(db)
    user = ids()
    sub = await db.premium.subscribe("user", user, "pro", source="external", external_id="sub_1")
    pending = await db.premium.record_payment(
        "user", user, provider="stripe", provider_ref="pi_1", amount_minor=499, currency="eur", status="pending"
    )
    assert (pending.currency, pending.status, pending.subscription_id) == ("EUR", PaymentStatus.PENDING, None)
    paid = await db.premium.record_payment(
        "user",
        user,
        provider="stripe",
        provider_ref="pi_1",
        amount_minor=499,
        currency="EUR",
        subscription_id=sub.subscription_id,
    )
    assert (paid.transaction_id, paid.status, paid.subscription_id) == (
        pending.transaction_id,
        PaymentStatus.SUCCEEDED,
        sub.subscription_id,
    )
    again = await db.premium.record_payment(
        "user", user, provider="stripe", provider_ref="pi_1", amount_minor=499, currency="EUR"
    )
    assert again == paid, "the same webhook twice changes nothing"
    await db.premium.record_payment(
        "user", user, provider="patreon", provider_ref="pi_1", amount_minor=300, currency="USD"
    )  # another provider may reuse the reference
    ledger = await db.premium.ledger("user", user)
    assert [(t.provider, t.amount_minor, t.currency) for t in ledger] == [
        ("patreon", 300, "USD"),
        ("stripe", 499, "EUR"),
    ]
    assert await db.premium.ledger("user", ids()) == []
    audited = await db.audit.for_entity(AuditEntity.PAYMENT, paid.transaction_id)
    assert len(audited) == 2, "one row per change: pending, then succeeded"


async def test_a_reference_reused_for_another_amount_or_owner_is_refused(db: Database) -> None:
    user = ids()
    await db.premium.record_payment(
        "user", user, provider="stripe", provider_ref="pi_2", amount_minor=100, currency="EUR"
    )
    with pytest.raises(ConflictError, match="provider_ref"):
        await db.premium.record_payment(
            "user", user, provider="stripe", provider_ref="pi_2", amount_minor=200, currency="EUR"
        )
    with pytest.raises(ConflictError, match="provider_ref"):
        await db.premium.record_payment(
            "guild", user, provider="stripe", provider_ref="pi_2", amount_minor=100, currency="EUR"
        )


@pytest.mark.parametrize("currency", ["XYZ", "EURO", "€", "usd1"])
async def test_a_currency_outside_iso_4217_is_refused_by_name(db: Database, currency: str) -> None:
    with pytest.raises(ValidationError, match="currency") as raised:
        await db.premium.record_payment(
            "user", ids(), provider="stripe", provider_ref="pi_3", amount_minor=100, currency=currency
        )
    assert raised.value.fields == ["currency"]


async def test_refunds_add_up_and_never_pass_the_amount(db: Database) -> None:
    user = ids()
    await db.premium.record_payment(
        "user", user, provider="stripe", provider_ref="pi_4", amount_minor=1000, currency="JPY"
    )
    part = await db.premium.refund("stripe", "pi_4", amount_minor=300)
    assert (part.refunded_minor, part.status) == (300, PaymentStatus.PARTIALLY_REFUNDED)
    with pytest.raises(ConflictError, match="more than was paid"):
        await db.premium.refund("stripe", "pi_4", amount_minor=701)
    full = await db.premium.refund("stripe", "pi_4", amount_minor=700)
    assert (full.refunded_minor, full.status) == (1000, PaymentStatus.REFUNDED)
    with pytest.raises(ConflictError):
        await db.premium.refund("stripe", "pi_4", amount_minor=1)
    with pytest.raises(NotFoundError, match="provider_ref"):
        await db.premium.refund("stripe", "pi_missing", amount_minor=1)


async def test_concurrent_refunds_never_pass_the_amount(pooled_db: Database) -> None:
    await pooled_db.premium.record_payment(
        "user", ids(), provider="stripe", provider_ref="pi_5", amount_minor=1000, currency="EUR"
    )
    outcomes = await asyncio.gather(
        *(pooled_db.premium.refund("stripe", "pi_5", amount_minor=300) for _ in range(8)), return_exceptions=True
    )
    assert sum(1 for o in outcomes if not isinstance(o, BaseException)) == 3
    (row,) = await pooled_db.premium.ledger(
        "user", next(o for o in outcomes if not isinstance(o, BaseException)).owner_id
    )  # type: ignore[union-attr]
    assert (row.refunded_minor, row.status) == (900, PaymentStatus.PARTIALLY_REFUNDED)


def test_a_payment_has_no_column_for_card_data() -> None:
    columns = set(PaymentTransaction.__table__.c.keys())  # type: ignore[attr-defined]
    assert not {c for c in columns if any(w in c for w in ("card", "pan", "cvc", "cvv", "expiry", "iban"))}


async def test_a_key_is_stored_hashed_and_redeems_once(db: Database) -> None:
    await tier(db)
    guild = ids()
    code = await db.premium.create_key("pro", days=30)
    async with db.session() as session:
        stored = (await session.execute(text("SELECT code_hash FROM premium_key"))).scalars().all()
    assert code not in stored
    assert code.replace("-", "") not in " ".join(stored)
    sub = await db.premium.redeem_key(f"  {code.lower()} ", owner_type="guild", owner_id=guild)  # as a person types it
    assert (sub.status, sub.tier_id, sub.source.value) == (SubscriptionStatus.ACTIVE, "pro", "key")
    assert sub.period_end is not None
    assert sub.period_start is not None
    assert (sub.period_end - sub.period_start).days == 30
    assert (await db.premium.benefits(guild)).tier_id == "pro"
    with pytest.raises(ConflictError, match="already redeemed"):
        await db.premium.redeem_key(code, owner_type="guild", owner_id=ids())
    with pytest.raises(NotFoundError, match="no such key"):
        await db.premium.redeem_key("NOT-A-KEY", owner_type="guild", owner_id=guild)


async def test_racing_for_one_key_gives_one_subscription(pooled_db: Database) -> None:
    await tier(pooled_db)
    code = await pooled_db.premium.create_key("pro", days=7)
    outcomes = await asyncio.gather(
        *(pooled_db.premium.redeem_key(code, owner_type="user", owner_id=ids()) for _ in range(10)),
        return_exceptions=True,
    )
    assert sum(isinstance(o, SubscriptionRead) for o in outcomes) == 1
    assert sum(isinstance(o, ConflictError) for o in outcomes) == 9
