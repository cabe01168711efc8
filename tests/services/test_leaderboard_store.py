"""The Redis boards (``services.leaderboard``), on one server and on a Redis Cluster.

An award goes out as one script per award (ZADD GT and EXPIRE on the four
boards of the guild's slot); the in-process Redis gets the same commands one by
one. After 1,000 concurrent awards every board equals what the awards added,
and after the whole Redis is flushed every board is rebuilt equal to it.
"""

import asyncio
import random
from datetime import datetime, timedelta

import pytest

from guildbase import Database
from guildbase.models.levels import XPAward
from guildbase.services.batching import CommandBatcher
from guildbase.services.epoch import EpochWatch
from guildbase.services.leaderboard import CLOSED_BOARD_TTL_SECONDS, LeaderboardStore, Period, window, windows
from guildbase.services.redis import RedisClient, create_redis, is_cluster
from guildbase.testing import ids, shifted_noon

BLOCK = ids.block()  # this module's IDs: fixed offsets from a clock-derived base
GUILD = BLOCK + 1
CHANNEL = BLOCK + 301
BASE_USER = BLOCK + 100_000
NOW = shifted_noon()
pytestmark = pytest.mark.clock  # run again with the clock a year ahead (.ci/run)


async def _boards(store: LeaderboardStore) -> dict[Period, tuple[list[tuple[int, int]], bool]]:
    """Every current board: its members with their XP, and whether its key has a TTL."""
    out = {}
    for span in windows(NOW):
        key = await store.key(GUILD, span)
        members = [(e.user_id, e.xp) for e in await store.top(GUILD, span, 100)]
        out[span.period] = (members, await store.client.ttl(key) >= CLOSED_BOARD_TTL_SECONDS - 5)
    return out


async def _record_some(store: LeaderboardStore) -> None:
    alice, bob = BASE_USER + 1, BASE_USER + 2
    await store.record(GUILD, alice, [(span, 40) for span in windows(NOW)])
    await store.record(GUILD, bob, [(span, 30) for span in windows(NOW)])
    await store.record(GUILD, alice, [(span, 10) for span in windows(NOW)])  # a late, lower total: kept at 40
    await store.record(GUILD, bob, [(window(Period.ALL, NOW), 55), (window(Period.DAY, NOW), 35)])


async def test_an_award_reaches_every_board_in_one_script_and_fakeredis_gets_the_same(
    redis_client: RedisClient,
) -> None:
    batcher = CommandBatcher(redis_client)
    store = LeaderboardStore(redis_client, batcher, EpochWatch(redis_client))
    assert store.scripted
    before = batcher.batches
    await _record_some(store)
    assert batcher.batches - before == 4  # one pipeline of one command per award
    scripted = await _boards(store)
    alice, bob = BASE_USER + 1, BASE_USER + 2
    assert scripted == {
        Period.ALL: ([(bob, 55), (alice, 40)], True),
        Period.MONTH: ([(alice, 40), (bob, 30)], True),
        Period.WEEK: ([(alice, 40), (bob, 30)], True),
        Period.DAY: ([(alice, 40), (bob, 35)], True),
    }
    fake = create_redis(None)
    try:
        in_process = LeaderboardStore(fake, CommandBatcher(fake), EpochWatch(fake, fixed=True))
        assert not in_process.scripted
        await _record_some(in_process)
        assert await _boards(in_process) == scripted
    finally:
        await fake.aclose()


async def test_period_boards_are_exact_after_1000_concurrent_awards_and_a_flush_of_redis(
    pooled_db: Database, redis_client: RedisClient
) -> None:
    db = pooled_db
    await db.guilds.join(GUILD)
    await db.levels.configure(GUILD, cooldown_seconds=0)
    users = [BASE_USER + n for n in range(1, 101)]
    yesterday = NOW - timedelta(days=1)
    for period in Period:  # the boards exist first: Redis is then kept by the awards alone
        assert (await db.leaderboards.top(GUILD, 1, period=period, now=NOW)).source == "redis"
    rng = random.Random(1000)
    in_flight = asyncio.Semaphore(32)  # many tasks at once, within the pool

    async def send(user_id: int, when: datetime) -> XPAward:
        async with in_flight:
            return await db.levels.award_message_xp(GUILD, user_id, CHANNEL, [], when, roll=rng.random())

    calls = [(u, yesterday) for u in users[:30]]
    awards = list(await asyncio.gather(*(send(u, when) for u, when in calls)))
    today = [(users[n % 100], NOW + timedelta(seconds=n // 100)) for n in range(1000)]
    awards += await asyncio.gather(*(send(u, when) for u, when in today))
    calls += today
    expected: dict[Period, dict[int, int]] = {period: {} for period in Period}
    for (u, when), award in zip(calls, awards, strict=True):
        if not award.is_awarded:  # overtaken by the member's next message (cooldown 0 admits none older)
            continue
        for period, totals in expected.items():
            if window(period, when) == window(period, NOW):
                totals[u] = totals.get(u, 0) + award.awarded_xp
    assert sum(award.is_awarded for award in awards) >= 900
    assert len(expected[Period.DAY]) == 100
    for flushed in (False, True):
        if flushed:
            # The run's own cluster can be emptied whole; a single server is shared with other suites,
            # so there only this run's leased db is (FLUSHALL would empty theirs too).
            await (redis_client.flushall() if is_cluster(redis_client) else redis_client.flushdb())
        for period, totals in expected.items():
            board = await db.leaderboards.top(GUILD, 100, period=period, now=NOW)
            assert board.source == "redis", (period, flushed)
            assert {e.user_id: e.xp for e in board.entries} == totals, (period, flushed)
