"""Leaderboards in Redis sorted sets: one per guild and period, rebuildable from PostgreSQL.

Scores are *absolute* totals (the member's XP for the period, returned by the
award statement), written with ``ZADD GT``. Writing a total instead of adding
an increment makes every write idempotent and order-independent: a retried
write, two processes racing, or a rebuild running beside live awards can
never double-count, and the highest (latest) total wins.

Members are stored as zero-padded user IDs, so for equal XP Redis orders them
by user ID descending — exactly the order of the PostgreSQL leaderboard
(``xp DESC, user_id DESC``); ranks from either source agree.

A board is trusted only while its ``:ready`` marker exists; the marker is set
after a full rebuild from PostgreSQL, so a board that Redis lost (or never
had) is rebuilt before it is read, and partial boards are never served.

Board keys carry the Redis server's epoch (``services.epoch``): after a
restart from a dump or a failover, the boards the old data held (with XP
since raised or lowered) are never read again; the new epoch's boards start
empty and are rebuilt from PostgreSQL, and the old ones expire, which is why
all-time boards have a TTL too (``ALL_BOARD_TTL_SECONDS``, renewed by every
award and rebuild).

Period boards expire a day after their period ends. The expiry is sent as a
relative TTL of at least ``CLOSED_BOARD_TTL_SECONDS``, never as an absolute
``EXPIREAT``: a board for a period that already ended (a report on last week)
would otherwise be deleted the moment it is written, and its ``:ready``
marker with it, or after it, so an empty board could be trusted. A relative
TTL also does not depend on Redis and the bot agreeing on the time. Every
write of a board's members sets the TTL of the key again, so the members
never expire before the ``:ready`` marker that vouches for them.
"""

import enum
import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import cast

from guildbase.services.batching import CommandBatcher
from guildbase.services.epoch import EpochWatch
from guildbase.services.keys import guild_key
from guildbase.services.redis import RedisClient, is_in_process

_MEMBER_WIDTH = 19  # digits of 2**63-1: fixed width makes lexicographic order numeric
_CHUNK = 1000
CLOSED_BOARD_TTL_SECONDS = 3600
"""How long a board of a period that has ended (or ends within the hour) stays cached."""
ALL_BOARD_TTL_SECONDS = 30 * 86_400
"""How long an all-time board outlives its last award or rebuild (a board of an old Redis epoch goes with it)."""


class Period(enum.StrEnum):
    """Which board: all-time, or the current UTC month, ISO week or day."""

    ALL = "all"
    MONTH = "month"
    WEEK = "week"
    DAY = "day"


@dataclass(frozen=True, slots=True)
class PeriodWindow:
    """The days a period covers, and the Redis key suffix naming it."""

    period: Period
    start: date | None
    end: date | None
    label: str

    @property
    def expires_at(self) -> datetime | None:
        """When Redis may forget the board (a day after the period ends)."""
        return None if self.end is None else _day_after(self.end)

    def ttl_seconds(self, now: datetime | None = None) -> int:
        """The TTL to give the board now: until ``expires_at``, but never below an hour; a month for all-time."""
        expires_at = self.expires_at
        if expires_at is None:
            return ALL_BOARD_TTL_SECONDS
        remaining = (expires_at - (now or datetime.now(UTC))).total_seconds()
        return max(int(remaining), CLOSED_BOARD_TTL_SECONDS)


def window(period: Period, now: datetime) -> PeriodWindow:
    """The period containing ``now`` (UTC)."""
    today = now.astimezone(UTC).date()
    if period is Period.ALL:
        return PeriodWindow(period, None, None, "all")
    if period is Period.DAY:
        return PeriodWindow(period, today, today + timedelta(days=1), f"day:{today.isoformat()}")
    if period is Period.WEEK:
        start = today - timedelta(days=today.weekday())
        year, week, _ = today.isocalendar()
        return PeriodWindow(period, start, start + timedelta(days=7), f"week:{year}-W{week:02d}")
    start = today.replace(day=1)
    end = (start + timedelta(days=32)).replace(day=1)
    return PeriodWindow(period, start, end, f"month:{start.year}-{start.month:02d}")


