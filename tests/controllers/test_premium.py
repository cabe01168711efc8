"""Premium (R16): the state machine, benefits and their cache, expiry on a moved clock, trials.

Entitlement sync is in ``test_premium_sync.py``, payments and keys in
``test_premium_billing.py``; the expiry jobs through the real runner in
``tests/jobs/test_premium_expiry.py``.
"""

import asyncio
import itertools
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlmodel import col

from guildbase import Database
from guildbase.db.types import utcnow
from guildbase.errors import ConflictError, NotFoundError, PremiumRequiredError, TransitionRefusedError, ValidationError
from guildbase.models.audit import AuditAction, AuditEntity
from guildbase.models.premium import (
    FREE_LIMITS,
    TRANSITIONS,
    PremiumLimit,
    PremiumTrial,
    Subscription,
    SubscriptionRead,
    SubscriptionStatus,
)
from guildbase.testing import ids, statements_on

pytestmark = pytest.mark.clock  # periods, trials and graces are measured from now

S = SubscriptionStatus
GRACE = timedelta(days=2)


async def tiers(db: Database) -> None:
    """Two tiers: ``pro`` (custom embeds, 100 snippets) and ``ultra`` (everything, more of it)."""
    await db.premium.set_tier(
        "pro", name="Pro", rank=10, features=["custom_embeds"], limits={"max_snippets": 100}, grace=GRACE
    )
    await db.premium.set_tier(
        "ultra",
        name="Ultra",
        rank=20,
        features=["custom_embeds", "ai_summaries"],
        limits={"max_snippets": 500, "max_ticket_panels": 10},
        grace=GRACE,
    )


async def in_status(db: Database, status: SubscriptionStatus) -> SubscriptionRead:
    """A fresh subscription of a new owner, brought to ``status`` by allowed moves."""
    owner = ids()
    if status is S.TRIALING:
        return await db.premium.start_trial("user", owner, "pro", days=7)
    sub = await db.premium.subscribe("user", owner, "pro")
    path = {S.ACTIVE: [], S.GRACE: [S.GRACE], S.CANCELED: [S.CANCELED], S.EXPIRED: [S.GRACE, S.EXPIRED]}[status]
    for step in path:
        sub = await db.premium.transition(sub.subscription_id, step)
    assert sub.status is status
    return sub


async def status_rows(db: Database, subscription_id: int) -> list[tuple[str, str]]:
    found = await db.audit.for_entity(AuditEntity.SUBSCRIPTION, subscription_id, limit=50)
    rows = sorted(found, key=lambda r: r.audit_id)
    return [(r.action.value, str(r.after.get("status"))) for r in rows if r.action is AuditAction.SUBSCRIPTION_STATUS]


def trials_of(owner: int) -> Any:
    return select(func.count()).select_from(PremiumTrial).where(col(PremiumTrial.owner_id) == owner)


def subscriptions_of(owner: int) -> Any:
    return select(func.count()).select_from(Subscription).where(col(Subscription.owner_id) == owner)


# -- the state machine ------------------------------------------------------------------------
@pytest.mark.parametrize(("before", "after"), list(itertools.product(SubscriptionStatus, SubscriptionStatus)))
async def test_every_status_pair_is_allowed_or_refused_as_the_state_machine_says(
    db: Database, before: SubscriptionStatus, after: SubscriptionStatus
) -> None:
    await tiers(db)
    sub = await in_status(db, before)
    audited = await status_rows(db, sub.subscription_id)
    if after in TRANSITIONS[before]:
        moved = await db.premium.transition(sub.subscription_id, after)
        assert moved.status is after
        assert await status_rows(db, sub.subscription_id) == [*audited, ("subscription_status", after.value)]
        if after is S.GRACE:
            assert moved.grace_until is not None
        if after is S.CANCELED:
            assert moved.canceled_at is not None
    else:
        with pytest.raises(TransitionRefusedError, match=f"cannot go from {before.value} to {after.value}"):
            await db.premium.transition(sub.subscription_id, after)
        stored = await db.premium.get(sub.subscription_id)
        assert stored == sub, "a refused move writes nothing"
        assert await status_rows(db, sub.subscription_id) == audited, "and leaves no audit row"


def test_the_state_machine_has_one_final_status_and_no_self_moves() -> None:
    assert [s for s in SubscriptionStatus if not TRANSITIONS[s]] == [S.CANCELED]
    assert all(s not in TRANSITIONS[s] for s in SubscriptionStatus)


async def test_a_move_and_its_audit_row_roll_back_together(db: Database) -> None:
    await tiers(db)
    end = utcnow() + timedelta(hours=1)
    sub = await db.premium.subscribe("guild", ids(), "pro", period_end=end)
    with pytest.raises(RuntimeError):
        async with db.session() as session:
            moved = await db.premium.expire_in(session, sub.subscription_id, S.ACTIVE, end)
            assert moved is not None
            assert moved.status is S.GRACE
            raise RuntimeError
    assert (await db.premium.get(sub.subscription_id)) == sub
    assert await status_rows(db, sub.subscription_id) == []


