"""The event trail: buffered COPY writes that lose nothing, and partitions kept by the retention job (R14)."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from guildbase import Database, Settings, ValidationError
from guildbase.db.engine import with_driver
from guildbase.db.partitions import add_months, month_of
from guildbase.db.types import make_snowflake
from guildbase.models.events import RETENTION_MONTHS, GuildEventKind
from guildbase.testing import shifted_noon, shifted_now

pytestmark = pytest.mark.clock

NOON = shifted_noon()
GUILD = make_snowflake(NOON - timedelta(days=400), 1)
CHANNEL = make_snowflake(NOON - timedelta(days=400), 2)
ROLE = make_snowflake(NOON - timedelta(days=400), 3)
USERS = [make_snowflake(NOON - timedelta(days=300), 100 + n) for n in range(20)]


async def _count(settings: Settings, sql: str) -> int:
    assert settings.database_url is not None
    engine = create_async_engine(with_driver(settings.database_url, "asyncpg"))
    try:
        async with engine.connect() as connection:
            return int((await connection.execute(text(sql))).scalar_one())
    finally:
        await engine.dispose()


async def test_every_queued_event_is_stored_after_a_clean_close(settings: Settings, pooled_db: Database) -> None:
    events = pooled_db.events

    async def member(n: int) -> None:
        user = USERS[n]
        await events.member_joined(GUILD, user, joined_at=NOON + timedelta(seconds=n))
        for k in range(50):
            await events.record_reaction(GUILD, CHANNEL, USERS[0] + k, user, "⭐", occurred_at=NOON)
            await events.record_message(GUILD, CHANNEL, user, occurred_at=NOON)
        await events.record_member_update(GUILD, user, roles_added=[ROLE], occurred_at=NOON)
        await events.record_guild_event(GUILD, GuildEventKind.MEMBER_LEAVE, user_id=user, occurred_at=NOON)

    await asyncio.gather(*(member(n) for n in range(10)))
    await pooled_db.close()  # nothing flushed by hand: close must write everything accepted
    assert await _count(settings, "SELECT count(*) FROM reaction_event") == 500
    assert await _count(settings, "SELECT sum(messages) FROM message_stat_daily") == 500
    assert await _count(settings, "SELECT count(*) FROM guild_event") == 30  # join, update, leave each
    assert await _count(settings, "SELECT sum(joins) + sum(leaves) FROM member_stat_daily") == 20
    assert await _count(settings, f"SELECT added FROM role_stat_daily WHERE role_id = {ROLE}") == 10
    assert await _count(settings, "SELECT count(*) FROM invite_use") == 10


async def test_the_trail_keeps_ids_and_changed_fields_never_a_nickname(pooled_db: Database) -> None:
    events = pooled_db.events
    until = NOON + timedelta(hours=1)
    await events.record_member_update(
        GUILD,
        USERS[1],
        nick_changed=True,
        timeout_changed=True,
        timed_out_until=until,
        executor_id=USERS[2],
        occurred_at=NOON,
    )
    await events.record_member_update(GUILD, USERS[1], occurred_at=NOON)  # nothing changed: nothing recorded
    await events.flush()
    [update] = await events.guild_events(GUILD, user_id=USERS[1], since=NOON - timedelta(days=1))
    assert update.kind is GuildEventKind.MEMBER_UPDATE
    assert update.after == {"nick": True, "timed_out_until": until.isoformat()}
    assert update.executor_id == USERS[2]


async def test_member_join_and_update_have_methods_of_their_own(pooled_db: Database) -> None:
    for kind in (GuildEventKind.MEMBER_JOIN, GuildEventKind.MEMBER_UPDATE):
        with pytest.raises(ValidationError) as raised:
            await pooled_db.events.record_guild_event(GUILD, kind, user_id=USERS[0])
        assert raised.value.fields == ["kind"]


async def test_an_event_in_a_month_without_a_partition_creates_it(pooled_db: Database) -> None:
    later = datetime(NOON.year + 3, 2, 10, tzinfo=UTC)
    await pooled_db.events.record_reaction(GUILD, CHANNEL, USERS[3], USERS[4], "👍", occurred_at=later)
    await pooled_db.events.flush()
    assert f"reaction_event_p{later.year}02" in await pooled_db.events.partitions("reaction_event")
    assert [r.occurred_at for r in await pooled_db.events.reactions(GUILD, USERS[3])] == [later]


async def test_retention_drops_old_months_and_creates_new_ones_across_a_month_boundary(pooled_db: Database) -> None:
    events = pooled_db.events
    keep = RETENTION_MONTHS["reaction_event"]
    this_month = month_of(shifted_now())
    oldest_kept = add_months(this_month, -keep)
    too_old = add_months(this_month, -keep - 1)
    for month in (too_old, oldest_kept):
        day = datetime(month.year, month.month, 15, tzinfo=UTC)
        await events.record_reaction(GUILD, CHANNEL, USERS[5], USERS[6], "⭐", occurred_at=day)
    await events.flush()

    ahead = 4  # one past what the migration created, so the second run has a month to add
    changes = await events.maintain_partitions(now=shifted_now(), months_ahead=ahead)
    names = set(await events.partitions("reaction_event"))
    assert f"reaction_event_p{too_old:%Y%m}" in changes["reaction_event"]["dropped"]
    assert f"reaction_event_p{too_old:%Y%m}" not in names
    assert {f"reaction_event_p{add_months(this_month, n):%Y%m}" for n in (-keep, 0, 1, ahead)} <= names

    # The clock moves into next month: one more month ahead, and the oldest kept one is now past retention.
    next_month = add_months(this_month, 1)
    moved = datetime(next_month.year, next_month.month, 1, 0, 30, tzinfo=UTC)
    changes = await events.maintain_partitions(now=moved, months_ahead=ahead)
    names = set(await events.partitions("reaction_event"))
    assert changes["reaction_event"]["created"] == [f"reaction_event_p{add_months(this_month, ahead + 1):%Y%m}"]
    assert changes["reaction_event"]["dropped"] == [f"reaction_event_p{oldest_kept:%Y%m}"]
    assert f"reaction_event_p{oldest_kept:%Y%m}" not in names
    assert await events.reactions(GUILD, USERS[5]) == []  # both months are gone, whole


async def test_retention_refuses_unknown_tables_and_bad_months(pooled_db: Database) -> None:
    with pytest.raises(ValidationError) as raised:
        await pooled_db.events.maintain_partitions(retention={"command_log": 3})
    assert raised.value.fields == ["retention.command_log"]
    with pytest.raises(ValidationError) as raised:
        await pooled_db.events.maintain_partitions(retention={"guild_event": 0})
    assert raised.value.fields == ["retention.guild_event"]
    with pytest.raises(ValidationError) as raised:
        await pooled_db.events.partitions("mod_case")
    assert raised.value.fields == ["table"]
