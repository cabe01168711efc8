"""Read routing on a real streaming replica (``db.replicas``): what goes there, and what never comes back stale.

The pair comes from the session fixture ``cluster`` (``replica_cluster.py``):
a primary migrated to head and a ``pg_basebackup -R -X stream`` hot standby.
Which server answered is asked of the connection that answered
(``pg_is_in_recovery()``), never inferred.
"""

import asyncio
import itertools
import logging
from collections.abc import Iterator

import psycopg
import pytest
from replica_cluster import PROBE_TABLE, Cluster
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncSession

from guildbase import Database, Settings
from guildbase.db.connection import retry_read
from guildbase.testing import ids

pytestmark = pytest.mark.replica
_counter = itertools.count(1)
_IN_RECOVERY = text("SELECT pg_is_in_recovery()")
_VALUE = text(f"SELECT value FROM {PROBE_TABLE} WHERE id = :id")
_WRITE = text(
    f"INSERT INTO {PROBE_TABLE} (id, value) VALUES (:id, :value) ON CONFLICT (id) DO UPDATE SET value = excluded.value"
)


def _row_id() -> int:
    return next(_counter) + 1000 * (ids() % 1_000_000)


async def _on_replica(session: AsyncSession) -> bool:
    return bool((await session.execute(_IN_RECOVERY)).scalar_one())


async def _read(db: Database, row_id: int) -> tuple[bool, int | None]:
    """(answered by the replica, the row's value) from one ``read_session``."""
    async with db.read_session() as session:
        return await _on_replica(session), (await session.execute(_VALUE, {"id": row_id})).scalar_one_or_none()


async def _write(db: Database, row_id: int, value: int) -> None:
    async with db.session() as session:
        await session.execute(_WRITE, {"id": row_id, "value": value})


def _write_elsewhere(cluster: Cluster, row_id: int, value: int) -> None:
    """A write by another process: this Database's read-your-writes fence knows nothing of it."""
    with psycopg.connect(cluster.writer_url, autocommit=True) as connection:
        sql = _WRITE.text.replace(":id", "%(id)s").replace(":value", "%(value)s")
        connection.execute(sql, {"id": row_id, "value": value})


@pytest.fixture
def statements(replica_db: Database) -> Iterator[list[str]]:
    """Every statement the replica's engine ran during the test."""
    ran: list[str] = []
    engine = replica_db._reads.engines[0].sync_engine

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        ran.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    yield ran
    event.remove(engine, "before_cursor_execute", record)


async def test_read_sessions_run_on_the_replica_and_units_of_work_on_the_writer(replica_db: Database) -> None:
    async with replica_db.read_session() as session:
        assert await _on_replica(session)
    async with replica_db.session() as session:
        assert not await _on_replica(session)


async def test_report_stats_and_history_reads_of_controllers_hit_the_replica(
    replica_db: Database, cluster: Cluster, statements: list[str]
) -> None:
    guild = ids()
    await replica_db.guilds.join(guild)
    await replica_db.members.ensure(guild, ids())
    cluster.caught_up()
    statements.clear()
    assert await replica_db.members.count(guild) == 1  # a stat, right after this process's own write
    assert await replica_db.audit.for_guild(guild) is not None  # history
    ran = " ".join(statements)
    assert "count(" in ran
    assert "FROM member" in ran
    assert "FROM audit_log" in ran
    async with replica_db.read_session() as session:  # the engine those statements ran on is the standby
        assert await _on_replica(session)


async def test_a_read_after_a_write_sees_it_from_the_replica_once_replayed(replica_db: Database) -> None:
    row = _row_id()
    for value in range(1, 21):
        await _write(replica_db, row, value)
        on_replica, seen = await _read(replica_db, row)
        assert seen == value  # never the previous value: the read waited for the replay of the write
    assert on_replica  # a replica keeping up still takes the reads


