"""Discord entitlements → subscriptions (R16.2): idempotent, ordered by their timestamps, reconciled.

Payloads are shaped as Discord sends them (IDs as strings, ISO times), with the
late-2024 semantics: an ongoing subscription has ``ends_at`` null, UPDATE
arrives when it ends with ``ends_at`` set, DELETE only for refunds and removals.
"""

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest

from guildbase import Database
from guildbase.db.types import utcnow
from guildbase.errors import ValidationError
from guildbase.models.audit import AuditEntity
from guildbase.models.premium import OwnerType, SubscriptionStatus
from guildbase.testing import ids

pytestmark = pytest.mark.clock  # ends_at and grace are measured from now

S = SubscriptionStatus
GRACE = timedelta(days=3)
SKU = ids()


async def sku(db: Database) -> None:
    await db.premium.set_tier("pro", name="Pro", rank=10, features=["custom_embeds"], grace=GRACE)
    await db.premium.map_sku(SKU, "pro")


def entitlement(
    entitlement_id: int, *, user_id: int | None = None, guild_id: int | None = None, ends_at: datetime | None = None
) -> dict[str, Any]:
    """An entitlement object as the gateway delivers it."""
    return {
        "id": str(entitlement_id),
        "sku_id": str(SKU),
        "application_id": str(ids()),
        "user_id": None if user_id is None else str(user_id),
        "guild_id": None if guild_id is None else str(guild_id),
        "type": 8,  # APPLICATION_SUBSCRIPTION
        "deleted": False,
        "starts_at": (utcnow() - timedelta(days=1)).isoformat(),
        "ends_at": None if ends_at is None else ends_at.isoformat(),
        "consumed": False,
    }


async def audit_count(db: Database, subscription_id: int) -> int:
    return len(await db.audit.for_entity(AuditEntity.SUBSCRIPTION, subscription_id, limit=100))


async def test_an_ongoing_entitlement_grants_its_tier_and_the_same_event_twice_changes_nothing(db: Database) -> None:
    await sku(db)
    guild, user = ids.take(2)
    event = entitlement(ids(), guild_id=guild, user_id=user)
    at = utcnow()
    first = await db.premium.entitlement_created(event, at=at)
    assert first is not None
    assert (first.owner_type, first.owner_id, first.status, first.period_end) == (
        OwnerType.GUILD,
        guild,
        S.ACTIVE,
        None,
    )
    rows = await audit_count(db, first.subscription_id)
    again = await db.premium.entitlement_created(event, at=at)
    assert again == first
    assert await audit_count(db, first.subscription_id) == rows
    assert len(await db.premium.subscriptions("guild", guild)) == 1
    assert (await db.premium.benefits(guild)).tier_id == "pro"


async def test_an_update_that_ends_it_then_a_late_create_resolves_by_the_events_order(db: Database) -> None:
    await sku(db)
    user = ids()
    entitlement_id = ids()
    ended_at = utcnow() - timedelta(minutes=5)
    created, updated = utcnow() - timedelta(days=1), utcnow()
    ended = await db.premium.entitlement_updated(
        entitlement(entitlement_id, user_id=user, ends_at=ended_at), at=updated
    )
    assert ended is not None
    assert (ended.status, ended.period_end, ended.grace_until) == (S.GRACE, ended_at, ended_at + GRACE)
    # The CREATE of the same entitlement arrives late (a RESUME replay): it cannot revive the ongoing state.
    late = await db.premium.entitlement_created(entitlement(entitlement_id, user_id=user), at=created)
    assert late == ended
    # The same pair the other way round ends in the same state.
    other = ids()
    await db.premium.entitlement_created(entitlement(other, user_id=user), at=created)
    in_order = await db.premium.entitlement_updated(entitlement(other, user_id=user, ends_at=ended_at), at=updated)
    assert in_order is not None
    assert (in_order.status, in_order.period_end, in_order.grace_until) == (S.GRACE, ended_at, ended_at + GRACE)