def windows(now: datetime) -> tuple[PeriodWindow, ...]:
    """Every period containing ``now``: all-time, month, week, day (what one award updates)."""
    return _windows_of(now.astimezone(UTC).date())


@functools.lru_cache(maxsize=64)
def _windows_of(today: date) -> tuple[PeriodWindow, ...]:
    """Every award of a UTC day has the same four windows (frozen, so one tuple serves them all)."""
    noon = datetime(today.year, today.month, today.day, 12, tzinfo=UTC)
    return tuple(window(period, noon) for period in Period)


@functools.lru_cache(maxsize=64)
def _day_after(end: date) -> datetime:
    return datetime(end.year, end.month, end.day, tzinfo=UTC) + timedelta(days=1)


RECORD_SCRIPT = """
for i, key in ipairs(KEYS) do
    redis.call('ZADD', key, 'GT', ARGV[2 * i], ARGV[1])
    redis.call('EXPIRE', key, ARGV[2 * i + 1])
end
return #KEYS
"""
"""An award on its boards: KEYS are the boards, ARGV the member, then each board's total and TTL."""


def board_key(guild_id: int, period_window: PeriodWindow, epoch: str) -> str:
    """``gb:v1:{g:<guild>}:lb:<epoch>:<label>``: the board of one period in one Redis server boot."""
    return guild_key(guild_id, "lb", epoch, period_window.label)


def _member(user_id: int) -> str:
    return f"{user_id:0{_MEMBER_WIDTH}d}"


@dataclass(frozen=True, slots=True)
class BoardEntry:
    """One ranked member: position rank (ties broken like SQL) and tied rank (ties share)."""

    rank: int
    user_id: int
    xp: int


