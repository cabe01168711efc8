"""Discord entitlements → subscriptions (R16.2): idempotent, order-resolving handlers and a reconcile.

Discord's semantics since late 2024:

- ENTITLEMENT_CREATE: a purchase; an ongoing subscription has ``ends_at`` null;
- ENTITLEMENT_UPDATE: sent when it ends, with ``ends_at`` set;
- ENTITLEMENT_DELETE: only for a refund or a removal by Discord or the developer.

Each event is applied under a lock on its entitlement, and only if it is newer
than what the subscription already reflects: events are ordered by their
phase (ongoing 0 < ended 1 < deleted 2) and then by their time (``at``: when
the bot received it), stored on the row as ``event_phase`` / ``event_at``. So
the same event twice changes nothing, and an ongoing CREATE that arrives after
the UPDATE that ended it (a RESUME replay) cannot revive it. An UPDATE whose
``ends_at`` is still ahead keeps the subscription active until then (its
period end job moves it to grace); one already past moves it to grace now.

``reconcile`` takes the bot's fetched list of the application's entitlements
(ended ones included, deleted ones absent) as the truth: each is applied
whatever the stored order says, and every granting Discord subscription that
is missing from the list is canceled (Discord deleted it while we missed it).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pydantic
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from guildbase.controllers.base import Controller
from guildbase.controllers.premium_state import insert_subscription_in, locked, move_in, write_in
from guildbase.db.types import utcnow
from guildbase.db.validation import mapping, optional_aware
from guildbase.errors import FieldError, ValidationError
from guildbase.models.audit import AuditAction
from guildbase.models.premium import (
    GRANTING,
    OwnerType,
    PremiumSku,
    Subscription,
    SubscriptionRead,
    SubscriptionSource,
    SubscriptionStatus,
)

__all__ = ["EntitlementPayload", "EntitlementSync", "ReconcileReport"]

S = SubscriptionStatus
ONGOING, ENDED, DELETED = 0, 1, 2
MAX_RECONCILE = 10_000


class EntitlementPayload(BaseModel):
    """The fields of Discord's entitlement object that decide a subscription (IDs may be strings, as sent)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: int = Field(gt=0, lt=2**63)
    sku_id: int = Field(gt=0, lt=2**63)
    user_id: int | None = Field(default=None, gt=0, lt=2**63)
    guild_id: int | None = Field(default=None, gt=0, lt=2**63)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    """What a reconcile changed: subscriptions created or updated, canceled, and left as they were."""

    applied: int = 0
    canceled: int = 0
    unchanged: int = 0


def _parse(field: str, value: object) -> EntitlementPayload:
    if isinstance(value, EntitlementPayload):
        return value
    try:
        checked = EntitlementPayload.model_validate(mapping(field, value))  # lax: Discord sends IDs as strings
    except pydantic.ValidationError as error:
        found = ValidationError.from_pydantic(error).errors
        raise ValidationError([FieldError(f"{field}.{e.field}", e.rule, e.message) for e in found]) from None
    if checked.user_id is None and checked.guild_id is None:
        raise ValidationError.single(field, "owner", "must have a user_id or a guild_id, got neither")
    for name in ("starts_at", "ends_at"):
        moment_value = getattr(checked, name)
        if moment_value is not None and moment_value.tzinfo is None:
            raise ValidationError.single(f"{field}.{name}", "aware", "must be timezone-aware")
    return checked


