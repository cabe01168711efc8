"""``db.partitions``: one manager for every time-partitioned table, with "now" moved across month and year ends.

Every "now" here is a fixed moment passed explicitly (years ahead of any real
date, so the migrations' own months never collide with them): nothing depends
on the day the suite runs. Each test runs in the ``db`` fixture's transaction,
so the partitions it creates and drops are rolled back with it.
"""

import asyncio
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from rich.console import Console
from sqlalchemy import text
from sqlalchemy.engine import URL
from typer.testing import CliRunner

from guildbase import Database, ValidationError
from guildbase.cli import app
from guildbase.cli_support import console as cli_console
from guildbase.controllers.partitions import PARTITIONED
from guildbase.partitions_cli import partition_table

TABLE = "reaction_event"
LEAP_FEBRUARY_END = datetime(2032, 2, 29, 23, 59, 59, tzinfo=UTC)


def _names(*months: str) -> list[str]:
    return [f"{TABLE}_p{month}" for month in months]


async def _ours(db: Database) -> list[str]:
    """The table's partitions from 2031 on (the migrations' own months are years before)."""
    return [row.name for row in await db.partitions.list(TABLE) if row.starts and row.starts.year >= 2031]


async def test_every_partitioned_table_of_the_catalog_is_managed(db: Database) -> None:
    async with db.session() as session:
        rows = await session.execute(
            text(
                "SELECT c.relname FROM pg_partitioned_table AS p JOIN pg_class AS c ON c.oid = p.partrelid "
                "WHERE c.relnamespace = 'public'::regnamespace"
            )
        )
        catalog = {name for (name,) in rows}
    assert catalog == set(PARTITIONED)


async def test_partitions_are_created_ahead_across_the_year_end(db: Database) -> None:
    changes = await db.partitions.maintain(now=datetime(2031, 11, 20, 12, tzinfo=UTC), months_ahead=2, tables=[TABLE])
    assert changes[TABLE].created == _names("203111", "203112", "203201")
    again = await db.partitions.maintain(now=datetime(2031, 12, 31, 23, 59, tzinfo=UTC), months_ahead=2, tables=[TABLE])
    assert again[TABLE].created == _names("203202")  # the others existed: nothing created twice
    assert await _ours(db) == _names("203111", "203112", "203201", "203202")
    listed = {row.name: row for row in await db.partitions.list(TABLE)}
    january = listed[f"{TABLE}_p203201"]
    assert (january.starts, january.ends, january.retention_months) == (date(2032, 1, 1), date(2032, 2, 1), 3)


async def test_retention_drops_whole_months_exactly_at_the_month_boundary(db: Database) -> None:
    await db.partitions.maintain(now=datetime(2031, 11, 1, tzinfo=UTC), months_ahead=3, tables=[TABLE])
    assert await _ours(db) == _names("203111", "203112", "203201", "203202")
    # Reactions keep 3 whole months before the current one: in February, November still stays …
    kept = await db.partitions.maintain(now=LEAP_FEBRUARY_END, months_ahead=0, tables=[TABLE])
    assert f"{TABLE}_p203111" not in kept[TABLE].dropped
    # … a second later it is March, and November's partition goes, whole.
    march = await db.partitions.maintain(now=LEAP_FEBRUARY_END + timedelta(seconds=1), months_ahead=1, tables=[TABLE])
    assert f"{TABLE}_p203111" in march[TABLE].dropped
    assert march[TABLE].created == _names("203203", "203204")
    assert await _ours(db) == _names("203112", "203201", "203202", "203203", "203204")


async def test_now_is_taken_in_utc_whatever_its_zone(db: Database) -> None:
    # 01:00 on 1 March in UTC+2 is still 29 February in UTC: February is the current month.
    eastern = datetime(2032, 3, 1, 1, tzinfo=timezone(timedelta(hours=2)))
    changes = await db.partitions.maintain(now=eastern, months_ahead=0, tables=[TABLE])
    assert changes[TABLE].created == _names("203202")


async def test_retention_overrides_apply_per_table_and_are_checked(db: Database) -> None:
    await db.partitions.maintain(now=datetime(2031, 1, 10, tzinfo=UTC), months_ahead=2, tables=[TABLE])
    changes = await db.partitions.maintain(
        now=datetime(2031, 3, 10, tzinfo=UTC), months_ahead=0, tables=[TABLE], retention={TABLE: 1}
    )
    assert _names("203101") == [name for name in changes[TABLE].dropped if "2031" in name]
    with pytest.raises(ValidationError, match=r"retention\.command_logs"):
        await db.partitions.maintain(retention={"command_logs": 3})
    with pytest.raises(ValidationError, match=rf"retention\.{TABLE}"):
        await db.partitions.maintain(retention={TABLE: 0})
    with pytest.raises(ValidationError, match="tables"):
        await db.partitions.maintain(tables=["member"])


async def test_one_run_maintains_every_partitioned_table(db: Database) -> None:
    now = datetime(2033, 12, 15, tzinfo=UTC)
    changes = await db.partitions.maintain(now=now, months_ahead=1)
    assert set(changes) == set(PARTITIONED)
    for table, change in changes.items():
        assert change.created == [f"{table}_p203312", f"{table}_p203401"]
        assert change.dropped  # every month the migrations made is years past retention by then
    listed = {(row.table, row.name) for row in await db.partitions.list()}
    assert all((table, f"{table}_p203401") in listed for table in PARTITIONED)


async def test_guildbase_db_partitions_prints_them_as_a_table(
    database_url: URL, monkeypatch: pytest.MonkeyPatch, pooled_db: Database
) -> None:
    # Another test in this worker's database may have dropped today's months (a "now" years ahead): make them.
    await pooled_db.partitions.maintain(tables=["command_log"])
    monkeypatch.setenv("GUILDBASE_DATABASE_URL", database_url.render_as_string(hide_password=False))
    # Rich fits the table to the terminal (a worker process has none): names stay on one line at 200 columns.
    monkeypatch.setattr(cli_console, "width", 200)
    result = await asyncio.to_thread(CliRunner().invoke, app, ["db", "partitions", "--table", "command_log"])
    assert result.exit_code == 0, result.output
    assert "command_log_p" in result.output
    assert "12 months" in result.output
    assert "reaction_event" not in result.output
    refused = await asyncio.to_thread(CliRunner().invoke, app, ["db", "partitions", "--table", "member"])
    assert refused.exit_code != 0
    assert "table" in refused.output


async def test_the_table_names_each_partition_with_its_month_range(db: Database) -> None:
    await db.partitions.maintain(now=datetime(2031, 12, 1, tzinfo=UTC), months_ahead=1, tables=[TABLE])
    console = Console(record=True, width=200)
    console.print(partition_table(await db.partitions.list(TABLE)))
    output = console.export_text()
    assert f"{TABLE}_p203112" in output
    assert "2031-12-01" in output
    assert "2032-01-01" in output
    assert "3 months" in output
