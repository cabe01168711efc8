import asyncio
from datetime import datetime, timedelta

import pytest
from sqlalchemy import text

from guildbase import ConflictError, Database, NotFoundError, PermissionDeniedError, ValidationError
from guildbase.controllers.reminders import claimable_query
from guildbase.models.reminders import ReminderStatus
from guildbase.testing import query_plans, reads_index, shifted_noon, shifted_now

pytestmark = pytest.mark.clock  # run again with the clock a year ahead (.ci/run)

GUILD = 1_100_000_000_000_000_001
USER = 1_100_000_000_000_000_101
OTHER_USER = 1_100_000_000_000_000_102
CHANNEL = 1_100_000_000_000_000_301
T0 = shifted_noon() - timedelta(days=1)  # yesterday at noon: minutes and hours added stay on one UTC day


async def remind(db: Database, minutes: int, *, user_id: int = USER, **options: object):
    return await db.reminders.create(
        user_id, content=f"in {minutes} min", remind_at=T0 + timedelta(minutes=minutes), now=T0, **options
    )


async def test_create_in_a_guild_or_in_dms(db: Database) -> None:
    await db.guilds.join(GUILD)
    guild_reminder = await remind(db, 5, guild_id=GUILD, channel_id=CHANNEL)
    dm_reminder = await remind(db, 10)
    assert (guild_reminder.guild_id, guild_reminder.channel_id, guild_reminder.status) == (
        GUILD,
        CHANNEL,
        ReminderStatus.PENDING,
    )
    assert (dm_reminder.guild_id, dm_reminder.channel_id, dm_reminder.attempts) == (None, None, 0)
    listed = await db.reminders.list_for_user(USER)
    assert [r.reminder_id for r in listed] == [guild_reminder.reminder_id, dm_reminder.reminder_id]
    assert [r.reminder_id for r in await db.reminders.list_for_user(USER, guild_id=GUILD)] == [
        guild_reminder.reminder_id
    ]


async def test_only_the_owner_can_cancel_and_only_while_pending(db: Database) -> None:
    reminder = await remind(db, 5)
    with pytest.raises(PermissionDeniedError, match="user_id"):
        await db.reminders.cancel(reminder.reminder_id, user_id=OTHER_USER)
    cancelled = await db.reminders.cancel(reminder.reminder_id, user_id=USER)
    assert cancelled.status == ReminderStatus.CANCELLED
    with pytest.raises(ConflictError, match="cancelled"):
        await db.reminders.cancel(reminder.reminder_id, user_id=USER)
    with pytest.raises(NotFoundError, match="reminder_id"):
        await db.reminders.cancel(reminder.reminder_id + 1000, user_id=USER)
    assert await db.reminders.list_for_user(USER) == []
    assert [r.status for r in await db.reminders.list_for_user(USER, include_finished=True)] == ["cancelled"]
    assert await db.reminders.claim_due(T0 + timedelta(hours=1)) == []


async def test_claim_takes_due_reminders_in_order_and_hides_them_for_the_lease(db: Database) -> None:
    late, early = await remind(db, 10), await remind(db, 5)
    await remind(db, 60)
    now = T0 + timedelta(minutes=30)
    claimed = await db.reminders.claim_due(now, lease=timedelta(minutes=2))
    assert [r.reminder_id for r in claimed] == [early.reminder_id, late.reminder_id]
    assert all(r.attempts == 1 for r in claimed)
    assert await db.reminders.claim_due(now + timedelta(minutes=1)) == []
    retaken = await db.reminders.claim_due(now + timedelta(minutes=3))  # the first worker crashed
    assert [r.attempts for r in retaken] == [2, 2]


async def test_mark_sent_finishes_the_reminder_and_a_stale_claim_cannot(db: Database) -> None:
    reminder = await remind(db, 1)
    now = T0 + timedelta(minutes=2)
    (first,) = await db.reminders.claim_due(now, lease=timedelta(seconds=30))
    (second,) = await db.reminders.claim_due(now + timedelta(minutes=1))
    assert not await db.reminders.mark_sent(reminder.reminder_id, attempt=first.attempts)
    assert await db.reminders.mark_sent(reminder.reminder_id, attempt=second.attempts, now=now)
    done = await db.reminders.get(reminder.reminder_id)
    assert done is not None
    assert (done.status, done.sent_at, done.claimed_until) == (ReminderStatus.SENT, now, None)
    assert await db.reminders.claim_due(now + timedelta(days=1)) == []