# -- benefits -------------------------------------------------------------------------------------
async def test_the_guilds_and_the_users_tiers_combine_by_the_documented_rule(db: Database) -> None:
    await tiers(db)
    guild, user, other = ids.take(3)
    free = await db.premium.benefits(guild, user)
    free_limits = {k.value: v for k, v in FREE_LIMITS.items()}
    assert (free.tier_id, free.features, free.limits) == (None, frozenset(), free_limits)
    await db.premium.subscribe("guild", guild, "pro")
    await db.premium.subscribe("user", user, "ultra")
    both = await db.premium.benefits(guild, user)
    assert both.tier_id == "ultra"
    assert both.features == {"custom_embeds", "ai_summaries"}
    assert both.limits == {"max_snippets": 500, "max_autoresponders": 10, "max_ticket_panels": 10}
    guild_only = await db.premium.benefits(guild, other)
    assert (guild_only.tier_id, guild_only.limit("max_snippets"), guild_only.limit("max_ticket_panels")) == (
        "pro",
        100,
        1,
    )
    personal = await db.premium.benefits(None, user)
    assert personal.tier_id == "ultra"
    # A guild-wide quota is the guild's own: the member's personal tier does not raise it.
    assert await db.premium.limit(guild, "max_snippets") == 100
    assert await db.premium.limit(ids(), PremiumLimit.MAX_TICKET_PANELS) == FREE_LIMITS[PremiumLimit.MAX_TICKET_PANELS]


async def test_require_names_the_tier_that_has_the_feature(db: Database) -> None:
    await tiers(db)
    guild, user = ids.take(2)
    with pytest.raises(PremiumRequiredError, match="needs the Pro tier") as raised:
        await db.premium.require("custom_embeds", guild_id=guild, user_id=user)
    assert (raised.value.feature, raised.value.tier_id) == ("custom_embeds", "pro")
    with pytest.raises(PremiumRequiredError, match="no tier includes it"):
        await db.premium.require("time_travel", guild_id=guild)
    await db.premium.subscribe("guild", guild, "pro")
    assert (await db.premium.require("custom_embeds", guild_id=guild, user_id=user)).tier_id == "pro"
    with pytest.raises(PremiumRequiredError, match="Ultra") as raised:
        await db.premium.require("ai_summaries", guild_id=guild, user_id=user)
    assert raised.value.tier_id == "ultra"


async def test_bad_tiers_name_the_field_and_write_nothing(db: Database) -> None:
    with pytest.raises(ValidationError, match="limits"):
        await db.premium.set_tier("pro", name="Pro", rank=1, limits={"max_everything": 5})
    with pytest.raises(ValidationError, match="features"):
        await db.premium.set_tier("pro", name="Pro", rank=1, features=["Has Spaces"])
    with pytest.raises(ValidationError, match="tier_id"):
        await db.premium.set_tier("Pro!", name="Pro", rank=1)
    with pytest.raises(NotFoundError, match="tier_id"):
        await db.premium.subscribe("user", ids(), "pro")
    assert await db.premium.tiers() == []


async def test_a_cache_hit_runs_no_sql_and_every_change_drops_it_at_once(pooled_db: Database) -> None:
    db = pooled_db
    await tiers(db)
    guild, user = ids.take(2)
    assert (await db.premium.benefits(guild, user)).tier_id is None
    async with statements_on(db.engine) as statements:
        for _ in range(3):
            assert (await db.premium.benefits(guild, user)).tier_id is None
    assert statements == []
    sub = await db.premium.subscribe("user", user, "pro")
    assert (await db.premium.benefits(guild, user)).tier_id == "pro", "the very next check sees the subscription"
    await db.premium.set_tier("pro", name="Pro", rank=10, features=["custom_embeds", "stickers"], grace=GRACE)
    assert "stickers" in (await db.premium.benefits(guild, user)).features, "a tier change reaches cached owners"
    await db.premium.transition(sub.subscription_id, "canceled")
    assert (await db.premium.benefits(guild, user)).tier_id is None, "and a cancel takes it away at once"


async def test_another_process_drops_its_cached_benefits_when_one_writes(pooled_db: Database) -> None:
    other = await Database(pooled_db.settings).connect()
    try:
        await tiers(pooled_db)
        guild = ids()
        assert (await other.premium.benefits(guild)).tier_id is None  # cached in the other process
        await pooled_db.premium.subscribe("guild", guild, "ultra")
        for _ in range(100):  # the invalidation travels over Redis pub/sub
            if (await other.premium.benefits(guild)).tier_id == "ultra":
                break
            await asyncio.sleep(0.02)
        assert (await other.premium.benefits(guild)).tier_id == "ultra"
    finally:
        await other.close()


