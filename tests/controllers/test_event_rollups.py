"""The coarse rollups (per day and member, per day and channel) stay equal to the daily source (W8b, R13.2).

Reports read the coarse tables, so a lost or doubled increment there would be
a wrong report: these tests write from many concurrent tasks with overlapping
keys in shuffled order (which would deadlock or lose updates if the writes were
not sorted upserts in one transaction) and compare every coarse row with the
source summed.
"""

import asyncio
import random
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from guildbase import Database
from guildbase.controllers.event_stats import METRICS, report_sql
from guildbase.db.types import make_snowflake
from guildbase.models.event_stats import GroupBy, Metric
from guildbase.privacy.policy import TOMBSTONE_USER_ID
from guildbase.testing import shifted_noon

pytestmark = pytest.mark.clock

NOON = shifted_noon()
TODAY = NOON.date()
GUILD = make_snowflake(NOON - timedelta(days=400), 61)
CHANNELS = [make_snowflake(NOON - timedelta(days=400), 62 + n) for n in range(3)]
USERS = [make_snowflake(NOON - timedelta(days=300), 70 + n) for n in range(6)]
MOD = make_snowflake(NOON - timedelta(days=300), 90)
WRITERS = 16

_COARSE = {
    "message_stat_daily": (("message_stat_user_daily", "user_id"), ("message_stat_channel_daily", "channel_id")),
    "voice_stat_daily": (("voice_stat_user_daily", "user_id"), ("voice_stat_channel_daily", "channel_id")),
}
_COUNTER = {"message_stat_daily": "messages", "voice_stat_daily": "seconds"}


async def _rows(db: Database, sql: str) -> set[tuple[Any, ...]]:
    async with db.session() as session:
        return {tuple(row) for row in (await session.execute(text(sql)))}


async def _assert_coarse_equal_source(db: Database, source: str) -> None:
    counter = _COUNTER[source]
    for table, key in _COARSE[source]:
        summed = await _rows(
            db,
            f"SELECT guild_id, day, {key}, sum({counter}) FROM {source} GROUP BY guild_id, day, {key}",
        )
        kept = await _rows(db, f"SELECT guild_id, day, {key}, {counter} FROM {table}")
        assert summed, source
        assert kept == summed, table


def _batch(seed: int) -> list[tuple[datetime, int, int, int]]:
    """A writer's batch: 200 messages over two days, every channel and member, in a shuffled order."""
    rng = random.Random(seed)
    rows = [
        (NOON - timedelta(days=rng.randrange(2)), GUILD, rng.choice(CHANNELS), rng.choice(USERS)) for _ in range(200)
    ]
    rng.shuffle(rows)
    return rows


async def test_concurrent_message_writers_keep_the_coarse_rollups_equal_to_the_daily_source(
    pooled_db: Database,
) -> None:
    events = pooled_db.events
    batches = [_batch(seed) for seed in range(WRITERS * 3)]
    await asyncio.gather(*(events.write_messages(batch) for batch in batches))  # a deadlock would raise here
    await _assert_coarse_equal_source(pooled_db, "message_stat_daily")
    total = await _rows(pooled_db, "SELECT sum(messages) FROM message_stat_user_daily")
    assert total == {(WRITERS * 3 * 200,)}  # none lost, none doubled
    per_channel = await _rows(pooled_db, "SELECT sum(messages) FROM message_stat_channel_daily")
    assert per_channel == total


async def test_concurrent_voice_sessions_over_midnight_keep_the_coarse_rollups_equal(pooled_db: Database) -> None:
    events = pooled_db.events
    start = datetime.combine(TODAY, datetime.min.time(), NOON.tzinfo) - timedelta(minutes=30)

    async def member(index: int, user: int) -> None:
        for stint in range(3):  # join, move, move, leave: sessions in every channel, the first across midnight
            began = start + timedelta(minutes=20 * stint + index)
            await events.voice_update(GUILD, user, channel_id=CHANNELS[(index + stint) % 3], occurred_at=began)
        await events.voice_update(GUILD, user, channel_id=None, occurred_at=start + timedelta(minutes=75 + index))

    await asyncio.gather(*(member(index, user) for index, user in enumerate(USERS)))
    await _assert_coarse_equal_source(pooled_db, "voice_stat_daily")
    days = await _rows(pooled_db, "SELECT DISTINCT day FROM voice_stat_user_daily")
    assert days == {(TODAY - timedelta(days=1),), (TODAY,)}  # split at midnight in every table
    seconds = await _rows(pooled_db, "SELECT sum(seconds) FROM voice_stat_channel_daily")
    assert seconds == {(sum(75 * 60 for _ in USERS),)}


