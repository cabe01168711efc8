"""Premium (R16): tiers, the benefits check on every command, subscriptions, expiry and trials.

``benefits(guild_id, user_id)`` is on the command path, so a cache hit costs
no SQL and no Redis: three entries of the local cache (the tier table, the
guild's tiers, the user's tiers) and one memo of their combination, which is
reused while all three are the very objects it was made from. Any write drops
the entry it makes stale in every process (``services/cache.py``'s
invalidation over Redis pub/sub), so the next check combines afresh: a
downgrade applies to the very next command.

Payments and keys are in ``premium_billing.py``, Discord entitlements in
``premium_sync.py``; every subscription write is in ``premium_state.py``.
"""

import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from time import monotonic
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel, col

from guildbase.controllers.base import Controller, UnitOfWork
from guildbase.controllers.premium_billing import PremiumBilling
from guildbase.controllers.premium_state import (
    insert_subscription_in,
    locked,
    move_in,
    owner_key,
    tiers_key,
)
from guildbase.controllers.premium_sync import EntitlementSync
from guildbase.db.audit import locked_values, record_audit
from guildbase.db.mixins import actor_columns
from guildbase.db.rows import read_all
from guildbase.db.types import utcnow
from guildbase.db.validation import (
    aware,
    duration,
    integer,
    mapping,
    moment,
    optional_aware,
    optional_snowflake,
    optional_text,
    page_limit,
    snowflake,
    texts,
    unit_of_work,
    validate,
    validate_enum,
)
from guildbase.db.validation import text as checked_text
from guildbase.errors import ConflictError, NotFoundError, PremiumRequiredError, ValidationError
from guildbase.models.audit import AuditAction, AuditEntity
from guildbase.models.premium import (
    EXTERNAL_ID_MAX_LENGTH,
    FEATURE_PATTERN,
    GRANTING,
    NEXT_STATUS,
    Benefits,
    OwnerType,
    PremiumLimit,
    PremiumSku,
    PremiumTier,
    PremiumTierCreate,
    PremiumTierRead,
    PremiumTrial,
    Subscription,
    SubscriptionRead,
    SubscriptionSource,
    SubscriptionStatus,
    TrialConversion,
    combine,
    deadline_of,
    tier_slug,
)
from guildbase.services.cache import JSON, ModelCodec

__all__ = ["PremiumController"]

S = SubscriptionStatus
MAX_LIST = 200
MAX_TRIAL_DAYS = 90
MEMO_SIZE = 50_000
_NONE: tuple[str, ...] = ()


class TierTable(SQLModel):
    """Every tier, as cached: the benefits check looks tiers up here, never in SQL."""

    model_config = {"frozen": True}

    tiers: dict[str, PremiumTierRead]


_TIERS_CODEC = ModelCodec(TierTable)
_TIERS_KEY = tiers_key()


