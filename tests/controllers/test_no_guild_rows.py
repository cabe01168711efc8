"""Rows of no guild (a DM command, a global change, a DM reminder): ``None`` through the API, guild 0 when stored.

Migration 0027 made ``guild_id`` NOT NULL in ``command_log``, ``audit_log`` and
``reminder`` so they can be distributed by guild (``guildbase.scaleout``);
``db.types.GuildKeyType`` and the raw-SQL readers keep ``None`` meaning "no guild".
"""

import io
import json
from datetime import timedelta

import pytest
from sqlalchemy import text

from guildbase import AuditAction, AuditEntity, Database, acting_as
from guildbase.controllers.logs import rollup
from guildbase.db.types import utcnow
from guildbase.models.event_stats import ExportFormat
from guildbase.models.logs import ALL_GUILDS
from guildbase.testing import ids

pytestmark = pytest.mark.clock


async def _stored(db: Database, sql: str, **params: object) -> list[tuple[object, ...]]:
    async with db.session() as session:
        return [tuple(row) for row in (await session.execute(text(sql), params)).all()]


async def test_a_dm_command_reads_back_with_no_guild_and_is_stored_as_guild_0(db: Database) -> None:
    user, guild = ids.take(2)
    await db.guilds.join(guild)
    await db.logs.record_command(user, "dm-ping")
    await db.logs.record_command(user, "dm-ping", guild_id=guild)
    await db.logs.flush()
    rows = await db.logs.recent_commands(user_id=user)
    assert sorted((row.guild_id or 0, row.command) for row in rows) == [(0, "dm-ping"), (guild, "dm-ping")]
    assert {row.guild_id for row in rows} == {None, guild}
    stored = await _stored(db, "SELECT guild_id FROM command_log WHERE user_id = :u ORDER BY guild_id", u=user)
    assert stored == [(0,), (guild,)]
    assert [row.guild_id for row in await db.logs.recent_commands(guild_id=guild, user_id=user)] == [guild]


async def test_the_rollup_counts_a_dm_command_once_in_the_all_guilds_rows(db: Database) -> None:
    user, guild = ids.take(2)
    command = f"rollup-{user}"  # a name no other test logs, so the all-guilds row is this test's alone
    await db.guilds.join(guild)
    for guild_id in (None, None, None, guild, guild):
        await db.logs.record_command(user, command, guild_id=guild_id, duration_ms=10)
    await db.logs.flush()
    stats = await db.logs.command_stats(days=1, command=command)
    assert [(stat.command, stat.uses) for stat in stats] == [(command, 5)]  # 3 DMs + 2 in the guild, once each
    assert [stat.uses for stat in await db.logs.command_stats(days=1, guild_id=guild, command=command)] == [2]
    stored = await _stored(
        db, "SELECT guild_id, uses FROM command_stat_daily WHERE command = :c ORDER BY guild_id", c=command
    )
    assert stored == [(ALL_GUILDS, 5), (guild, 2)]


async def test_a_dm_command_exports_with_an_empty_guild(db: Database) -> None:
    user = ids.take(1)[0]
    await db.logs.record_command(user, "dm-export")
    await db.logs.flush()
    period = {"since": utcnow() - timedelta(minutes=5), "until": utcnow() + timedelta(minutes=5)}
    out = io.StringIO()
    await db.events.export(out, "command_log", fmt=ExportFormat.JSONL, columns="user_id,guild_id,command", **period)
    mine = [row for row in map(json.loads, out.getvalue().splitlines()) if row["user_id"] == str(user)]
    assert mine == [{"user_id": str(user), "guild_id": None, "command": "dm-export"}]
    csv_out = io.StringIO()
    await db.events.export(csv_out, "command_log", columns="user_id,guild_id", **period)
    assert f"{user}," in csv_out.getvalue().splitlines()