# -- expiry on a moved clock -------------------------------------------------------------------
async def test_a_period_end_moves_to_grace_then_expired_at_the_right_moments(db: Database) -> None:
    await tiers(db)
    guild = ids()
    end = utcnow() + timedelta(days=30)
    sub = await db.premium.subscribe("guild", guild, "pro", period_end=end)
    second = timedelta(seconds=1)
    assert (await db.premium.benefits(guild)).tier_id == "pro"

    assert await db.premium.expire_due(end - second) == []
    assert (await db.premium.benefits(guild)).tier_id == "pro"

    (graced,) = await db.premium.expire_due(end)
    assert (graced.status, graced.grace_until) == (S.GRACE, end + GRACE)
    assert (await db.premium.benefits(guild)).tier_id == "pro", "grace keeps the benefits"

    assert await db.premium.expire_due(end + GRACE - second) == []
    (expired,) = await db.premium.expire_due(end + GRACE)
    assert expired.status is S.EXPIRED
    assert (await db.premium.benefits(guild)).tier_id is None, "benefits go at that moment, not at the next load"
    assert await status_rows(db, sub.subscription_id) == [
        ("subscription_status", "grace"),
        ("subscription_status", "expired"),
    ]
    # Paid late: the same subscription resumes with a new period.
    resumed = await db.premium.transition(sub.subscription_id, "active", period_end=end + timedelta(days=60))
    assert (resumed.status, resumed.grace_until) == (S.ACTIVE, None)
    assert (await db.premium.benefits(guild)).tier_id == "pro"


async def test_a_stale_expiry_changes_nothing(db: Database) -> None:
    await tiers(db)
    end = utcnow() + timedelta(days=1)
    sub = await db.premium.subscribe("user", ids(), "pro", period_end=end)
    renewed = await db.premium.transition(sub.subscription_id, "grace")
    renewed = await db.premium.transition(sub.subscription_id, "active", period_end=end + timedelta(days=30))
    async with db.session() as session:
        assert await db.premium.expire_in(session, sub.subscription_id, "active", end) is None  # the old deadline
    assert await db.premium.get(sub.subscription_id) == renewed


async def test_an_expired_trial_loses_its_benefits(db: Database) -> None:
    await tiers(db)
    user = ids()
    trial = await db.premium.start_trial("user", user, "ultra", days=7)
    assert trial.trial_end is not None
    assert (await db.premium.benefits(None, user)).tier_id == "ultra"
    (expired,) = await db.premium.expire_due(trial.trial_end)
    assert expired.status is S.EXPIRED
    assert (await db.premium.benefits(None, user)).tier_id is None


# -- trials -----------------------------------------------------------------------------------
async def test_one_trial_per_owner_and_tier(db: Database) -> None:
    await tiers(db)
    user = ids()
    await db.premium.start_trial("user", user, "pro", days=7)
    with pytest.raises(ConflictError, match="already had its trial of pro"):
        await db.premium.start_trial("user", user, "pro", days=7)
    await db.premium.start_trial("user", user, "ultra", days=7)  # another tier
    await db.premium.start_trial("guild", user, "pro", days=7)  # another owner (a guild with that number)
    async with db.session() as session:
        trials = await session.scalar(trials_of(user))
        subs = await session.scalar(subscriptions_of(user))
    assert (trials, subs) == (3, 3), "the refused trial left no subscription behind"


async def test_two_trials_for_one_owner_and_tier_are_impossible_under_concurrency(pooled_db: Database) -> None:
    await tiers(pooled_db)
    user = ids()
    outcomes = await asyncio.gather(
        *(pooled_db.premium.start_trial("user", user, "pro", days=7) for _ in range(24)), return_exceptions=True
    )
    started = [o for o in outcomes if isinstance(o, SubscriptionRead)]
    refused = [o for o in outcomes if isinstance(o, ConflictError)]
    assert (len(started), len(refused)) == (1, 23), outcomes
    async with pooled_db.session() as session:
        rows = (await session.execute(select(col(Subscription.status)).where(col(Subscription.owner_id) == user))).all()
        trials = await session.scalar(trials_of(user))
    assert (rows, trials) == ([(S.TRIALING,)], 1)


async def test_conversions_are_tracked_and_reported_by_start_month(db: Database) -> None:
    await tiers(db)
    converted, bought_later, lapsed = ids.take(3)
    first = await db.premium.start_trial("user", converted, "pro", days=7)
    await db.premium.transition(first.subscription_id, "active")
    await db.premium.start_trial("user", bought_later, "pro", days=7)
    await db.premium.subscribe("user", bought_later, "pro", source="external", external_id="stripe_sub_1")
    await db.premium.start_trial("user", lapsed, "pro", days=7)
    await db.premium.start_trial("user", lapsed, "ultra", days=7)
    month = utcnow().strftime("%Y-%m")
    (row,) = await db.premium.conversion_report()
    assert (row.month, row.started, row.converted, round(row.rate, 2)) == (month, 4, 2, 0.5)
    (pro,) = await db.premium.conversion_report("pro")
    assert (pro.started, pro.converted) == (3, 2)
