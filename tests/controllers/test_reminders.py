from datetime import datetime, timedelta

import pytest
from sqlalchemy import text

from guildbase import ConflictError, Database, NotFoundError, PermissionDeniedError, ValidationError
from guildbase.controllers.reminders import user_reminders_query
from guildbase.models.reminders import ReminderStatus
from guildbase.testing import ids, query_plans, reads_index, shifted_noon, shifted_now

pytestmark = pytest.mark.clock  # run again with the clock a year ahead (.ci/run)

BLOCK = ids.block()  # this module's IDs: fixed offsets from a clock-derived base
GUILD = BLOCK + 1
USER = BLOCK + 101
OTHER_USER = BLOCK + 102
CHANNEL = BLOCK + 301
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


async def test_a_users_reminders_are_read_from_their_index(db: Database) -> None:
    now = shifted_now()
    async with db.session() as session:
        await session.execute(text(BULK_REMINDERS), {"user": USER, "now": now})
        await session.execute(text("ANALYZE reminder"))
        plans = await query_plans(session, user_reminders_query(USER + 7, limit=25))
    for mode, plan in plans.items():
        assert reads_index(plan, "ix_reminder_user_id_remind_at"), f"{mode} plan:\n{plan}"
        assert "Seq Scan" not in plan, plan
