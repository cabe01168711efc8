"""A subscription whose period ends while a worker runs: grace at the period's end, expired at the grace's end.

Through the real runner and the ``premium.expiry`` jobs ``db.premium`` enqueues
itself. The moments are the database's (the job queue's clock): each move's
audit row is written no earlier than its deadline, and when the owner is told
(after the move commits) the cached benefits are already the new ones.
"""

from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest
from support import eventually, running

from guildbase import Database
from guildbase.db.types import make_snowflake, utcnow
from guildbase.jobs import JobRegistry
from guildbase.jobs.premium import register_premium
from guildbase.models.audit import AuditAction, AuditEntity
from guildbase.models.premium import SubscriptionRead, SubscriptionStatus

pytestmark = pytest.mark.clock

GUILD = make_snowflake(utcnow() - timedelta(days=300), 77)
GRACE = timedelta(seconds=1)
MakeDatabase = Callable[..., Awaitable[Database]]
"""The ``jobs_db`` fixture (tests/jobs/conftest.py)."""


async def status(db: Database, subscription_id: int) -> SubscriptionStatus | None:
    sub = await db.premium.get(subscription_id)
    return None if sub is None else sub.status


async def test_a_period_that_ends_while_the_worker_runs_goes_to_grace_then_expired(jobs_db: MakeDatabase) -> None:
    db = await jobs_db()
    await db.premium.set_tier("pro", name="Pro", rank=10, features=["custom_embeds"], grace=GRACE)
    period_end = utcnow() + timedelta(seconds=1)
    sub = await db.premium.subscribe("guild", GUILD, "pro", period_end=period_end)
    told: list[tuple[SubscriptionStatus, str | None]] = []

    async def notify(moved: SubscriptionRead) -> None:
        told.append((moved.status, (await db.premium.benefits(GUILD)).tier_id))

    registry = JobRegistry()
    register_premium(registry, notify)
    assert (await db.premium.benefits(GUILD)).tier_id == "pro"
    async with running(db, registry):
        await eventually(lambda: _is(db, sub.subscription_id, SubscriptionStatus.EXPIRED))
        await eventually(lambda: _told(told, 2))

    moves = sorted(
        (r for r in await db.audit.for_entity(AuditEntity.SUBSCRIPTION, sub.subscription_id) if r.after.get("status")),
        key=lambda r: r.audit_id,
    )
    assert [(m.action, m.after["status"]) for m in moves] == [
        (AuditAction.SUBSCRIPTION_CREATE, "active"),
        (AuditAction.SUBSCRIPTION_STATUS, "grace"),
        (AuditAction.SUBSCRIPTION_STATUS, "expired"),
    ]
    assert moves[1].created_at >= period_end, "not in grace before the period ended"
    assert moves[2].created_at >= period_end + GRACE, "not expired before the grace ended"
    assert told == [(SubscriptionStatus.GRACE, "pro"), (SubscriptionStatus.EXPIRED, None)], (
        "grace keeps the benefits; when the owner hears of the expiry, the cached benefits are already gone"
    )
    assert (await db.premium.benefits(GUILD)).tier_id is None


async def _is(db: Database, subscription_id: int, wanted: SubscriptionStatus) -> bool:
    return await status(db, subscription_id) is wanted


async def _told(told: list[object], count: int) -> bool:
    return len(told) >= count