async def test_failed_delivery_is_retried_up_to_its_budget_then_marked_failed(db: Database) -> None:
    reminder = await remind(db, 1, max_attempts=3)
    now = T0 + timedelta(minutes=5)
    outcomes = []
    for _ in range(5):
        claimed = await db.reminders.claim_due(now)
        if not claimed:
            break
        (attempt,) = claimed
        failed = await db.reminders.mark_failed(
            reminder.reminder_id, attempt=attempt.attempts, error="Forbidden: DMs closed", now=now
        )
        assert failed is not None
        outcomes.append((failed.attempts, failed.status))
        assert await db.reminders.claim_due(now) == []  # waiting out the retry delay
        now += timedelta(minutes=2)
    assert outcomes == [(1, "pending"), (2, "pending"), (3, "failed")]
    final = await db.reminders.get(reminder.reminder_id)
    assert final is not None
    assert (final.status, final.last_error) == (ReminderStatus.FAILED, "Forbidden: DMs closed")


async def test_a_lease_that_runs_out_on_the_last_attempt_fails_the_reminder(db: Database) -> None:
    reminder = await remind(db, 1, max_attempts=1)
    now = T0 + timedelta(minutes=5)
    assert len(await db.reminders.claim_due(now, lease=timedelta(minutes=1))) == 1
    assert await db.reminders.claim_due(now + timedelta(minutes=2)) == []
    final = await db.reminders.get(reminder.reminder_id)
    assert final is not None
    assert final.status == ReminderStatus.FAILED


async def test_guild_reminders_go_with_their_guild_and_dm_reminders_stay(db: Database) -> None:
    await db.guilds.join(GUILD)
    await remind(db, 5, guild_id=GUILD)
    dm = await remind(db, 6)
    await db.guilds.delete(GUILD)
    assert [r.reminder_id for r in await db.reminders.list_for_user(USER)] == [dm.reminder_id]


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"content": ""}, "content"),
        ({"content": "x" * 2001}, "content"),
        ({"remind_at": T0}, "remind_at"),
        ({"remind_at": datetime(2030, 1, 1)}, "remind_at"),  # noqa: DTZ001 - naive on purpose
        ({"channel_id": 0}, "channel_id"),
        ({"max_attempts": 0}, "max_attempts"),
    ],
)
async def test_bad_reminders_are_rejected_naming_the_field(db: Database, options: dict, field: str) -> None:
    data = {"content": "stretch", "remind_at": T0 + timedelta(hours=1)} | options
    with pytest.raises(ValidationError) as raised:
        await db.reminders.create(USER, now=T0, **data)
    assert raised.value.fields == [field]


async def test_a_reminder_in_an_unknown_guild_names_the_guild(db: Database) -> None:
    with pytest.raises(ValidationError) as raised:
        await remind(db, 5, guild_id=GUILD)
    assert raised.value.fields == ["guild_id"]


async def test_a_claimed_reminder_is_never_claimed_by_another_worker(pooled_db: Database) -> None:
    for n in range(60):
        await pooled_db.reminders.create(
            USER + n, content=f"r{n}", remind_at=T0 + timedelta(seconds=n), now=T0 - timedelta(seconds=1)
        )
    now = T0 + timedelta(minutes=5)

    async def worker() -> list[int]:
        taken: list[int] = []
        while batch := await pooled_db.reminders.claim_due(now, limit=3):
            taken.extend(r.reminder_id for r in batch)
        return taken

    per_worker = await asyncio.gather(*(worker() for _ in range(12)), return_exceptions=True)
    assert [r for r in per_worker if isinstance(r, BaseException)] == []  # every task finished cleanly
    claimed = [rid for taken in per_worker for rid in taken]
    assert len(claimed) == len(set(claimed)) == 60
    assert sum(1 for taken in per_worker if taken) > 1


BULK_REMINDERS = """
INSERT INTO reminder (user_id, content, remind_at, status, sent_at)
SELECT CAST(:user AS bigint) + n % 5000, 'reminder ' || n, at.remind_at,
       CAST(CASE WHEN pending THEN 'pending' ELSE 'sent' END AS reminder_status),
       CASE WHEN NOT pending THEN at.remind_at END
FROM generate_series(1, 50000) AS n,
     -- one reminder in twenty is still pending, spread over the next days (a few already due);
     -- the rest is delivered history
     LATERAL (SELECT n % 20 = 0 AS pending) AS p,
     LATERAL (SELECT CASE WHEN pending THEN CAST(:now AS timestamptz) + (n % 4000 - 40) * interval '1 minute'
                          ELSE CAST(:now AS timestamptz) - n * interval '1 minute' END AS remind_at) AS at
"""


async def test_the_claim_scan_reads_the_partial_due_index(db: Database) -> None:
    now = shifted_now()
    async with db.session() as session:
        await session.execute(text(BULK_REMINDERS), {"user": USER, "now": now})
        await session.execute(text("ANALYZE reminder"))
        plans = await query_plans(session, claimable_query(now, limit=10))
    for mode, plan in plans.items():
        assert reads_index(plan, "ix_reminder_due"), f"{mode} plan:\n{plan}"
        assert "Seq Scan" not in plan, plan
