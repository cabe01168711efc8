"""The one place a subscription row is written: inserts and status changes, each audited, cached keys dropped.

Every premium write that creates a subscription or moves its status goes
through ``insert_subscription_in`` or ``move_in`` on the caller's session, so
each of them, whichever path it came from (a command, a Discord event, a job,
the reconcile), gets the same checks in the same transaction:

- the move is in ``TRANSITIONS`` (else ``TransitionRefusedError``, nothing written);
- one audit row with the changed fields;
- the owner's cached tiers are dropped after commit (every process, via Redis);
- the next deadline (period end, trial end, grace end) is scheduled as a
  ``premium.expiry`` job in the same transaction. Jobs are never cancelled: a
  job whose subscription moved on, or whose deadline changed, finds that and
  does nothing, and its dedupe key names the deadline so a new one is always added.
"""

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from guildbase.db.audit import record_audit
from guildbase.db.mixins import actor_columns
from guildbase.db.stale import stale_keys
from guildbase.db.unit_of_work import invalidate_after_commit
from guildbase.errors import NotFoundError, TransitionRefusedError
from guildbase.models.audit import AuditAction, AuditEntity
from guildbase.models.premium import (
    PREMIUM_EXPIRY,
    TRANSITIONS,
    ExpiryPayload,
    OwnerType,
    PremiumSku,
    PremiumTier,
    PremiumTrial,
    Subscription,
    SubscriptionRead,
    SubscriptionStatus,
    deadline_of,
)
from guildbase.services.keys import global_key, guild_key

if TYPE_CHECKING:
    from guildbase.controllers.base import UnitOfWork

__all__ = ["AUDITED_FIELDS", "insert_subscription_in", "locked", "move_in", "owner_key", "tiers_key"]

S = SubscriptionStatus
AUDITED_FIELDS = (
    "owner_type",
    "owner_id",
    "tier_id",
    "source",
    "external_id",
    "status",
    "period_start",
    "period_end",
    "grace_until",
    "canceled_at",
    "trial_end",
)


_COLUMNS = tuple(Subscription.__table__.c)  # type: ignore[attr-defined]
"""Every column, as RETURNING lists them (a row, not an ORM object that would need a flush)."""


def tiers_key() -> str:
    """Cache key of every tier with its benefits and SKUs; dropped by every tier or SKU write."""
    return global_key("premium", "tiers")


def owner_key(owner_type: OwnerType, owner_id: int) -> str:
    """Cache key of the tiers an owner's granting subscriptions give; dropped by every write of its subscriptions."""
    if owner_type is OwnerType.GUILD:
        return guild_key(owner_id, "premium")
    return global_key(f"u:{owner_id}", "premium")


stale_keys(Subscription, lambda row: (owner_key(OwnerType(row.owner_type), row.owner_id),))
stale_keys(PremiumTier, lambda _row: (tiers_key(),))
stale_keys(PremiumSku, lambda _row: (tiers_key(),))


def _fields(row: Any) -> dict[str, Any]:
    return {name: getattr(row, name) for name in AUDITED_FIELDS}


async def _audit(session: AsyncSession, action: AuditAction, before: Any, after: Any, reason: str | None) -> None:
    owner = after if after is not None else before
    await record_audit(
        session,
        action,
        AuditEntity.SUBSCRIPTION,
        owner.subscription_id,
        guild_id=owner.owner_id if owner.owner_type is OwnerType.GUILD else None,
        before={} if before is None else _fields(before),
        after=_fields(after),
        reason=reason,
    )


async def locked(session: AsyncSession, subscription_id: int) -> SubscriptionRead:
    """The subscription, locked until the transaction ends (``NotFoundError`` when there is none)."""
    row = (
        await session.execute(
            select(Subscription.__table__).where(col(Subscription.subscription_id) == subscription_id).with_for_update()  # type: ignore[attr-defined]
        )
    ).one_or_none()
    if row is None:
        msg = f"subscription_id: no subscription {subscription_id}"
        raise NotFoundError(msg)
    return SubscriptionRead.model_validate(dict(row._mapping))  # noqa: SLF001 - SQLAlchemy's public row mapping


async def _schedule_in(db: "UnitOfWork", session: AsyncSession, sub: SubscriptionRead) -> None:
    deadline = deadline_of(sub.status, sub)
    if deadline is None:
        return
    await db.jobs.enqueue_in(
        session,
        PREMIUM_EXPIRY,
        run_at=deadline,
        payload=ExpiryPayload(subscription_id=sub.subscription_id, status=sub.status, deadline=deadline),
        dedupe_key=f"{sub.subscription_id}:{sub.status.value}:{deadline.timestamp():.6f}",
    )