async def test_reports_from_the_coarse_rollups_equal_the_same_report_from_the_daily_source(
    pooled_db: Database,
) -> None:
    events = pooled_db.events
    await asyncio.gather(*(events.write_messages(_batch(seed)) for seed in range(4)))
    since, until = TODAY - timedelta(days=1), TODAY
    stats = events.stats
    source = "FROM message_stat_daily WHERE guild_id = :g GROUP BY {0} ORDER BY 2 DESC, 1 LIMIT 10"
    for group, key in ((GroupBy.USER, "user_id"), (GroupBy.CHANNEL, "channel_id")):
        report = await stats(GUILD, Metric.MESSAGES, since=since, until=until, group_by=group)
        async with pooled_db.session() as session:
            sql = text(f"SELECT {key}, sum(messages) " + source.format(key))
            expected = [tuple(row) for row in await session.execute(sql, {"g": GUILD})]
        assert [(row.key, row.value) for row in report] == expected
    per_day = await stats(GUILD, Metric.MESSAGES, since=since, until=until)
    mine = await stats(GUILD, Metric.MESSAGES, since=since, until=until, user_id=USERS[0])
    both = await stats(GUILD, Metric.MESSAGES, since=since, until=until, user_id=USERS[0], channel_id=CHANNELS[0])
    assert sum(row.value for row in per_day) == 800
    assert sum(row.value for row in both) <= sum(row.value for row in mine)
    async with pooled_db.session() as session:
        only = "SELECT sum(messages) FROM message_stat_daily WHERE user_id = :u AND channel_id = :c"
        expected_both = await session.scalar(text(only), {"u": USERS[0], "c": CHANNELS[0]})
    assert sum(row.value for row in both) == expected_both


@pytest.mark.parametrize(
    ("metric", "group", "filters", "table"),
    [
        (Metric.MESSAGES, GroupBy.DAY, {}, "message_stat_channel_daily"),
        (Metric.MESSAGES, GroupBy.USER, {}, "message_stat_user_daily"),
        (Metric.MESSAGES, GroupBy.CHANNEL, {"channel_id": 1}, "message_stat_channel_daily"),
        (Metric.MESSAGES, GroupBy.DAY, {"user_id": 1}, "message_stat_user_daily"),
        (Metric.MESSAGES, GroupBy.USER, {"channel_id": 1}, "message_stat_daily"),
        (Metric.VOICE_MINUTES, GroupBy.USER, {}, "voice_stat_user_daily"),
        (Metric.VOICE_MINUTES, GroupBy.DAY, {"user_id": 1, "channel_id": 1}, "voice_stat_daily"),
        (Metric.JOINS, GroupBy.DAY, {}, "member_stat_daily"),
    ],
)
def test_a_report_reads_the_smallest_rollup_holding_its_columns(
    metric: Metric, group: GroupBy, filters: dict[str, int | None], table: str
) -> None:
    assert f" FROM {table} WHERE " in report_sql(METRICS[metric], group, filters)


async def test_erasing_a_member_folds_their_coarse_rows_into_the_tombstone(db: Database) -> None:
    rows = [(NOON, GUILD, CHANNELS[n % 2], USERS[n % 3]) for n in range(30)]
    await db.events.write_messages(rows)
    await db.privacy.erase(USERS[0], requested_by=MOD)
    async with db.session() as session:
        sql = "SELECT user_id, messages FROM message_stat_user_daily WHERE guild_id = :g ORDER BY user_id"
        kept = {tuple(row) for row in await session.execute(text(sql), {"g": GUILD})}
    assert kept == {(TOMBSTONE_USER_ID, 10), (USERS[1], 10), (USERS[2], 10)}
    await _assert_coarse_equal_source(db, "message_stat_daily")