async def test_an_update_with_an_end_still_ahead_keeps_it_active_until_then(db: Database) -> None:
    await sku(db)
    user = ids()
    entitlement_id = ids()
    await db.premium.entitlement_created(entitlement(entitlement_id, user_id=user), at=utcnow())
    ends = utcnow() + timedelta(days=10)
    sub = await db.premium.entitlement_updated(entitlement(entitlement_id, user_id=user, ends_at=ends))
    assert sub is not None
    assert (sub.status, sub.period_end) == (S.ACTIVE, ends)
    (graced,) = await db.premium.expire_due(ends)
    assert graced.status is S.GRACE


async def test_a_delete_cancels_at_once_and_an_older_update_cannot_undo_it(db: Database) -> None:
    await sku(db)
    user = ids()
    entitlement_id = ids()
    event = entitlement(entitlement_id, user_id=user)
    await db.premium.entitlement_created(event, at=utcnow() - timedelta(hours=2))
    deleted = await db.premium.entitlement_deleted(event, at=utcnow() - timedelta(hours=1))
    assert deleted is not None
    assert (deleted.status, deleted.canceled_at is not None) == (S.CANCELED, True)
    assert (await db.premium.benefits(None, user)).tier_id is None
    late = await db.premium.entitlement_updated(
        entitlement(entitlement_id, user_id=user, ends_at=utcnow() + timedelta(days=1)), at=utcnow()
    )
    assert late == deleted, "a refunded entitlement stays canceled"
    assert await db.premium.entitlement_deleted(entitlement(ids(), user_id=user)) is None, "nothing to delete"


async def test_a_sku_with_no_tier_and_a_malformed_event_are_not_subscriptions(db: Database) -> None:
    await sku(db)
    unknown = entitlement(ids(), user_id=ids()) | {"sku_id": str(ids())}
    assert await db.premium.entitlement_created(unknown) is None
    with pytest.raises(ValidationError, match="entitlement"):
        await db.premium.entitlement_created({"id": "x", "sku_id": str(SKU)})
    with pytest.raises(ValidationError, match="user_id or a guild_id"):
        await db.premium.entitlement_created({"id": str(ids()), "sku_id": str(SKU)})


async def test_concurrent_deliveries_of_one_event_make_one_subscription(pooled_db: Database) -> None:
    await sku(pooled_db)
    user = ids()
    event = entitlement(ids(), user_id=user)
    at = utcnow()
    results = await asyncio.gather(*(pooled_db.premium.entitlement_created(event, at=at) for _ in range(12)))
    assert len({r.subscription_id for r in results if r is not None}) == 1
    assert len(await pooled_db.premium.subscriptions("user", user)) == 1


async def test_reconcile_repairs_drift_against_discords_list(db: Database) -> None:
    await sku(db)
    kept, missed, removed, ended = ids.take(4)
    kept_id, missed_id, removed_id, ended_id = ids.take(4)
    await db.premium.entitlement_created(entitlement(kept_id, user_id=kept))
    await db.premium.entitlement_created(entitlement(removed_id, user_id=removed))  # deleted while we were offline
    await db.premium.entitlement_created(entitlement(ended_id, guild_id=ended))  # ended while we were offline
    manual = await db.premium.subscribe("user", removed, "pro")  # not Discord's: reconcile leaves it alone
    ends_at = utcnow() - timedelta(hours=1)
    report = await db.premium.reconcile(
        [
            entitlement(kept_id, user_id=kept),
            entitlement(missed_id, user_id=missed),  # bought while we were offline
            entitlement(ended_id, guild_id=ended, ends_at=ends_at),
        ]
    )
    assert (report.applied, report.canceled, report.unchanged) == (2, 1, 1)
    statuses = {
        owner: [s.status for s in await db.premium.subscriptions(kind, owner) if s.source.value == "discord"]
        for kind, owner in (("user", kept), ("user", missed), ("user", removed), ("guild", ended))
    }
    assert statuses == {kept: [S.ACTIVE], missed: [S.ACTIVE], removed: [S.CANCELED], ended: [S.GRACE]}
    assert await db.premium.get(manual.subscription_id) == manual
    again = await db.premium.reconcile(
        [
            entitlement(kept_id, user_id=kept),
            entitlement(missed_id, user_id=missed),
            entitlement(ended_id, guild_id=ended, ends_at=ends_at),
        ]
    )
    assert (again.applied, again.canceled, again.unchanged) == (0, 0, 3), "a second reconcile finds nothing to repair"
