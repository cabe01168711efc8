"""Leaderboards: Redis sorted sets when Redis is up, PostgreSQL when it is not.

``db.leaderboards.top / rank / around`` read the guild's board from Redis,
rebuilding it from PostgreSQL first when it is missing (first use, expiry,
``FLUSHDB``, a Redis restart). When Redis is unreachable the same calls answer
from PostgreSQL with identical ordering (XP, then user ID, descending), so a
caller never sees a different ranking depending on which store answered.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import text

from guildbase.controllers.base import Controller
from guildbase.controllers.features import gated
from guildbase.db.connection import retry_read
from guildbase.db.validation import aware, instance, integer, moment, page_limit, snowflake, validate_enum
from guildbase.models.core import Feature
from guildbase.models.levels import XPAward
from guildbase.services.leaderboard import BoardEntry, Period, PeriodWindow, board_key, window, windows

__all__ = ["MAX_TOP", "Board", "LeaderboardController"]

MAX_TOP = 100
_UNAVAILABLE = object()  # Redis could not answer: fall back to PostgreSQL

_ALL_ROWS = text("""
SELECT user_id, xp FROM member_level
WHERE guild_id = :guild_id AND NOT is_blacklisted
ORDER BY xp DESC, user_id DESC
""")

_PERIOD_ROWS = text("""
SELECT p.user_id, sum(p.xp)::bigint AS xp
FROM (
    SELECT d.user_id, d.xp FROM member_xp_daily AS d
    WHERE d.guild_id = :guild_id AND d.day >= :start AND d.day < :end
    UNION ALL
    SELECT o.user_id, o.day_xp FROM member_level AS o
    WHERE o.guild_id = :guild_id AND o.open_day >= :start AND o.open_day < :end
) AS p
JOIN member_level AS m ON m.guild_id = :guild_id AND m.user_id = p.user_id
WHERE NOT m.is_blacklisted
GROUP BY p.user_id
ORDER BY xp DESC, p.user_id DESC
""")
"""A period's board: its closed days in ``member_xp_daily`` plus each member's open day if it falls inside.

