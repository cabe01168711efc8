import asyncio
import random
from datetime import datetime, timedelta

import pytest
import redis.asyncio as aioredis
from sqlalchemy import text

from guildbase import Database, Settings, ValidationError
from guildbase.models.levels import XPAward
from guildbase.services.leaderboard import ALL_BOARD_TTL_SECONDS, CLOSED_BOARD_TTL_SECONDS, Period, window
from guildbase.testing import ids, shifted_noon

BLOCK = ids.block()  # this module's IDs: fixed offsets from a clock-derived base
GUILD = BLOCK + 1
CHANNEL = BLOCK + 301
BASE_USER = BLOCK + 100_000
NOW = shifted_noon()
pytestmark = pytest.mark.clock  # run again with the clock a year ahead (.ci/run)


def _calendar(today: datetime) -> tuple[datetime, datetime, datetime]:
    """``(last_month, monday, now)`` at noon: a Monday and the Wednesday after it in ``today``'s month.

    The Monday is the first one from the 2nd on, so both days share a week and
    a month whatever the date, and the 1st's eve is in the month before.
    """
    second = today.replace(day=2, hour=12, minute=0, second=0, microsecond=0)
    monday = second + timedelta(days=-second.weekday() % 7)
    return second - timedelta(days=2), monday, monday + timedelta(days=2)


async def _seed_members(db: Database, count: int, *, seed: int = 7) -> None:
    """Bulk members with many XP ties (integer XP in a small range)."""
    async with db.session() as session:
        await session.execute(
            text(
                "INSERT INTO member_level (guild_id, user_id, xp, level) "
                "SELECT :guild, CAST(:base AS bigint) + n, (abs(hashint4(n + :seed)) % 500)::bigint, 0 "
                "FROM generate_series(1, :count) AS n"
            ),
            {"guild": GUILD, "base": BASE_USER, "count": count, "seed": seed},
        )


async def _sql_ranking(db: Database) -> list[tuple[int, int]]:
    async with db.session() as session:
        rows = await session.execute(
            text(
                "SELECT user_id, xp FROM member_level WHERE guild_id = :guild AND NOT is_blacklisted "
                "ORDER BY xp DESC, user_id DESC"
            ),
            {"guild": GUILD},
        )
        return [(int(u), int(x)) for u, x in rows]


async def _redis_ranking(db: Database, period: Period = Period.ALL, now: datetime = NOW) -> list[tuple[int, int]]:
    entries = await db.leaderboard_store.top(GUILD, window(period, now), 1_000_000)
    return [(e.user_id, e.xp) for e in entries]


async def test_redis_board_equals_the_sql_ranking_at_10000_members_and_after_flushdb(
    db: Database, redis_client: aioredis.Redis
) -> None:
    await db.guilds.join(GUILD)
    await _seed_members(db, 10_000)
    rng = random.Random(3)
    for minute in range(200):  # random awards on top, through the real hot path
        user = BASE_USER + rng.randint(1, 10_000)
        await db.levels.award_message_xp(GUILD, user, CHANNEL, [], NOW + timedelta(minutes=minute), roll=rng.random())
    board = await db.leaderboards.top(GUILD, 100)
    assert board.source == "redis"
    expected = await _sql_ranking(db)
    assert await _redis_ranking(db) == expected
    sample = rng.sample(expected, 50)
    for user_id, xp in sample:
        entry = await db.leaderboards.rank(GUILD, user_id)
        assert entry is not None
        assert (entry.user_id, entry.xp) == (user_id, xp)
        assert entry.rank == expected.index((user_id, xp)) + 1
        card = await db.levels.rank(GUILD, user_id)
        assert card is not None
        assert card.rank == entry.rank
        assert await db.leaderboards.tied_rank(GUILD, user_id) == 1 + sum(1 for _, x in expected if x > xp)

    await redis_client.flushdb()
    rebuilt = await db.leaderboards.top(GUILD, 100)
    assert rebuilt.source == "redis"
    assert await _redis_ranking(db) == expected


async def test_ties_are_broken_by_user_id_like_sql(db: Database) -> None:
    await db.guilds.join(GUILD)
    async with db.session() as session:
        await session.execute(
            text("INSERT INTO member_level (guild_id, user_id, xp) VALUES (:g, :a, 50), (:g, :b, 50), (:g, :c, 70)"),
            {"g": GUILD, "a": BASE_USER + 9, "b": BASE_USER + 10, "c": BASE_USER + 1},
        )
    board = await db.leaderboards.top(GUILD, 3)
    assert [(e.rank, e.user_id) for e in board.entries] == [(1, BASE_USER + 1), (2, BASE_USER + 10), (3, BASE_USER + 9)]
    assert await db.leaderboards.tied_rank(GUILD, BASE_USER + 9) == 2


