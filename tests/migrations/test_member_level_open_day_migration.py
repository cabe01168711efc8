"""Migration 0028 moves each member's latest day into ``member_level`` (their open day), and back."""

from datetime import UTC, date, datetime, timedelta

from alembic import command
from scratch_sql import rows as _rows
from sqlalchemy.engine import URL

from guildbase.db.migrations import alembic_config
from guildbase.db.types import make_snowflake, utcnow
from guildbase.services.leaderboard import Period, window
from guildbase.testing import shifted_noon

GUILD = make_snowflake(utcnow() - timedelta(days=400), 81)
ALICE, BOB, CAROL, DAN = (make_snowflake(utcnow() - timedelta(days=300), n) for n in (82, 83, 84, 85))
LATEST = shifted_noon() - timedelta(days=3)

OLD_PERIOD = """
SELECT user_id, sum(xp) FROM member_xp_daily
WHERE guild_id = %(g)s AND day >= %(start)s AND day < %(end)s GROUP BY user_id
"""
NEW_PERIOD = """
SELECT user_id, sum(xp) FROM (
    SELECT user_id, xp FROM member_xp_daily WHERE guild_id = %(g)s AND day >= %(start)s AND day < %(end)s
    UNION ALL
    SELECT user_id, day_xp FROM member_level WHERE guild_id = %(g)s AND open_day >= %(start)s AND open_day < %(end)s
) AS p GROUP BY user_id
"""


def _days(*back: int) -> list[date]:
    return [LATEST.date() - timedelta(days=n) for n in back]


def _periods(url: URL, sql: str) -> dict[tuple[Period, date], dict[int, int]]:
    """Every member's XP in the day, week and month of each seeded day."""
    out = {}
    for day in _days(0, 1, 6, 8, 35):
        for period in (Period.DAY, Period.WEEK, Period.MONTH):
            span = window(period, datetime(day.year, day.month, day.day, 12, tzinfo=UTC))
            rows = _rows(url, sql, {"g": GUILD, "start": span.start, "end": span.end})
            out[period, day] = {int(user): int(xp) for user, xp in rows}
    return out


def test_the_latest_day_becomes_the_open_day_and_every_period_sum_is_kept(database: URL) -> None:
    config = alembic_config(database)
    command.upgrade(config, "0025")
    _rows(database, "INSERT INTO guild (guild_id) VALUES (%(g)s)", {"g": GUILD})
    for user in (ALICE, BOB, DAN):
        _rows(
            database,
            "INSERT INTO member_level (guild_id, user_id, xp, level) VALUES (%(g)s, %(u)s, 1000, 3)",
            {"g": GUILD, "u": user},
        )
    # Alice: days across a week and a month; Bob: one day; Carol: days but no level row; Dan: none.
    seeded = [(ALICE, day, 10 * (n + 1)) for n, day in enumerate(_days(0, 1, 6, 8, 35))]
    seeded += [(BOB, _days(1)[0], 25), (CAROL, _days(0)[0], 7), (CAROL, _days(8)[0], 9)]
    for user, day, xp in seeded:
        _rows(
            database,
            "INSERT INTO member_xp_daily (guild_id, user_id, day, xp) VALUES (%(g)s, %(u)s, %(d)s, %(x)s)",
            {"g": GUILD, "u": user, "d": day, "x": xp},
        )
    daily = "SELECT user_id, day, xp FROM member_xp_daily ORDER BY 1, 2"
    original = _rows(database, daily)
    before = _periods(database, OLD_PERIOD)

    command.upgrade(config, "0028")
    open_days = {
        int(user): row
        for user, *row in _rows(
            database, "SELECT user_id, open_day, day_xp, week_xp, month_xp, closed_day, closed_day_xp FROM member_level"
        )
    }
    latest = _days(0)[0]
    alice = [(day, xp) for user, day, xp in seeded if user == ALICE]
    week, month = window(Period.WEEK, LATEST), window(Period.MONTH, LATEST)
    assert week.start is not None
    assert month.start is not None
    assert open_days[ALICE] == [
        latest,
        10,
        sum(xp for day, xp in alice if day >= week.start),
        sum(xp for day, xp in alice if day >= month.start),
        None,
        None,
    ]
    assert open_days[BOB] == [_days(1)[0], 25, 25, 25, None, None]
    assert open_days[DAN] == [None, 0, 0, 0, None, None]
    remaining = {(int(u), d) for u, d, _ in _rows(database, daily)}
    assert (ALICE, latest) not in remaining
    assert (BOB, _days(1)[0]) not in remaining
    assert {(CAROL, _days(0)[0]), (CAROL, _days(8)[0])} <= remaining  # no level row: left where they were
    after = _periods(database, NEW_PERIOD)
    assert after == before
    assert any(totals for totals in after.values())

    command.downgrade(config, "0025")
    assert _rows(database, daily) == original
    columns = _rows(
        database,
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_name = 'member_level' AND column_name LIKE '%day%'",
    )
    assert columns == []