async def test_a_read_after_a_write_the_replica_has_not_replayed_goes_to_the_writer(
    replica_settings: Settings, cluster: Cluster
) -> None:
    settings = replica_settings.model_copy(update={"replica_max_lag_seconds": 1e9})
    async with Database(settings) as db:
        row = _row_id()
        await _write(db, row, 1)
        cluster.pair.set_replay_delay("1h")
        await _write(db, row, 2)  # the replica receives it and holds it back for an hour
        on_replica, seen = await _read(db, row)
        assert (on_replica, seen) == (False, 2)  # read your writes: the writer answered
        cluster.pair.set_replay_delay("0")
        cluster.caught_up()
        assert await _read(db, row) == (True, 2)  # replayed: the replica takes the read back


async def test_a_replica_lagging_past_the_bound_is_skipped_with_a_log_line(
    replica_settings: Settings, cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    settings = replica_settings.model_copy(update={"replica_max_lag_seconds": 0})
    async with Database(settings) as db:
        row = _row_id()
        _write_elsewhere(cluster, row, 1)
        cluster.caught_up()
        assert await _read(db, row) == (True, 1)
        cluster.pair.set_replay_delay("1h")
        _write_elsewhere(cluster, row, 2)  # another process wrote: only the lag bound protects this read
        cluster.received()
        with caplog.at_level(logging.WARNING, logger="guildbase.db"):
            assert await _read(db, row) == (False, 2)
            assert await _read(db, row) == (False, 2)
        skipped = [r.getMessage() for r in caplog.records if "skipped: its replay lags" in r.getMessage()]
        assert len(skipped) == 1  # said once per episode, not once per read
        cluster.pair.set_replay_delay("0")
        cluster.caught_up()
        with caplog.at_level(logging.WARNING, logger="guildbase.db"):
            assert await _read(db, row) == (True, 2)
        assert any("is fit again" in r.getMessage() for r in caplog.records)


async def test_a_replica_that_goes_down_is_skipped_and_taken_back_when_it_returns(
    replica_db: Database, cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    row = _row_id()
    await _write(replica_db, row, 7)
    assert await _read(replica_db, row) == (True, 7)  # its pool now holds live connections to the replica
    cluster.pair.replica.stop()
    with caplog.at_level(logging.WARNING, logger="guildbase.db"):
        for _ in range(3):
            assert await _read(replica_db, row) == (False, 7)
            assert await replica_db.members.count(ids()) == 0
    down = [r.getMessage() for r in caplog.records if "is down" in r.getMessage()]
    assert len(down) == 1
    caplog.clear()
    cluster.pair.replica.start()
    with caplog.at_level(logging.WARNING, logger="guildbase.db"):
        assert await _read(replica_db, row) == (True, 7)
    assert any("answers again" in r.getMessage() for r in caplog.records)


async def test_no_read_fails_or_is_stale_while_the_replica_stops_and_lags_mid_run(
    replica_db: Database, cluster: Cluster
) -> None:
    """Writes and reads run on; the replica stops, returns, then holds its replay back, underneath them."""
    row = _row_id()
    answered: dict[bool, int] = {True: 0, False: 0}
    done = asyncio.Event()
    replica_answered = asyncio.Event()

    async def reader_writer() -> None:
        value, after_troubles = 0, 0
        while after_troubles < 3:  # a few reads once the replica lags
            after_troubles += done.is_set()
            value += 1
            await _write(replica_db, row, value)
            on_replica, seen = await retry_read(lambda: _read(replica_db, row))
            assert seen == value, f"stale read: {seen} after writing {value}"
            answered[on_replica] += 1
            if on_replica:
                replica_answered.set()
            await asyncio.sleep(0)

    async def troubles() -> None:
        try:
            await replica_answered.wait()
            await asyncio.to_thread(cluster.pair.replica.stop)
            await asyncio.to_thread(cluster.pair.replica.start)
            replica_answered.clear()
            await replica_answered.wait()  # taken back while the writes go on
            await asyncio.to_thread(cluster.pair.set_replay_delay, "1h")
            await asyncio.to_thread(_write_elsewhere, cluster, _row_id(), 1)
            await asyncio.to_thread(cluster.received)
        finally:
            done.set()

    await asyncio.gather(reader_writer(), troubles())
    assert answered[False] > 0  # the writer stood in while the replica was away or behind
    assert answered[True] >= 2  # before the stop, and again once it was back