@pytest.mark.parametrize(
    "today",
    [NOW, NOW - timedelta(days=40), NOW - timedelta(days=400)],
    ids=["this-month", "a-closed-month", "last-year"],
)
async def test_period_boards_hold_period_totals_and_rebuild_from_daily_xp(
    db: Database, redis_client: aioredis.Redis, today: datetime
) -> None:
    await db.guilds.join(GUILD)
    alice, bob = BASE_USER + 1, BASE_USER + 2
    last_month, monday, now = _calendar(today)
    for when, user in [
        (last_month, alice),
        (monday, alice),
        (monday, bob),
        (now, bob),
        (now + timedelta(hours=1), bob),
    ]:
        award = await db.levels.award_message_xp(GUILD, user, CHANNEL, [], when, roll=0.0)
        assert award.awarded_xp == 15
    expected = {
        Period.ALL: [(bob, 45), (alice, 30)],
        Period.MONTH: [(bob, 45), (alice, 15)],
        Period.WEEK: [(bob, 45), (alice, 15)],
        Period.DAY: [(bob, 30)],
    }
    for period, ranking in expected.items():
        board = await db.leaderboards.top(GUILD, 10, period=period, now=now)
        assert [(e.user_id, e.xp) for e in board.entries] == ranking, period
        assert board.source == "redis", period
    await redis_client.flushdb()
    for period, ranking in expected.items():
        assert (await db.leaderboards.rank(GUILD, ranking[0][0], period=period, now=now)) is not None
        assert await _redis_ranking(db, period, now) == ranking, period
    for period in (Period.DAY, Period.WEEK, Period.MONTH):  # kept, even for a period that has ended
        ttl = await redis_client.ttl(await db.leaderboard_store.key(GUILD, window(period, now)))
        assert ttl >= CLOSED_BOARD_TTL_SECONDS - 5, period
        assert await redis_client.ttl(await db.leaderboard_store.key(GUILD, window(period, now)) + ":ready") <= ttl
    all_time = await redis_client.ttl(await db.leaderboard_store.key(GUILD, window(Period.ALL, now)))
    assert ALL_BOARD_TTL_SECONDS - 5 <= all_time <= ALL_BOARD_TTL_SECONDS  # renewed by awards; old epochs expire


async def test_a_closed_period_board_is_rebuilt_not_served_empty(db: Database, redis_client: aioredis.Redis) -> None:
    """Regression: a week that ended got an EXPIREAT in the past, and its empty board was trusted."""
    await db.guilds.join(GUILD)
    last_week = NOW - timedelta(days=10)
    await db.levels.award_message_xp(GUILD, BASE_USER + 1, CHANNEL, [], last_week, roll=0.0)
    await redis_client.flushdb()  # the award's own board write is gone: the read must rebuild it
    for period in (Period.DAY, Period.WEEK):
        board = await db.leaderboards.top(GUILD, 10, period=period, now=last_week)
        assert [(e.user_id, e.xp) for e in board.entries] == [(BASE_USER + 1, 15)], period
        rank = await db.leaderboards.rank(GUILD, BASE_USER + 1, period=period, now=last_week)
        assert rank is not None
        assert rank.rank == 1


async def test_blacklisted_members_leave_the_board_and_come_back(db: Database) -> None:
    await db.guilds.join(GUILD)
    await _seed_members(db, 20)
    top = (await db.leaderboards.top(GUILD, 1)).entries[0]
    await db.levels.blacklist(GUILD, top.user_id)
    assert await db.leaderboards.rank(GUILD, top.user_id) is None
    assert top.user_id not in [e.user_id for e in (await db.leaderboards.top(GUILD, 20)).entries]
    await db.levels.unblacklist(GUILD, top.user_id)
    back = await db.leaderboards.rank(GUILD, top.user_id)
    assert back is not None
    assert back.rank == 1


async def test_hand_edits_and_resets_are_reflected_after_rebuild(db: Database) -> None:
    await db.guilds.join(GUILD)
    await _seed_members(db, 10)
    leader = (await db.leaderboards.top(GUILD, 1)).entries[0]
    await db.levels.set_xp(GUILD, leader.user_id, 0)
    assert (await db.leaderboards.top(GUILD, 1)).entries[0].user_id != leader.user_id
    await db.levels.reset(GUILD)
    assert {e.xp for e in (await db.leaderboards.top(GUILD, 10)).entries} == {0}