async def _convert_trial_in(session: AsyncSession, sub: SubscriptionRead) -> None:
    """A paid subscription to a tier the owner trialled converts that trial (once)."""
    await session.execute(
        update(PremiumTrial)
        .where(
            col(PremiumTrial.owner_type) == sub.owner_type,
            col(PremiumTrial.owner_id) == sub.owner_id,
            col(PremiumTrial.tier_id) == sub.tier_id,
            col(PremiumTrial.converted_at).is_(None),
        )
        .values(converted_at=func.now())
    )


async def insert_subscription_in(
    db: "UnitOfWork",
    session: AsyncSession,
    values: dict[str, Any],
    *,
    action: AuditAction = AuditAction.SUBSCRIPTION_CREATE,
    reason: str | None = None,
) -> SubscriptionRead:
    """Insert a subscription (values already checked), audit it, schedule its deadline, drop its owner's cache."""
    stmt = insert(Subscription).values(**values, **actor_columns(Subscription, "insert")).returning(*_COLUMNS)
    row = (await session.execute(stmt)).one()
    sub = SubscriptionRead.model_validate(dict(row._mapping))  # noqa: SLF001
    await _audit(session, action, None, sub, reason)
    await _schedule_in(db, session, sub)
    if sub.status is S.ACTIVE:  # paid: a trial of the same tier converted
        await _convert_trial_in(session, sub)
    invalidate_after_commit(session, owner_key(sub.owner_type, sub.owner_id))
    return sub


async def grace_of(session: AsyncSession, tier_id: str) -> timedelta:
    """How long a subscription of ``tier_id`` keeps its benefits after its period ended unpaid."""
    seconds = (
        await session.execute(select(col(PremiumTier.grace_seconds)).where(col(PremiumTier.tier_id) == tier_id))
    ).scalar_one()
    return timedelta(seconds=seconds)


async def move_in(
    db: "UnitOfWork",
    session: AsyncSession,
    sub: SubscriptionRead,
    to: SubscriptionStatus,
    *,
    now: datetime,
    reason: str | None = None,
    changes: dict[str, Any] | None = None,
    action: AuditAction = AuditAction.SUBSCRIPTION_STATUS,
) -> SubscriptionRead:
    """Move ``sub`` (read with ``locked``) to ``to``, or refuse: the one status write there is.

    Sets what the new status needs: ``grace_until`` (the period's end plus the
    tier's grace) entering grace, ``canceled_at`` when canceled, a fresh
    ``period_start`` when a trial converts or a lapsed subscription resumes.
    ``changes`` are further columns written in the same statement (a period
    end from a renewal, the event order of a Discord event).
    """
    if to not in TRANSITIONS[sub.status]:
        raise TransitionRefusedError(sub.subscription_id, sub.status.value, to.value)
    values: dict[str, Any] = {"status": to, **(changes or {})}
    if to is S.GRACE:
        end = values.get("period_end", sub.period_end)
        ended = end if end is not None and end <= now else now
        values["grace_until"] = ended + await grace_of(session, values.get("tier_id", sub.tier_id))
    if to is S.CANCELED:
        values["canceled_at"] = now
    if to is S.ACTIVE:
        values.setdefault("grace_until", None)
        if sub.status is not S.GRACE:
            values.setdefault("period_start", now)
        end = values.get("period_end", sub.period_end)
        if end is not None and end <= now:
            values["period_end"] = None  # resumed with no end given: ongoing until told otherwise
    return await write_in(db, session, sub, values, action=action, reason=reason)


async def write_in(
    db: "UnitOfWork",
    session: AsyncSession,
    sub: SubscriptionRead,
    values: dict[str, Any],
    *,
    action: AuditAction,
    reason: str | None = None,
) -> SubscriptionRead:
    """Write ``values`` to the locked ``sub``: audited, its new deadline scheduled, its owner's cache dropped."""
    stmt = (
        update(Subscription)
        .where(col(Subscription.subscription_id) == sub.subscription_id)
        .values(**values, updated_at=func.now(), **actor_columns(Subscription, "update"))
        .returning(*_COLUMNS)
    )
    row = (await session.execute(stmt)).one()
    after = SubscriptionRead.model_validate(dict(row._mapping))  # noqa: SLF001
    await _audit(session, action, sub, after, reason)
    if deadline_of(after.status, after) != deadline_of(sub.status, sub) or after.status is not sub.status:
        await _schedule_in(db, session, after)
    if after.status is S.ACTIVE and sub.status is S.TRIALING:
        await _convert_trial_in(session, after)
    invalidate_after_commit(session, owner_key(after.owner_type, after.owner_id))
    return after
