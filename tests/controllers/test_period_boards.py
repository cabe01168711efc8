"""Day, week and month boards stay exact when concurrent awards cross a period boundary.

Every member earns an hour before a UTC midnight that starts a new day, a new
ISO week or a new month, then sends two messages a second either side of it,
lined up so that both statements are in flight at once. The awards that
counted decide what every board must show, on both sides of the boundary, from
Redis and again after the boards are flushed and rebuilt from PostgreSQL
(``member_level``'s open day plus ``member_xp_daily``).
"""

import asyncio
import random
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import pytest
import redis.asyncio as aioredis
from sqlalchemy import BigInteger, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY

from guildbase import Database
from guildbase.models.levels import XPAward
from guildbase.services.leaderboard import Period, window
from guildbase.testing import ids, shifted_noon

BLOCK = ids.block()  # this module's IDs: fixed offsets from a clock-derived base
GUILD = BLOCK + 1
CHANNEL = BLOCK + 301
BASE_USER = BLOCK + 100_000
pytestmark = pytest.mark.clock  # run again with the clock a year ahead (.ci/run)


def boundary(kind: str) -> datetime:
    """The latest UTC midnight before today's noon that starts a new month, or only a week, or only a day."""
    today = shifted_noon().replace(hour=0)
    if kind == "month":
        return today.replace(day=1)
    for back in range(1, 40):
        midnight = today - timedelta(days=back)
        starts_week, starts_month = midnight.weekday() == 0, midnight.day == 1
        if not starts_month and starts_week == (kind == "week"):
            return midnight
    msg = f"no {kind} boundary in 40 days"
    raise AssertionError(msg)


WAVE = 16
"""Members whose crossing pair of awards is lined up at once (2 statements each, within the pool)."""

WAITING = """
SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()
"""
LOCK_ROWS = text("SELECT 1 FROM member_level WHERE guild_id = :g AND user_id = ANY(:u) FOR UPDATE").bindparams(
    bindparam("u", type_=ARRAY(BigInteger))
)

Send = Callable[[int, datetime], Awaitable[XPAward]]
Sent = list[tuple[tuple[int, datetime], XPAward]]


async def _line_up(db: Database, members: list[int], send: Send, edge: datetime) -> Sent:
    """Send each member's last award before ``edge`` and first after it while their rows are locked.

    Every statement starts (and takes its snapshot) before any of them can
    write, the ones before midnight queued first, so the one after the
    boundary waits for the one before it: the worst case of two concurrent
    messages a second apart across midnight.
    """
    calls = [(u, edge + timedelta(seconds=s)) for s in (-1, 0) for u in members]
    pending: list[asyncio.Future[XPAward]] = []
    async with db.session() as holder, db.session() as watcher:
        await holder.execute(LOCK_ROWS, {"g": GUILD, "u": members})
        for first in (0, len(members)):
            pending += [asyncio.ensure_future(send(u, when)) for u, when in calls[first : first + len(members)]]
            waiting = 0
            for _ in range(6000):  # until every statement sent so far waits on the locked rows
                waiting = (await watcher.execute(text(WAITING))).scalar_one()
                await watcher.rollback()
                if waiting >= len(pending) or any(task.done() for task in pending):
                    break
                await asyncio.sleep(0.01)
            assert waiting >= len(pending), waiting
    return list(zip(calls, await asyncio.gather(*pending), strict=True))


def _expected(results: Sent, moments: tuple[datetime, ...]) -> dict[tuple[Period, datetime], dict[int, int]]:
    """What each board must show at each moment: the XP of every award that counted in its period."""
    expected: dict[tuple[Period, datetime], dict[int, int]] = {
        (period, moment): {} for period in Period for moment in moments
    }
    for (user_id, when), award in results:
        if not award.is_awarded:  # an older message that lost the race to a newer one: never counted
            continue
        for (period, moment), totals in expected.items():
            if window(period, when) == window(period, moment):
                totals[user_id] = totals.get(user_id, 0) + award.awarded_xp
    return expected


@pytest.mark.parametrize("kind", ["day", "week", "month"])
async def test_boards_are_exact_when_concurrent_awards_cross_a_boundary(
    pooled_db: Database, redis_client: aioredis.Redis, kind: str
) -> None:
    db = pooled_db
    edge = boundary(kind)
    assert (edge.hour, edge.minute, edge.weekday() == 0, edge.day == 1) == (0, 0, kind == "week", kind == "month")
    await db.guilds.join(GUILD)
    await db.levels.configure(GUILD, cooldown_seconds=0)
    users = [BASE_USER + n for n in range(1, 101)]
    rng = random.Random(kind)

    async def send(user_id: int, when: datetime) -> XPAward:
        return await db.levels.award_message_xp(GUILD, user_id, CHANNEL, [], when, roll=rng.random())

    # An hour before the boundary every member earns once (all at once); then, a wave of members at a
    # time, the two messages either side of midnight, lined up behind each member's row lock.
    earlier = [(u, edge - timedelta(hours=1)) for u in users]
    results: Sent = list(zip(earlier, await asyncio.gather(*(send(u, when) for u, when in earlier)), strict=True))
    before, after = edge - timedelta(seconds=1), edge
    for period in Period:  # build every board now: from here on Redis is kept by the awards alone
        for moment in (before, after):
            assert (await db.leaderboards.top(GUILD, 1, period=period, now=moment)).source == "redis"
    for first in range(0, len(users), WAVE):
        results += await _line_up(db, users[first : first + WAVE], send, edge)
    crossed = {u for (u, when), award in results if when == after and award.is_awarded}
    crossed &= {u for (u, when), award in results if when == before and award.is_awarded}
    assert len(crossed) >= 80  # most members earned on both sides of midnight
    expected = _expected(results, (before, after))
    assert expected[Period.DAY, before] != expected[Period.DAY, after]
    async with db.session() as session:
        rows = await session.execute(text("SELECT user_id, xp FROM member_level WHERE guild_id = :g"), {"g": GUILD})
        assert dict(rows.all()) == expected[Period.ALL, after] == expected[Period.ALL, before]
    for flushed in (False, True):
        if flushed:
            await redis_client.flushdb()  # the boards are gone: the next read rebuilds each from PostgreSQL
        for (period, moment), totals in expected.items():
            board = await db.leaderboards.top(GUILD, 100, period=period, now=moment)
            assert board.source == "redis", (period, moment, flushed)
            assert {e.user_id: e.xp for e in board.entries} == totals, (period, moment, flushed)