async def test_a_privacy_export_shows_a_dm_command_and_a_dm_reminder_with_no_guild(db: Database) -> None:
    user, guild = ids.take(2)
    now = utcnow()
    await db.guilds.join(guild)
    await db.logs.record_command(user, "dm-privacy")
    await db.logs.record_command(user, "dm-privacy", guild_id=guild)
    await db.logs.flush()
    await db.reminders.create(user, content="dm", remind_at=now + timedelta(hours=1), now=now)
    out = io.StringIO()
    await db.privacy.export_to(out, user, requested_by=user)
    tables = json.loads(out.getvalue())["tables"]
    assert sorted(str(row["guild_id"]) for row in tables["command_log"]) == sorted(["None", str(guild)])
    assert [row["guild_id"] for row in tables["reminder"]] == [None]


async def test_a_global_change_is_audited_with_no_guild_and_stored_as_guild_0(db: Database) -> None:
    target, admin = ids.take(2)
    with acting_as(admin):
        await db.blacklist.add("user", target, reason="raid")
    [row] = await db.audit.for_entity(AuditEntity.GLOBAL_BLACKLIST, f"user:{target}")
    assert (row.action, row.guild_id, row.actor_id) == (AuditAction.BLACKLIST_ADD, None, admin)
    [by_actor] = await db.audit.by_actor(admin)
    assert by_actor.guild_id is None
    stored = await _stored(db, "SELECT guild_id FROM audit_log WHERE audit_id = :a", a=row.audit_id)
    assert stored == [(0,)]


async def test_a_dm_reminder_reads_back_with_no_guild_and_is_stored_as_guild_0(db: Database) -> None:
    user = ids.take(1)[0]
    now = utcnow()
    created = await db.reminders.create(user, content="stretch", remind_at=now + timedelta(hours=1), now=now)
    assert created.guild_id is None
    fetched = await db.reminders.get(created.reminder_id)
    assert fetched is not None
    assert fetched.guild_id is None
    [listed] = await db.reminders.list_for_user(user)
    assert listed.guild_id is None
    job = await _stored(
        db, "SELECT guild_id FROM job WHERE kind = 'reminder_delivery' AND dedupe_key = :k", k=str(created.reminder_id)
    )
    assert job == [(None,)]  # the delivery job says "no guild" as it did (job is not distributed)
    cancelled = await db.reminders.cancel(created.reminder_id, user_id=user)
    assert cancelled.guild_id is None
    stored = await _stored(db, "SELECT guild_id FROM reminder WHERE reminder_id = :r", r=created.reminder_id)
    assert stored == [(0,)]


async def test_deleting_a_guild_deletes_its_reminders_and_their_jobs_and_keeps_dm_ones(db: Database) -> None:
    user, guild, other = ids.take(3)
    now = utcnow()
    await db.guilds.join(guild)
    await db.guilds.join(other)
    at = now + timedelta(hours=1)
    gone = await db.reminders.create(user, content="in the guild", remind_at=at, guild_id=guild, now=now)
    kept = await db.reminders.create(user, content="in another", remind_at=at, guild_id=other, now=now)
    dm = await db.reminders.create(user, content="in DMs", remind_at=at, now=now)
    assert await db.guilds.delete(guild)
    assert await db.reminders.get(gone.reminder_id) is None
    assert {r.reminder_id for r in await db.reminders.list_for_user(user)} == {kept.reminder_id, dm.reminder_id}
    jobs = await _stored(
        db,
        "SELECT dedupe_key FROM job WHERE kind = 'reminder_delivery' AND dedupe_key = ANY(:keys) ORDER BY 1",
        keys=[str(r.reminder_id) for r in (gone, kept, dm)],
    )
    assert jobs == sorted([(str(kept.reminder_id),), (str(dm.reminder_id),)])


def test_a_row_already_holding_guild_0_is_counted_once_in_the_rollup() -> None:
    """A row written as stored (guild 0, e.g. replayed by hand) is a DM command too: never ALL_GUILDS twice."""
    when = utcnow()
    stored_row = (when, 1, 0, None, "ping", "{}", False, "boom", 5)
    dm_row = (when, 1, None, None, "ping", "{}", True, None, 7)
    assert rollup([stored_row, dm_row]) == [[ALL_GUILDS], [when.date()], ["ping"], [2], [1], [12]]