async def test_around_returns_the_neighbourhood(db: Database) -> None:
    await db.guilds.join(GUILD)
    await _seed_members(db, 30)
    expected = await _sql_ranking(db)
    user_id = expected[10][0]
    around = await db.leaderboards.around(GUILD, user_id, radius=2)
    assert [(e.user_id, e.xp) for e in around] == expected[8:13]
    assert [e.rank for e in around] == [9, 10, 11, 12, 13]
    first = await db.leaderboards.around(GUILD, expected[0][0], radius=2)
    assert [e.rank for e in first] == [1, 2, 3]


async def test_concurrent_awards_leave_redis_equal_to_postgres(pooled_db: Database) -> None:
    db = pooled_db
    await db.guilds.join(GUILD)
    await db.levels.configure(GUILD, cooldown_seconds=0)
    rng = random.Random(11)
    users = [BASE_USER + n for n in range(1, 51)]
    calls = [
        db.levels.award_message_xp(GUILD, rng.choice(users), CHANNEL, [], NOW + timedelta(seconds=i), roll=rng.random())
        for i in range(500)
    ]
    await asyncio.gather(*calls, return_exceptions=False)
    assert (await db.leaderboards.top(GUILD, 1)).source == "redis"
    assert await _redis_ranking(db) == await _sql_ranking(db)
    assert await _redis_ranking(db, Period.DAY) == await _sql_ranking(db)


async def test_period_boards_are_exact_after_1000_concurrent_awards_and_a_flush(
    pooled_db: Database, redis_client: aioredis.Redis
) -> None:
    """Day, week and month totals stay exact under concurrency, in Redis and rebuilt from the daily rows."""
    db = pooled_db
    await db.guilds.join(GUILD)
    await db.levels.configure(GUILD, cooldown_seconds=0)
    last_month, monday, now = _calendar(NOW)
    users = [BASE_USER + n for n in range(1, 101)]
    rng = random.Random(24)
    days = [[(u, last_month) for u in users[:40]], [(u, monday) for u in users[20:70]]]
    days.append([(users[n % 100], now + timedelta(seconds=n // 100)) for n in range(1000)])
    expected: dict[Period, dict[int, int]] = {period: {} for period in Period}
    in_flight = asyncio.Semaphore(32)  # all concurrent, within the pool: a loaded machine never times out on it

    async def send(user_id: int, when: datetime, roll: float) -> XPAward:
        async with in_flight:
            return await db.levels.award_message_xp(GUILD, user_id, CHANNEL, [], when, roll=roll)

    for period in Period:  # the boards exist before the awards: Redis is then kept by the awards alone
        assert (await db.leaderboards.top(GUILD, 1, period=period, now=now)).source == "redis"
    for calls in days:  # each day's messages all at once; the days in the order they happen
        awards = await asyncio.gather(*(send(u, when, rng.random()) for u, when in calls))
        for (u, when), award in zip(calls, awards, strict=True):
            assert award.is_awarded
            for period, totals in expected.items():
                if window(period, when) == window(period, now):
                    totals[u] = totals.get(u, 0) + award.awarded_xp
    assert len(expected[Period.DAY]) == 100
    assert expected[Period.WEEK] != expected[Period.DAY] != expected[Period.MONTH] != expected[Period.ALL]
    for flushed in (False, True):
        if flushed:
            await redis_client.flushdb()
        for period, totals in expected.items():
            board = await db.leaderboards.top(GUILD, 100, period=period, now=now)
            assert {e.user_id: e.xp for e in board.entries} == totals, (period, flushed)
            assert board.source == "redis", (period, flushed)  # served from (or rebuilt into) the board


async def test_leaderboards_are_served_from_postgres_when_redis_is_down(settings: Settings) -> None:
    database = await Database(settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})).connect()
    try:
        await database.guilds.join(GUILD)
        await _seed_members(database, 25)
        board = await database.leaderboards.top(GUILD, 5)
        assert board.source == "postgres"
        assert [(e.user_id, e.xp) for e in board.entries] == (await _sql_ranking(database))[:5]
        award = await database.levels.award_message_xp(GUILD, BASE_USER + 1, CHANNEL, [], NOW, roll=0.5)
        assert award.awarded_xp > 0
    finally:
        await database.guilds.delete(GUILD)
        await database.close()


@pytest.mark.parametrize(("kwargs", "field"), [({"count": 0}, "count"), ({"period": "year"}, "period")])
async def test_bad_leaderboard_arguments_name_the_field(db: Database, kwargs: dict[str, object], field: str) -> None:
    await db.guilds.join(GUILD)
    with pytest.raises(ValidationError) as raised:
        await db.leaderboards.top(GUILD, **kwargs)  # type: ignore[arg-type]
    assert raised.value.fields == [field]