class PremiumController(EntitlementSync, PremiumBilling, Controller):
    """``db.premium``: tiers and benefits, subscriptions and their expiry, trials, payments, keys, entitlements."""

    def __init__(self, db: UnitOfWork) -> None:
        super().__init__(db)
        self._memo: dict[tuple[int | None, int | None], tuple[Any, Any, Any, Benefits, float]] = {}
        """(guild, user) → the three cache entries it was combined from, the result, and when the first expires."""
        self._hot_tiers: dict[int, tuple[float, Any]] = {}
        self._hot_guilds: dict[int, tuple[float, Any]] = {}
        self._hot_users: dict[int, tuple[float, Any]] = {}
        self._hot_owners = {OwnerType.GUILD: self._hot_guilds, OwnerType.USER: self._hot_users}

    # -- tiers ------------------------------------------------------------------------
    async def set_tier(
        self,
        tier_id: str,
        *,
        name: str,
        rank: int,
        features: tuple[str, ...] | list[str] | None = None,
        limits: Mapping[str, int] | None = None,
        grace: timedelta = timedelta(days=3),
    ) -> PremiumTierRead:
        """Create or replace a tier: its name, rank (higher is better), feature flags, limits and grace period."""
        tier_id = tier_slug("tier_id", tier_id)
        name = checked_text("name", name, min_length=1, max_length=100)
        rank = integer("rank", rank, minimum=1, maximum=1000)
        flags = texts("features", [] if features is None else features, max_length=64)
        amounts = mapping("limits", {} if limits is None else limits)
        grace_seconds = int(duration("grace", grace).total_seconds())
        checked = validate(
            PremiumTierCreate,
            {
                "tier_id": tier_id,
                "name": name,
                "rank": rank,
                "features": flags,
                "limits": amounts,
                "grace_seconds": grace_seconds,
            },
        )
        values = checked.model_dump()
        stmt = insert(PremiumTier).values(**values, **actor_columns(PremiumTier, "insert"))
        upsert = stmt.on_conflict_do_update(
            index_elements=["tier_id"],
            set_={
                **{k: stmt.excluded[k] for k in ("name", "rank", "features", "limits", "grace_seconds")},
                **actor_columns(PremiumTier, "update"),
                "updated_at": func.now(),
            },
        )
        fields = ("name", "rank", "features", "limits", "grace_seconds")
        async with self._write() as session:
            before = await locked_values(session, PremiumTier, fields, tier_id=tier_id)
            await session.execute(upsert)
            await record_audit(
                session,
                AuditAction.PREMIUM_TIER_SET,
                AuditEntity.PREMIUM_TIER,
                tier_id,
                guild_id=None,
                before=before,
                after={k: values[k] for k in fields},
            )
            self._stale(session, tiers_key())
            return (await _load_tiers(session)).tiers[tier_id]

    async def map_sku(self, sku_id: int, tier_id: str) -> PremiumTierRead:
        """Entitlements to Discord SKU ``sku_id`` grant ``tier_id`` (replacing any tier it granted before)."""
        sku_id, tier_id = snowflake("sku_id", sku_id), tier_slug("tier_id", tier_id)
        stmt = insert(PremiumSku).values(sku_id=sku_id, tier_id=tier_id)
        async with self._write() as session:
            before = await locked_values(session, PremiumSku, ["tier_id"], sku_id=sku_id)
            await session.execute(stmt.on_conflict_do_update(index_elements=["sku_id"], set_={"tier_id": tier_id}))
            await record_audit(
                session,
                AuditAction.PREMIUM_SKU_SET,
                AuditEntity.PREMIUM_SKU,
                sku_id,
                guild_id=None,
                before=before,
                after={"tier_id": tier_id},
            )
            self._stale(session, tiers_key())
            return (await _load_tiers(session)).tiers[tier_id]

    async def tiers(self) -> list[PremiumTierRead]:
        """Every tier, lowest rank first (cached)."""
        return sorted((await self._tier_table()).tiers.values(), key=lambda t: t.rank)

    async def _tier_table(self) -> TierTable:
        async def load() -> TierTable:
            async with self._db.session() as session:
                return await _load_tiers(session)

        cache = self._db.cache
        table = await cache.read_through(_TIERS_KEY, load, ttl=self._db.settings.cache_ttl_seconds, codec=_TIERS_CODEC)
        assert table is not None  # noqa: S101 - the loader always returns a table
        cache.local.mirror(_TIERS_KEY, self._hot_tiers, 0)
        return table

    async def _owner_tiers(self, owner_type: OwnerType, owner_id: int | None) -> Any:
        if owner_id is None:
            return _NONE

        async def load() -> list[str]:
            stmt = (
                select(col(Subscription.tier_id))
                .where(
                    col(Subscription.owner_type) == owner_type,
                    col(Subscription.owner_id) == owner_id,
                    col(Subscription.status).in_(sorted(GRANTING)),
                )
                .distinct()
            )
            async with self._db.session() as session:
                return sorted(await session.scalars(stmt))

        cache, key = self._db.cache, owner_key(owner_type, owner_id)
        found = await cache.read_through(key, load, ttl=self._db.settings.cache_ttl_seconds, codec=JSON)
        cache.local.mirror(key, self._hot_owners[owner_type], owner_id)
        return found

    # -- checks ------------------------------------------------------------------------
    async def benefits(self, guild_id: int | None, user_id: int | None = None) -> Benefits:
        """The effective benefits in ``guild_id`` for ``user_id``: the guild's tiers and the user's, combined.

        The rule (docs/premium.md): features are the union, each limit the
        highest, the tier the highest-ranked. Either ID may be None (a DM has no
        guild; a guild-wide check has no user). Cached; a hit touches neither
        PostgreSQL nor Redis: the local cache's three entries are mirrored into
        dicts keyed by what the caller holds (``LocalCache.mirror``), and the
        combination is reused while it was made from those very entries (an
        invalidation removes an entry, and with it the reuse).
        """
        memo = (  # only checked IDs are ever stored; the type checks keep True or 1.0 from hashing like one
            self._memo.get((guild_id, user_id))
            if (type(guild_id) is int or guild_id is None) and (type(user_id) is int or user_id is None)
            else None
        )
        if (
            memo is not None
            and memo[4] > monotonic()
            and self._hot_tiers.get(0) is memo[0]
            and self._hot_guilds.get(guild_id) is memo[1]  # type: ignore[arg-type]
            and self._hot_users.get(user_id) is memo[2]  # type: ignore[arg-type]
        ):
            return memo[3]
        guild_id = optional_snowflake("guild_id", guild_id)
        user_id = optional_snowflake("user_id", user_id)
        table = await self._tier_table()
        guild_tiers = await self._owner_tiers(OwnerType.GUILD, guild_id)
        user_tiers = await self._owner_tiers(OwnerType.USER, user_id)
        granted = [table.tiers[t] for t in (*(guild_tiers or ()), *(user_tiers or ())) if t in table.tiers]
        result = combine(granted)
        entries = (
            self._hot_tiers.get(0),
            None if guild_id is None else self._hot_guilds.get(guild_id),
            None if user_id is None else self._hot_users.get(user_id),
        )
        cached = [e for e in entries if e is not None]
        if entries[0] is not None and len(cached) == 1 + (guild_id is not None) + (user_id is not None):
            if len(self._memo) >= MEMO_SIZE:
                self._memo.clear()
            self._memo[(guild_id, user_id)] = (*entries, result, min(e[0] for e in cached))
        return result

    async def require(self, feature: str, *, guild_id: int | None, user_id: int | None = None) -> Benefits:
        """The benefits, if they include ``feature``; else ``PremiumRequiredError`` naming the tier that has it."""
        feature = _feature(feature)
        found = await self.benefits(guild_id, user_id)
        if feature in found.features:
            return found
        needed = next((t for t in await self.tiers() if feature in t.features), None)
        if needed is None:
            raise PremiumRequiredError(feature, None)
        raise PremiumRequiredError(feature, needed.tier_id, needed.name)

    async def limit(self, guild_id: int, name: PremiumLimit | str) -> int:
        """The guild's value of a named limit (``max_snippets`` …): its own tiers only, never a member's.

        A guild-wide quota is the guild's: one member's personal tier does not
        raise what every member shares (docs/premium.md).
        """
        guild_id = snowflake("guild_id", guild_id)
        limit = validate_enum("name", PremiumLimit, name)
        return (await self.benefits(guild_id)).limits[limit.value]

    # -- subscriptions ------------------------------------------------------------------
    async def subscribe(
        self,
        owner_type: OwnerType | str,
        owner_id: int,
        tier_id: str,
        *,
        source: SubscriptionSource | str = SubscriptionSource.MANUAL,
        external_id: str | None = None,
        period_end: datetime | None = None,
    ) -> SubscriptionRead:
        """Start an active subscription (staff, an outside provider); it moves to grace at ``period_end``.

        ``external_id`` is unique per source: subscribing the same one again is a ``ConflictError``.
        """
        kind = validate_enum("owner_type", OwnerType, owner_type)
        owner_id = snowflake("owner_id", owner_id)
        tier_id = tier_slug("tier_id", tier_id)
        origin = validate_enum("source", SubscriptionSource, source)
        external = optional_text("external_id", external_id, max_length=EXTERNAL_ID_MAX_LENGTH)
        now = utcnow()
        end = optional_aware("period_end", period_end)
        async with self._write() as session:
            await _tier_exists(session, tier_id)
            return await insert_subscription_in(
                self._db,
                session,
                {
                    "owner_type": kind,
                    "owner_id": owner_id,
                    "tier_id": tier_id,
                    "source": origin,
                    "external_id": external or None,
                    "status": S.ACTIVE,
                    "period_start": now,
                    "period_end": end,
                },
            )

    async def transition(
        self,
        subscription_id: int,
        status: SubscriptionStatus | str,
        *,
        reason: str | None = None,
        period_end: datetime | None = None,
    ) -> SubscriptionRead:
        """Move a subscription to ``status`` if ``TRANSITIONS`` allows it (else ``TransitionRefusedError``).

        ``period_end`` is the new period's end when it becomes active (a renewal or a late payment).
        """
        subscription_id = integer("subscription_id", subscription_id, minimum=1, maximum=2**63 - 1)
        to = validate_enum("status", SubscriptionStatus, status)
        reason = optional_text("reason", reason, max_length=512)
        end = optional_aware("period_end", period_end)
        changes = {} if end is None else {"period_end": end}
        async with self._write() as session:
            sub = await locked(session, subscription_id)
            return await move_in(self._db, session, sub, to, now=utcnow(), reason=reason, changes=changes)

    async def get(self, subscription_id: int) -> SubscriptionRead | None:
        """One subscription, or None."""
        subscription_id = integer("subscription_id", subscription_id, minimum=1, maximum=2**63 - 1)
        async with self._write() as session:
            row = await session.get(Subscription, subscription_id)
            return None if row is None else SubscriptionRead.model_validate(row)

    async def subscriptions(self, owner_type: OwnerType | str, owner_id: int) -> list[SubscriptionRead]:
        """An owner's subscriptions, newest first."""
        kind, owner_id = validate_enum("owner_type", OwnerType, owner_type), snowflake("owner_id", owner_id)
        stmt = (
            select(Subscription)
            .where(col(Subscription.owner_type) == kind, col(Subscription.owner_id) == owner_id)
            .order_by(col(Subscription.subscription_id).desc())
            .limit(MAX_LIST)
        )
        async with self._write() as session:
            return read_all(SubscriptionRead, await session.scalars(stmt))

    # -- expiry --------------------------------------------------------------------------
    async def expire_due(self, now: datetime | None = None, *, limit: int = 100) -> list[SubscriptionRead]:
        """Move on every subscription whose deadline is at or before ``now`` (default: now); one transaction each.

        What the ``premium.expiry`` jobs do one by one at each deadline, as one
        sweep: a repair after downtime, and the clock a test can move.
        """
        now = moment("now", now)
        limit = page_limit(limit, MAX_LIST)
        due = select(col(Subscription.subscription_id), col(Subscription.status)).where(
            or_(
                (col(Subscription.status) == S.ACTIVE) & (col(Subscription.period_end) <= now),
                (col(Subscription.status) == S.TRIALING) & (col(Subscription.trial_end) <= now),
                (col(Subscription.status) == S.GRACE) & (col(Subscription.grace_until) <= now),
            )
        )
        async with self._write() as session:
            found = (await session.execute(due.order_by(col(Subscription.subscription_id)).limit(limit))).all()
        moved = []
        for subscription_id, _status in found:
            async with self._write() as session:
                sub = await locked(session, int(subscription_id or 0))
                deadline = deadline_of(sub.status, sub)
                if sub.status in NEXT_STATUS and deadline is not None and deadline <= now:
                    moved.append(await move_in(self._db, session, sub, NEXT_STATUS[sub.status], now=now))
        return moved

    async def expire_in(
        self, session: AsyncSession, subscription_id: int, status: SubscriptionStatus | str, deadline: datetime
    ) -> SubscriptionRead | None:
        """The ``premium.expiry`` job's write: move on if the subscription is still ``status`` due at ``deadline``.

        None when it moved on or its deadline changed meanwhile (a renewal): the job was stale.
        """
        session = unit_of_work(session)
        subscription_id = integer("subscription_id", subscription_id, minimum=1, maximum=2**63 - 1)
        expected = validate_enum("status", SubscriptionStatus, status)
        deadline = aware("deadline", deadline)
        sub = await locked(session, subscription_id)
        if sub.status is not expected or expected not in NEXT_STATUS or deadline_of(sub.status, sub) != deadline:
            return None
        return await move_in(self._db, session, sub, NEXT_STATUS[expected], now=max(deadline, utcnow()))

    # -- trials ---------------------------------------------------------------------------
    async def start_trial(
        self, owner_type: OwnerType | str, owner_id: int, tier_id: str, *, days: int
    ) -> SubscriptionRead:
        """A trial of ``tier_id`` for ``days``; an owner gets one per tier, ever (``ConflictError`` after that).

        The trial row's primary key is (owner, tier): two concurrent starts
        cannot both commit, whichever process they run in.
        """
        kind = validate_enum("owner_type", OwnerType, owner_type)
        owner_id = snowflake("owner_id", owner_id)
        tier_id = tier_slug("tier_id", tier_id)
        days = integer("days", days, minimum=1, maximum=MAX_TRIAL_DAYS)
        now = utcnow()
        async with self._write() as session:
            await _tier_exists(session, tier_id)
            sub = await insert_subscription_in(
                self._db,
                session,
                {
                    "owner_type": kind,
                    "owner_id": owner_id,
                    "tier_id": tier_id,
                    "source": SubscriptionSource.MANUAL,
                    "status": S.TRIALING,
                    "period_start": now,
                    "trial_end": now + timedelta(days=days),
                },
                action=AuditAction.TRIAL_START,
            )
            claimed = await session.execute(
                insert(PremiumTrial)
                .values(owner_type=kind, owner_id=owner_id, tier_id=tier_id, subscription_id=sub.subscription_id)
                .on_conflict_do_nothing()
                .returning(col(PremiumTrial.subscription_id))
            )
            if claimed.one_or_none() is None:
                msg = f"tier_id: {kind.value} {owner_id} already had its trial of {tier_id}"
                raise ConflictError(msg)  # rolls back the subscription above with it
            return sub

    async def conversion_report(self, tier_id: str | None = None) -> list[TrialConversion]:
        """Trials grouped by the month they started (``YYYY-MM``, oldest first), and how many converted."""
        tier = None if tier_id is None else tier_slug("tier_id", tier_id)
        month = func.to_char(func.date_trunc("month", col(PremiumTrial.started_at)), "YYYY-MM")
        stmt = select(month, func.count(), func.count(col(PremiumTrial.converted_at))).group_by(month).order_by(month)
        if tier is not None:
            stmt = stmt.where(col(PremiumTrial.tier_id) == tier)
        async with self._read() as session:
            rows = (await session.execute(stmt)).all()
        return [TrialConversion(month=m, started=s, converted=c) for m, s, c in rows]


async def _load_tiers(session: AsyncSession) -> TierTable:
    tiers = (await session.scalars(select(PremiumTier))).all()
    skus = (await session.execute(select(col(PremiumSku.sku_id), col(PremiumSku.tier_id)))).all()
    by_tier: dict[str, list[int]] = {}
    for sku_id, tier_id in skus:
        by_tier.setdefault(tier_id, []).append(sku_id)
    return TierTable(
        tiers={
            t.tier_id: PremiumTierRead.model_validate(t.model_dump() | {"sku_ids": sorted(by_tier.get(t.tier_id, []))})
            for t in tiers
        }
    )


async def _tier_exists(session: AsyncSession, tier_id: str) -> None:
    if (await session.get(PremiumTier, tier_id)) is None:
        msg = f"tier_id: no tier {tier_id!r}; create it with db.premium.set_tier"
        raise NotFoundError(msg)


def _feature(value: object) -> str:
    name = checked_text("feature", value, min_length=1, max_length=64)
    if not re.fullmatch(FEATURE_PATTERN, name):
        msg = f"must be a feature name of a-z, 0-9, '_' and '.', got {name[:40]!r}"
        raise ValidationError.single("feature", "pattern", msg)
    return name