At most 31 daily rows per member (a month), in one statement; run when a board
is rebuilt or Redis is down, never per message.
"""


@dataclass(frozen=True, slots=True)
class Board:
    """A slice of a leaderboard and which store answered."""

    period: Period
    entries: list[BoardEntry]
    source: Literal["redis", "postgres"]


class LeaderboardController(Controller):
    """Top lists, ranks and neighbourhoods per guild and period."""

    @gated(Feature.LEVELS)
    async def top(
        self, guild_id: int, count: int = 10, *, period: Period | str = Period.ALL, now: datetime | None = None
    ) -> Board:
        """The first ``count`` members."""
        guild_id = snowflake("guild_id", guild_id)
        count = page_limit(count, MAX_TOP, field="count")
        span = self._window(period, now)
        store = self._db.leaderboard_store
        if await self._ready(guild_id, span):
            entries = await self._db.cache.guard(lambda: store.top(guild_id, span, count), None)
            if entries is not None:
                return Board(span.period, entries, "redis")
        rows = await self._rows(guild_id, span)
        return Board(span.period, _entries(rows[:count], 0), "postgres")

    @gated(Feature.LEVELS)
    async def rank(
        self, guild_id: int, user_id: int, *, period: Period | str = Period.ALL, now: datetime | None = None
    ) -> BoardEntry | None:
        """The member's place (ties broken by user ID, as in SQL), or None if unranked."""
        guild_id, user_id = snowflake("guild_id", guild_id), snowflake("user_id", user_id)
        span = self._window(period, now)
        store = self._db.leaderboard_store
        if await self._ready(guild_id, span):
            found = await self._db.cache.guard(lambda: store.position(guild_id, span, user_id), _UNAVAILABLE)
            if found is None:
                return None
            if isinstance(found, tuple):
                return BoardEntry(found[0], user_id, found[1])
        rows = await self._rows(guild_id, span)
        for index, (uid, xp) in enumerate(rows):
            if uid == user_id:
                return BoardEntry(index + 1, uid, xp)
        return None

    async def top_with_rank(
        self,
        guild_id: int,
        user_id: int,
        count: int = 10,
        *,
        period: Period | str = Period.ALL,
        now: datetime | None = None,
    ) -> tuple[Board, BoardEntry | None]:
        """The leaderboard command: the top ``count`` and the caller's place, one Redis round trip.

        Same answers as ``top`` + ``rank``; a board that is not ready (or Redis
        being down) takes their path, which rebuilds it or reads PostgreSQL.
        """
        guild_id, user_id = snowflake("guild_id", guild_id), snowflake("user_id", user_id)
        count = page_limit(count, MAX_TOP, field="count")
        span = self._window(period, now)
        store = self._db.leaderboard_store
        found = await self._db.cache.guard(lambda: store.top_and_position(guild_id, span, count, user_id), None)
        if found is not None:
            entries, position = found
            me = None if position is None else BoardEntry(position[0], user_id, position[1])
            return Board(span.period, entries, "redis"), me
        board = await self.top(guild_id, count, period=period, now=now)
        return board, await self.rank(guild_id, user_id, period=period, now=now)

    async def tied_rank(
        self, guild_id: int, user_id: int, *, period: Period | str = Period.ALL, now: datetime | None = None
    ) -> int | None:
        """Competition rank: 1 + members with strictly more XP (equal XP shares a rank)."""
        entry = await self.rank(guild_id, user_id, period=period, now=now)
        if entry is None:
            return None
        span = self._window(period, now)
        store = self._db.leaderboard_store
        if await self._ready(guild_id, span):
            tied = await self._db.cache.guard(lambda: store.tied_rank(guild_id, span, entry.xp), None)
            if tied is not None:
                return tied
        return 1 + sum(1 for _, xp in await self._rows(guild_id, span) if xp > entry.xp)

    async def around(
        self,
        guild_id: int,
        user_id: int,
        *,
        radius: int = 2,
        period: Period | str = Period.ALL,
        now: datetime | None = None,
    ) -> list[BoardEntry]:
        """The member with up to ``radius`` neighbours above and below."""
        radius = integer("radius", radius, minimum=0, maximum=MAX_TOP // 2)
        me = await self.rank(guild_id, user_id, period=period, now=now)
        if me is None:
            return []
        span = self._window(period, now)
        offset = max(0, me.rank - 1 - radius)
        count = me.rank - offset + radius
        store = self._db.leaderboard_store
        if await self._ready(guild_id, span):
            entries = await self._db.cache.guard(lambda: store.top(guild_id, span, count, offset), None)
            if entries is not None:
                return entries
        rows = await self._rows(guild_id, span)
        return _entries(rows[offset : offset + count], offset)

    async def rebuild(self, guild_id: int, *, period: Period | str = Period.ALL, now: datetime | None = None) -> int:
        """Reload a board from PostgreSQL into Redis; returns how many members it holds."""
        guild_id = snowflake("guild_id", guild_id)
        span = self._window(period, now)
        rows = await self._rows(guild_id, span)
        store = self._db.leaderboard_store
        await self._db.cache.guard(lambda: store.drop(guild_id, [span]), None)
        return await self._db.cache.guard(lambda: store.load(guild_id, span, rows), 0)

    async def record(self, guild_id: int, user_id: int, award: XPAward, now: datetime) -> None:
        """Put an award's totals on the boards (called by ``db.levels`` after its commit)."""
        guild_id, user_id = snowflake("guild_id", guild_id), snowflake("user_id", user_id)
        award, now = instance("award", award, XPAward), aware("now", now)
        if award.xp is None:
            return
        by_period = {
            Period.ALL: award.xp,
            Period.MONTH: award.month_xp,
            Period.WEEK: award.week_xp,
            Period.DAY: award.day_xp,
        }
        totals = [(span, total) for span in windows(now) if (total := by_period[span.period]) is not None]
        store = self._db.leaderboard_store

        async def write() -> bool:
            await store.record(guild_id, user_id, totals)
            return True

        if not await self._db.cache.guard(write, fallback=False):
            # The boards missed this award: rebuild them from PostgreSQL once Redis is back.
            # (Unknown epoch: no board of this process's Redis boot exists yet, none can be stale.)
            epoch = self._db.cache.epochs.current
            if epoch is not None:
                self._db.cache.remember_stale(*_board_keys(guild_id, [span for span, _ in totals], epoch))

    async def forget_member(self, guild_id: int, user_id: int, *, now: datetime | None = None) -> None:
        """Take a member off every current board (blacklisted)."""
        guild_id, user_id = snowflake("guild_id", guild_id), snowflake("user_id", user_id)
        when = moment("now", now)
        spans = [window(period, when) for period in Period]
        store = self._db.leaderboard_store
        await self._db.cache.guard(lambda: store.remove(guild_id, user_id, spans), None)

    async def invalidate(self, guild_id: int, *, now: datetime | None = None) -> None:
        """Drop the guild's current boards; the next read rebuilds them (XP changed by hand)."""
        guild_id = snowflake("guild_id", guild_id)
        when = moment("now", now)
        spans = [window(period, when) for period in Period]
        store = self._db.leaderboard_store
        await self._db.cache.guard(lambda: store.drop(guild_id, spans), None)

    async def _ready(self, guild_id: int, span: PeriodWindow) -> bool:
        """Whether Redis can answer; rebuilds a missing board first."""
        if not await self._db.cache.ready():
            return False
        store = self._db.leaderboard_store
        ready = await self._db.cache.guard(lambda: store.is_ready(guild_id, span), None)
        if ready is None:
            return False
        if not ready:
            rows = await self._rows(guild_id, span)
            loaded = await self._db.cache.guard(lambda: store.load(guild_id, span, rows), None)
            return loaded is not None
        return True

    async def _rows(self, guild_id: int, span: PeriodWindow) -> list[tuple[int, int]]:
        async def read() -> list[tuple[int, int]]:
            async with self._read() as session:
                if span.period is Period.ALL:
                    result = await session.execute(_ALL_ROWS, {"guild_id": guild_id})
                else:
                    params = {"guild_id": guild_id, "start": span.start, "end": span.end}
                    result = await session.execute(_PERIOD_ROWS, params)
                return [(int(uid), int(xp)) for uid, xp in result]

        return await retry_read(read)  # a board read is safe to repeat on a fresh connection

    @staticmethod
    def _window(period: Period | str, now: datetime | None) -> PeriodWindow:
        checked = validate_enum("period", Period, period)
        return window(checked, moment("now", now))


def _board_keys(guild_id: int, spans: list[PeriodWindow], epoch: str) -> list[str]:
    keys = [board_key(guild_id, span, epoch) for span in spans]
    return [*keys, *(key + ":ready" for key in keys)]


def _entries(rows: list[tuple[int, int]], offset: int) -> list[BoardEntry]:
    return [BoardEntry(offset + index + 1, uid, xp) for index, (uid, xp) in enumerate(rows)]
