import asyncio
import contextlib
import os
import signal
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from guildbase import Database, Settings, ValidationError
from guildbase.db.bulk import BufferedWriter, Row, WriterClosedError
from guildbase.db.engine import with_driver
from guildbase.models.logs import ALL_GUILDS
from guildbase.testing import ids

BLOCK = ids.block()  # this module's IDs: fixed offsets from a clock-derived base
GUILD = BLOCK + 1
USER = BLOCK + 101
CHANNEL = BLOCK + 301
NOW = datetime.now(UTC)


async def _count(settings: Settings, sql: str = "SELECT count(*) FROM command_log") -> int:
    assert settings.database_url is not None
    engine = create_async_engine(with_driver(settings.database_url, "asyncpg"))
    try:
        async with engine.connect() as connection:
            return int((await connection.execute(text(sql))).scalar_one())
    finally:
        await engine.dispose()


async def test_every_accepted_row_is_stored_after_close(settings: Settings, pooled_db: Database) -> None:
    async def run_commands(task: int) -> None:
        for n in range(250):
            await pooled_db.logs.record_command(
                USER + task, "ping", guild_id=GUILD, channel_id=CHANNEL, params={"n": n}, duration_ms=n % 50
            )

    await asyncio.gather(*(run_commands(task) for task in range(8)))
    writer = pooled_db.logs.command_writer
    await pooled_db.close()
    assert writer.accepted == 2000
    assert writer.pending == 0
    assert await _count(settings) == 2000
    assert await _count(settings, f"SELECT sum(uses) FROM command_stat_daily WHERE guild_id = {ALL_GUILDS}") == 2000


async def test_a_closed_writer_refuses_rows_instead_of_dropping_them(pooled_db: Database) -> None:
    await pooled_db.logs.record_command(USER, "ping")
    writer = pooled_db.logs.command_writer
    await writer.close()
    with pytest.raises(WriterClosedError):
        await writer.put(writer_row())


def writer_row() -> Row:
    return (NOW, USER, None, None, "ping", "{}", True, None, 1)


async def test_a_full_buffer_makes_callers_wait_instead_of_growing() -> None:
    release = asyncio.Event()
    written: list[Row] = []

    async def slow_write(rows: Sequence[Row]) -> None:
        await release.wait()
        written.extend(rows)

    writer = BufferedWriter(slow_write, batch_size=5, max_pending=10, interval=60)
    for _ in range(10):
        await writer.put(writer_row())
    blocked = asyncio.create_task(writer.put(writer_row()))
    for _ in range(20):
        await asyncio.sleep(0.01)
    assert not blocked.done()
    assert writer.pending == 10
    release.set()
    await blocked
    await writer.close()
    assert len(written) == 11
    assert writer.pending == 0


async def test_a_failed_flush_keeps_every_row_for_the_retry(settings: Settings, pooled_db: Database) -> None:
    logs = pooled_db.logs
    for n in range(30):
        await logs.record_command(USER, "ban", guild_id=GUILD, params={"n": n})
    real_write = logs.write_commands
    calls = 0

    async def failing_once(rows: Sequence[Row]) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionResetError("connection lost")
        await real_write(rows)

    logs.command_writer._write = failing_once
    with pytest.raises(ConnectionResetError):
        await logs.flush()
    assert logs.command_writer.pending == 30
    assert await logs.flush() == 30
    assert await _count(settings) == 30
    assert await _count(settings, "SELECT count(DISTINCT params->>'n') FROM command_log") == 30


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"user_id": 0}, "user_id"),
        ({"guild_id": -5}, "guild_id"),
        ({"channel_id": "general"}, "channel_id"),
        ({"command": ""}, "command"),
        ({"command": "x" * 101}, "command"),
        ({"params": {"when": object()}}, "params"),
        ({"duration_ms": -1}, "duration_ms"),
        ({"duration_ms": float("nan")}, "duration_ms"),
        ({"duration_ms": 12.5}, "duration_ms"),  # whole milliseconds only: never silently rounded
        ({"duration_ms": 12.0}, "duration_ms"),
        ({"duration_ms": True}, "duration_ms"),
        ({"success": "yes"}, "success"),
        ({"created_at": datetime(2025, 1, 1)}, "created_at"),  # noqa: DTZ001 - naive on purpose
    ],
)
async def test_bad_command_log_input_names_the_field_and_queues_nothing(
    db: Database, fields: dict[str, object], field: str
) -> None:
    given: dict[str, object] = {"user_id": USER, "command": "ping"} | fields
    with pytest.raises(ValidationError) as caught:
        await db.logs.record_command(**given)  # type: ignore[arg-type]
    assert caught.value.fields == [field]
    assert db.logs.command_writer.pending == 0


