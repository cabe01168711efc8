"""Channel settings (R15.4): slowmode, and lockdowns that save the overwrites and schedule their end."""

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import col

from guildbase import Database
from guildbase.db.context import acting_as
from guildbase.db.types import utcnow
from guildbase.errors import ValidationError
from guildbase.models.channel_settings import LOCKDOWN_END
from guildbase.models.jobs import Job
from guildbase.testing import ids

pytestmark = pytest.mark.clock  # lock ends are measured from now

GUILD, CHANNEL, ROLE, MEMBER, MOD = ids.take(5)
OVERWRITES = [
    {"id": str(GUILD), "type": 0, "allow": "0", "deny": "1024"},
    {"id": str(MEMBER), "type": 1, "allow": "2048", "deny": "0"},
]


@pytest.fixture
async def guild(db: Database) -> int:
    await db.guilds.join(GUILD)
    return GUILD


async def test_a_second_lock_keeps_the_first_saved_overwrites(db: Database, guild: int) -> None:
    first = await db.channel_settings.lock(guild, CHANNEL, OVERWRITES, reason="raid")
    assert first.saved_overwrites is not None
    assert [o.api() for o in first.saved_overwrites] == OVERWRITES
    again = await db.channel_settings.lock(guild, CHANNEL, [{"id": GUILD, "type": 0, "allow": 0, "deny": 2048}])
    assert again.saved_overwrites == first.saved_overwrites
    assert again.locked_at == first.locked_at
    ended = await db.channel_settings.unlock(guild, CHANNEL)
    assert ended is not None
    assert ended.saved_overwrites == first.saved_overwrites
    assert await db.channel_settings.get(guild, CHANNEL) is None
    assert await db.channel_settings.unlock(guild, CHANNEL) is None


async def test_a_timed_lock_schedules_its_end_and_an_unlock_cancels_it(db: Database, guild: int) -> None:
    lock = await db.channel_settings.lock(guild, CHANNEL, OVERWRITES, until=utcnow() + timedelta(hours=1))
    pending = await _pending(db)
    assert [LOCKDOWN_END.parse(payload).locked_at for payload in pending] == [lock.locked_at]
    await db.channel_settings.unlock(guild, CHANNEL)
    assert await _pending(db) == []


async def _pending(db: Database) -> list[dict[str, Any]]:
    async with db.session() as session:
        stmt = select(Job.payload).where(col(Job.kind) == LOCKDOWN_END.name, col(Job.status) == "pending")
        return list((await session.scalars(stmt)).all())


async def test_the_end_job_only_ends_the_lock_it_was_made_for(db: Database, guild: int) -> None:
    lock = await db.channel_settings.lock(guild, CHANNEL, OVERWRITES)
    assert lock.locked_at is not None
    async with db.session() as session:
        assert (
            await db.channel_settings.end_lockdown_in(
                session, guild, CHANNEL, locked_at=lock.locked_at - timedelta(seconds=1)
            )
            is None
        )
    async with db.session() as session:
        ended = await db.channel_settings.end_lockdown_in(session, guild, CHANNEL, locked_at=lock.locked_at)
    assert ended is not None
    assert await db.channel_settings.locked(guild) == []


async def test_slowmode_is_kept_beside_a_lock_and_everything_is_audited(db: Database, guild: int) -> None:
    with acting_as(MOD):
        await db.channel_settings.set_slowmode(guild, CHANNEL, 30)
        await db.channel_settings.lock(guild, CHANNEL, OVERWRITES)
        await db.channel_settings.unlock(guild, CHANNEL)
    kept = await db.channel_settings.get(guild, CHANNEL)
    assert kept is not None
    assert (kept.slowmode_seconds, kept.is_locked) == (30, False)
    with acting_as(MOD):
        assert await db.channel_settings.set_slowmode(guild, CHANNEL, 0) is None
    trail = list(reversed(await db.audit.for_entity("channel", CHANNEL)))
    assert [row.action.value for row in trail] == [
        "channel_slowmode",
        "channel_lock",
        "channel_unlock",
        "channel_slowmode",
    ]
    assert all(row.actor_id == MOD for row in trail)


async def test_bad_overwrites_and_past_ends_are_refused(db: Database, guild: int) -> None:
    with pytest.raises(ValidationError) as caught:
        await db.channel_settings.lock(guild, CHANNEL, [{"id": 1, "type": 5, "allow": 0, "deny": 0}])
    assert caught.value.fields == ["overwrites.0"]
    with pytest.raises(ValidationError) as caught:
        await db.channel_settings.lock(guild, CHANNEL, OVERWRITES, until=utcnow() - timedelta(minutes=1))
    assert caught.value.fields == ["until"]