class LeaderboardStore:
    """The Redis half of the leaderboards; ``controllers.leaderboards`` adds the PostgreSQL half."""

    def __init__(self, client: RedisClient, batcher: CommandBatcher, epochs: EpochWatch) -> None:
        self.client = client
        self.batcher = batcher
        self.epochs = epochs
        self.scripted = not is_in_process(client)
        """Whether awards go out as one ``EVAL`` (a real server or cluster) or as plain commands (fakeredis)."""

    async def key(self, guild_id: int, period_window: PeriodWindow) -> str:
        """The board's key in the current Redis epoch."""
        return board_key(guild_id, period_window, await self.epochs.epoch())

    async def record(self, guild_id: int, user_id: int, totals: Iterable[tuple[PeriodWindow, int]]) -> None:
        """Store a member's new totals on their period boards (batched with other awards of this loop turn).

        One ``EVAL`` of ``RECORD_SCRIPT`` (ZADD GT and EXPIRE on every board,
        which share the guild's slot) instead of two commands per board; the
        in-process Redis, which runs no scripts, gets the same commands one by one.
        """
        epoch, member, now = await self.epochs.epoch(), _member(user_id), datetime.now(UTC)
        keys: list[str] = []
        args: list[object] = [member]
        for period_window, total in totals:
            keys.append(board_key(guild_id, period_window, epoch))
            args += (total, period_window.ttl_seconds(now))
        if self.scripted:
            await self.batcher.execute("EVAL", RECORD_SCRIPT, len(keys), *keys, *args)
            return
        commands: list[tuple[object, ...]] = []
        for index, key in enumerate(keys):
            commands.append(("ZADD", key, "GT", args[2 * index + 1], member, {}))
            commands.append(("EXPIRE", key, args[2 * index + 2], {}))
        await self.batcher.execute_many(*commands)

    async def is_ready(self, guild_id: int, period_window: PeriodWindow) -> bool:
        """Whether the board was fully built and can be served."""
        return bool(await self.client.exists(await self.key(guild_id, period_window) + ":ready"))

    async def load(self, guild_id: int, period_window: PeriodWindow, rows: Iterable[tuple[int, int]]) -> int:
        """Write a full board from PostgreSQL rows ``(user_id, xp)``, then mark it ready."""
        key = await self.key(guild_id, period_window)
        count = 0
        batch: dict[str, int] = {}
        async with self.client.pipeline(transaction=False) as pipe:
            for user_id, xp in rows:
                batch[_member(user_id)] = xp
                count += 1
                if len(batch) >= _CHUNK:
                    pipe.zadd(key, batch, gt=True)
                    batch = {}
            if batch:
                pipe.zadd(key, batch, gt=True)
            ttl = period_window.ttl_seconds()
            pipe.set(key + ":ready", "1", ex=ttl)
            pipe.expire(key, ttl)
            await pipe.execute()
        return count

    async def remove(self, guild_id: int, user_id: int, windows: Iterable[PeriodWindow]) -> None:
        """Take a member off the boards (blacklisted)."""
        async with self.client.pipeline(transaction=False) as pipe:
            for period_window in windows:
                pipe.zrem(await self.key(guild_id, period_window), _member(user_id))
            await pipe.execute()

    async def drop(self, guild_id: int, windows: Iterable[PeriodWindow]) -> None:
        """Forget boards so the next read rebuilds them (after XP was lowered by hand)."""
        keys = [await self.key(guild_id, w) for w in windows]
        await self.client.delete(*keys, *(key + ":ready" for key in keys))

    async def top(self, guild_id: int, period_window: PeriodWindow, count: int, offset: int = 0) -> list[BoardEntry]:
        """``count`` entries from position ``offset`` (0 = first place)."""
        key = await self.key(guild_id, period_window)
        rows = cast(
            "list[tuple[str, float]]", await self.client.zrevrange(key, offset, offset + count - 1, withscores=True)
        )
        return [BoardEntry(offset + index + 1, int(member), int(score)) for index, (member, score) in enumerate(rows)]

    async def position(self, guild_id: int, period_window: PeriodWindow, user_id: int) -> tuple[int, int] | None:
        """``(rank, xp)`` of a member, or None when not on the board."""
        key = await self.key(guild_id, period_window)
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.zrevrank(key, _member(user_id))
            pipe.zscore(key, _member(user_id))
            rank, score = await pipe.execute()
        return None if rank is None else (int(rank) + 1, int(score))

    async def top_and_position(
        self, guild_id: int, period_window: PeriodWindow, count: int, user_id: int
    ) -> tuple[list[BoardEntry], tuple[int, int] | None] | None:
        """The top ``count`` and a member's ``(rank, xp)`` in ONE round trip; None if the board is not ready."""
        key, member = await self.key(guild_id, period_window), _member(user_id)
        # Batched with the other callers of this loop turn (the leaderboard command is a burst workload).
        ready, rows, rank, score = await self.batcher.execute_many(
            ("EXISTS", key + ":ready", {}),
            ("ZREVRANGE", key, 0, count - 1, "WITHSCORES", {"withscores": True, "score_cast_func": float}),
            ("ZREVRANK", key, member, {}),
            ("ZSCORE", key, member, {}),
        )
        if not ready:
            return None
        top = [BoardEntry(index + 1, int(member), int(xp)) for index, (member, xp) in enumerate(rows)]
        return top, None if rank is None else (int(rank) + 1, int(score))

    async def tied_rank(self, guild_id: int, period_window: PeriodWindow, xp: int) -> int:
        """1 + members with strictly more XP (competition ranking, ties share a rank)."""
        return int(await self.client.zcount(await self.key(guild_id, period_window), f"({xp}", "+inf")) + 1

    async def size(self, guild_id: int, period_window: PeriodWindow) -> int:
        """Members on the board."""
        return int(await self.client.zcard(await self.key(guild_id, period_window)))