async def test_a_logged_command_keeps_who_where_when_and_its_parameters(db: Database) -> None:
    when = datetime.now(UTC) - timedelta(minutes=1)
    params = {"member": "1100000000000000999", "days": 7, "reason": "spam"}
    await db.logs.record_command(
        USER, "ban", guild_id=GUILD, channel_id=CHANNEL, params=params, duration_ms=42, created_at=when
    )
    await db.logs.record_command(USER + 1, "ping", guild_id=GUILD)  # someone else: not in USER's history
    await db.logs.flush()
    (row,) = await db.logs.recent_commands(guild_id=GUILD, user_id=USER)
    assert (row.user_id, row.guild_id, row.channel_id, row.command, row.created_at) == (
        USER,
        GUILD,
        CHANNEL,
        "ban",
        when,
    )
    assert (row.params, row.is_success, row.error, row.duration_ms) == (params, True, None, 42)


async def test_a_row_outside_every_partition_creates_its_month(db: Database) -> None:
    old = datetime(2019, 3, 14, 9, 0, tzinfo=UTC)
    await db.logs.record_command(USER, "remind", guild_id=GUILD, created_at=old)
    await db.logs.flush()
    assert "command_log_p201903" in await db.logs.partitions()
    rows = await db.logs.recent_commands(user_id=USER, since=old - timedelta(days=1))
    assert [(r.command, r.created_at, r.guild_id) for r in rows] == [("remind", old, GUILD)]


async def test_daily_stats_count_uses_failures_and_average_duration(db: Database) -> None:
    day = datetime(2026, 1, 10, 12, tzinfo=UTC)
    for n in range(4):
        await db.logs.record_command(USER, "ban", guild_id=GUILD, duration_ms=10 * (n + 1), created_at=day)
    await db.logs.record_command(
        USER, "ban", guild_id=GUILD, success=False, error="Missing Permissions", created_at=day
    )
    await db.logs.record_command(USER, "help", created_at=day + timedelta(days=1))  # a DM
    await db.logs.flush()
    report = await db.logs.command_stats(days=30, until=date(2026, 1, 31))
    assert [(s.day, s.command, s.uses, s.failures) for s in report] == [
        (date(2026, 1, 10), "ban", 5, 1),
        (date(2026, 1, 11), "help", 1, 0),
    ]
    assert report[0].average_duration_ms == pytest.approx(20.0)
    in_guild = await db.logs.command_stats(days=30, guild_id=GUILD, until=date(2026, 1, 31))
    assert [(s.command, s.uses) for s in in_guild] == [("ban", 5)]


async def test_retention_drops_whole_old_partitions(db: Database) -> None:
    created = await db.logs.ensure_partitions(months_ahead=1, now=datetime(2020, 5, 3, tzinfo=UTC))
    assert created == ["command_log_p202005", "command_log_p202006"]
    await db.logs.record_command(USER, "old", created_at=datetime(2020, 5, 20, tzinfo=UTC))
    await db.logs.flush()
    dropped = await db.logs.drop_partitions_before(date(2020, 6, 1))
    assert "command_log_p202005" in dropped
    assert "command_log_p202006" not in dropped
    assert "command_log_p202006" in await db.logs.partitions()
    assert await db.logs.recent_commands(user_id=USER, since=datetime(2020, 1, 1, tzinfo=UTC)) == []


async def test_a_stop_signal_writes_the_buffer_out(settings: Settings, pooled_db: Database) -> None:
    writer = pooled_db.logs.command_writer
    writer.interval = 3600  # only the signal may flush
    for n in range(5):
        await pooled_db.logs.record_command(USER, "ping", params={"n": n})
    chained = asyncio.Event()
    previous = signal.signal(signal.SIGUSR1, lambda *_: chained.set())  # the handler the bot had before
    writer.flush_on_signals([signal.SIGUSR1])
    try:
        os.kill(os.getpid(), signal.SIGUSR1)
        await asyncio.wait_for(chained.wait(), 30)  # passed on to it, after the flush
        assert writer.pending == 0
    finally:
        with contextlib.suppress(ValueError):
            asyncio.get_running_loop().remove_signal_handler(signal.SIGUSR1)
        signal.signal(signal.SIGUSR1, previous)
    assert await _count(settings) == 5


async def test_when_one_of_two_parallel_batches_fails_only_its_rows_are_retried() -> None:
    written: list[int] = []
    attempts = 0

    async def flaky_write(rows: Sequence[Row]) -> None:
        nonlocal attempts
        attempts += 1
        if rows[0][-1] == 0 and attempts <= 2:  # the first batch fails once
            raise ConnectionResetError("connection lost")
        written.extend(row[-1] for row in rows)

    writer = BufferedWriter(flaky_write, batch_size=5, max_pending=50, interval=60, concurrency=2)
    for n in range(10):
        await writer.put((*writer_row()[:-1], n))
    with pytest.raises(ConnectionResetError):
        await writer.flush()
    assert (sorted(written), writer.pending) == ([5, 6, 7, 8, 9], 5)
    assert await writer.flush() == 5
    await writer.close()
    assert sorted(written) == list(range(10))