class EntitlementSync(Controller):
    """The entitlement handlers and the reconcile (part of ``db.premium``)."""

    async def entitlement_created(
        self, entitlement: Mapping[str, Any], *, at: datetime | None = None
    ) -> SubscriptionRead | None:
        """ENTITLEMENT_CREATE; None for a SKU that maps to no tier (``db.premium.map_sku``)."""
        payload, when = _parse("entitlement", entitlement), optional_aware("at", at) or utcnow()
        return await self._apply(payload, ENDED if payload.ends_at is not None else ONGOING, when)

    async def entitlement_updated(
        self, entitlement: Mapping[str, Any], *, at: datetime | None = None
    ) -> SubscriptionRead | None:
        """ENTITLEMENT_UPDATE: usually the end of a subscription (``ends_at`` set)."""
        payload, when = _parse("entitlement", entitlement), optional_aware("at", at) or utcnow()
        return await self._apply(payload, ENDED if payload.ends_at is not None else ONGOING, when)

    async def entitlement_deleted(
        self, entitlement: Mapping[str, Any], *, at: datetime | None = None
    ) -> SubscriptionRead | None:
        """ENTITLEMENT_DELETE: a refund or a removal; the subscription is canceled at once."""
        payload, when = _parse("entitlement", entitlement), optional_aware("at", at) or utcnow()
        return await self._apply(payload, DELETED, when)

    async def reconcile(self, entitlements: Sequence[Mapping[str, Any]]) -> ReconcileReport:
        """Repair drift against the full list of the application's entitlements, as Discord reports them now."""
        if not isinstance(entitlements, Sequence) or isinstance(entitlements, (str, bytes)):
            raise ValidationError.single("entitlements", "type", "must be a list of entitlement objects")
        if len(entitlements) > MAX_RECONCILE:
            raise ValidationError.single("entitlements", "length", f"must hold at most {MAX_RECONCILE} entitlements")
        parsed = [_parse(f"entitlements.{i}", e) for i, e in enumerate(entitlements)]
        now = utcnow()
        applied = unchanged = canceled = 0
        for payload in parsed:
            before = await self._current(str(payload.id))
            phase = DELETED if payload.deleted else ENDED if payload.ends_at is not None else ONGOING
            after = await self._apply(payload, phase, now, force=True)
            if after is not None and (before is None or _state(before) != _state(after)):
                applied += 1
            else:
                unchanged += 1
        present = {str(p.id) for p in parsed}
        stmt = select(col(Subscription.subscription_id), col(Subscription.external_id)).where(
            col(Subscription.source) == SubscriptionSource.DISCORD, col(Subscription.status).in_(sorted(GRANTING))
        )
        async with self._write() as session:
            stored = (await session.execute(stmt)).all()
        for subscription_id, external_id in stored:
            if external_id in present:
                continue
            async with self._write() as session:
                sub = await locked(session, int(subscription_id or 0))
                if sub.status in GRANTING:
                    changes = {"event_phase": DELETED, "event_at": now}
                    await move_in(
                        self._db,
                        session,
                        sub,
                        S.CANCELED,
                        now=now,
                        reason="reconcile: not in Discord's list",
                        changes=changes,
                    )
                    canceled += 1
        return ReconcileReport(applied=applied, canceled=canceled, unchanged=unchanged)

    async def _current(self, external_id: str) -> SubscriptionRead | None:
        async with self._write() as session:
            row = await _by_entitlement(session, external_id, lock=False)
            return None if row is None else SubscriptionRead.model_validate(row)

    async def _apply(  # noqa: PLR0911 - one branch per case of the event against the row
        self, payload: EntitlementPayload, phase: int, at: datetime, *, force: bool = False
    ) -> SubscriptionRead | None:
        external_id = str(payload.id)
        now = utcnow()
        async with self._write() as session:
            # One event of an entitlement at a time, in every process: the row may not exist yet to lock.
            await session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(f"ent:{external_id}", 0))))
            mapped = select(col(PremiumSku.tier_id)).where(col(PremiumSku.sku_id) == payload.sku_id)
            tier_id = await session.scalar(mapped)
            found = await _by_entitlement(session, external_id, lock=True)
            if found is None:
                if tier_id is None or phase == DELETED:
                    return None  # a SKU we sell nothing for, or the deletion of something never stored
                owner = (
                    (OwnerType.GUILD, payload.guild_id)
                    if payload.guild_id is not None
                    else (OwnerType.USER, payload.user_id)
                )
                sub = await insert_subscription_in(
                    self._db,
                    session,
                    {
                        "owner_type": owner[0],
                        "owner_id": owner[1],
                        "tier_id": tier_id,
                        "source": SubscriptionSource.DISCORD,
                        "external_id": external_id,
                        "status": S.ACTIVE,
                        "period_start": payload.starts_at or now,
                        "period_end": payload.ends_at,
                        "event_phase": phase,
                        "event_at": at,
                    },
                )
                if payload.ends_at is not None and payload.ends_at <= now:
                    return await move_in(self._db, session, sub, S.GRACE, now=now, action=AuditAction.SUBSCRIPTION_SYNC)
                return sub
            sub = SubscriptionRead.model_validate(found)
            if not force and (phase, at) <= (sub.event_phase, sub.event_at or at):
                return sub  # this event, or an older one: already reflected
            order: dict[str, Any] = {"event_phase": phase, "event_at": at}
            if sub.status is S.CANCELED:
                return sub  # final: a refunded entitlement is never revived
            if phase == DELETED:
                return await move_in(
                    self._db, session, sub, S.CANCELED, now=now, reason="entitlement deleted", changes=order
                )
            changes = order | {"period_end": payload.ends_at}
            if tier_id is not None and tier_id != sub.tier_id:
                changes["tier_id"] = tier_id
            still_running = payload.ends_at is None or payload.ends_at > now
            sync = AuditAction.SUBSCRIPTION_SYNC
            if still_running and sub.status is not S.ACTIVE:
                return await move_in(self._db, session, sub, S.ACTIVE, now=now, changes=changes, action=sync)
            if not still_running and sub.status is S.ACTIVE:
                return await move_in(self._db, session, sub, S.GRACE, now=now, changes=changes, action=sync)
            return await write_in(self._db, session, sub, changes, action=sync)


def _state(sub: SubscriptionRead) -> tuple[Any, ...]:
    return (sub.status, sub.tier_id, sub.period_end)


async def _by_entitlement(session: AsyncSession, external_id: str, *, lock: bool) -> Subscription | None:
    stmt = select(Subscription).where(
        col(Subscription.source) == SubscriptionSource.DISCORD, col(Subscription.external_id) == external_id
    )
    if lock:
        stmt = stmt.with_for_update()
    return (await session.scalars(stmt, execution_options={"populate_existing": True})).one_or_none()
