"""The driver path's greenlet-free checkout and checkin: exact predicates, and every fallback working.

``db.pool_checkout`` calls SQLAlchemy's pool straight only when it can do no
I/O, judged from the pool's internals. These tests pin that judgement to the
installed SQLAlchemy on real connections: where the predicate says "no I/O",
a straight call succeeds; where it says "I/O", a straight call really would
have needed the greenlet (``MissingGreenlet``), so the predicate is neither
unsafe nor needlessly cautious. Through ``checkout``/``checkin`` every state
works, and the connection comes back usable.
"""

import asyncio
import gc
import logging
import warnings
from collections.abc import AsyncIterator, Callable
from typing import Any

import greenlet
import pytest
from sqlalchemy import event, exc, text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import Pool
from sqlalchemy.util import greenlet_spawn

from guildbase import Database, Settings
from guildbase.db.engine import create_async
from guildbase.db.pool_checkout import checkin, checkin_needs_io, checkout, checkout_needs_io
from guildbase.errors import PoolExhaustedError
from guildbase.testing import truncate_all

GUILD = 1_100_000_000_000_000_701
USERS = [1_100_000_000_000_000_800 + n for n in range(24)]
MOD = 1_100_000_000_000_000_750


def _engine(settings: Settings, **changes: Any) -> AsyncEngine:
    assert settings.database_url is not None
    quiet = {"pool_pre_ping": False, "pool_size": 2, "pool_max_overflow": 0, **changes}
    return create_async(settings.database_url, settings.model_copy(update=quiet))


@pytest.fixture
async def engines(settings: Settings) -> AsyncIterator[Callable[..., AsyncEngine]]:
    """Engines with test-chosen pool settings (pre-ping off unless asked), disposed afterwards."""
    made: list[AsyncEngine] = []

    def make(**changes: Any) -> AsyncEngine:
        made.append(_engine(settings, **changes))
        return made[-1]

    yield make
    for engine in made:
        await engine.dispose()


async def _warm(pool: Pool, count: int = 1) -> None:
    """Open ``count`` connections and return them, so the queue holds idle ones."""
    fairies = [await greenlet_spawn(pool.connect) for _ in range(count)]
    for fairy in fairies:
        await greenlet_spawn(fairy.close)


async def _works(pool: Pool) -> None:
    """A connection through ``checkout`` runs a statement, and goes back through ``checkin``."""
    fairy = await checkout(pool)
    assert await fairy.driver_connection.fetchval("SELECT 41 + 1") == 42
    await checkin(fairy)


def _straight_connect_needs_greenlet(pool: Pool) -> bool:
    """Whether ``pool.connect()`` outside a greenlet fails for want of one (it had I/O to do).

    The refused I/O leaves asyncpg's ``connect()`` coroutine unawaited; it is
    collected here, where its "never awaited" warning is the expected outcome.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "coroutine .* was never awaited", RuntimeWarning)
        try:
            fairy = pool.connect()
        except exc.MissingGreenlet:
            gc.collect()
            return True
    fairy.close()
    return False


async def test_an_idle_connection_goes_out_and_back_without_the_greenlet(engines: Callable[..., AsyncEngine]) -> None:
    pool = engines().sync_engine.pool
    await _warm(pool)
    assert not checkout_needs_io(pool)
    fairy = pool.connect()  # outside any greenlet: would raise MissingGreenlet if it did I/O
    assert await fairy.driver_connection.fetchval("SELECT 1") == 1
    assert not checkin_needs_io(fairy)
    idle = pool.checkedin()
    fairy.close()
    assert pool.checkedin() == idle + 1
    assert pool.checkedout() == 0


async def test_an_empty_pool_waits_for_a_returned_connection_without_the_greenlet(
    engines: Callable[..., AsyncEngine],
) -> None:
    pool = engines(pool_size=1).sync_engine.pool
    assert checkout_needs_io(pool)  # nothing opened yet: connecting is I/O
    assert _straight_connect_needs_greenlet(pool)
    await _warm(pool)
    held = await checkout(pool)
    assert checkout_needs_io(pool)  # the only connection is out: a checkout waits
    switches: list[str] = []
    served: list[int] = []

    async def waiter(index: int) -> None:
        fairy = await checkout(pool)
        served.append(index)
        assert await fairy.driver_connection.fetchval("SELECT 41 + 1") == 42
        await checkin(fairy)

    previous = greenlet.settrace(lambda event, _args: switches.append(event))
    try:
        waiters = [asyncio.create_task(waiter(index)) for index in range(4)]
        await asyncio.sleep(0)
        assert not any(task.done() for task in waiters)
        await checkin(held)
        await asyncio.gather(*waiters)
    finally:
        greenlet.settrace(previous)
    assert switches == []  # the waits, the checkouts and the checkins: all straight
    assert served == [0, 1, 2, 3]  # in the order they came
    assert (pool.checkedout(), pool.checkedin()) == (0, 1)


async def test_a_wait_past_the_pool_timeout_is_the_pool_exhausted_error(settings: Settings) -> None:
    changes = {"pool_pre_ping": False, "pool_size": 1, "pool_max_overflow": 0, "pool_timeout": 0.2}
    db = await Database(settings.model_copy(update=changes)).connect()
    try:
        async with db._driver() as unit:
            with pytest.raises(PoolExhaustedError):
                async with db._driver():
                    pytest.fail("the pool had no connection to give")
            assert await unit.connection.fetchval("SELECT 1") == 1
        async with db._driver() as unit:
            assert await unit.connection.fetchval("SELECT 2") == 2
        assert db.engine.sync_engine.pool.checkedout() == 0
    finally:
        await db.close()


async def test_pre_ping_sends_every_checkout_through_the_greenlet(engines: Callable[..., AsyncEngine]) -> None:
    pool = engines(pool_pre_ping=True).sync_engine.pool
    await _warm(pool)
    await _warm(pool)  # no longer fresh: the next checkout pings
    assert checkout_needs_io(pool)
    await _works(pool)
    await _warm(pool)
    assert _straight_connect_needs_greenlet(pool)
    await _works(pool)  # the straight call's failure left the pool whole


async def test_a_connection_due_for_recycling_is_replaced_through_the_greenlet(
    engines: Callable[..., AsyncEngine],
) -> None:
    pool = engines(pool_recycle=0).sync_engine.pool  # every connection is past its age at once
    await _warm(pool)
    assert checkout_needs_io(pool)
    first = await checkout(pool)
    pid = await first.driver_connection.fetchval("SELECT pg_backend_pid()")
    await checkin(first)
    second = await checkout(pool)
    assert await second.driver_connection.fetchval("SELECT pg_backend_pid()") != pid  # really replaced
    await checkin(second)
    assert _straight_connect_needs_greenlet(pool)


async def test_an_invalidated_pool_reconnects_through_the_greenlet(engines: Callable[..., AsyncEngine]) -> None:
    pool = engines().sync_engine.pool
    await _warm(pool, 2)
    fairy = await checkout(pool)
    pool._invalidate(fairy, RuntimeError("the server restarted"))
    assert checkin_needs_io(fairy)  # invalidated: nothing to put back quietly
    await checkin(fairy)
    assert checkout_needs_io(pool)  # the idle one predates the invalidation
    await _works(pool)
    await _works(pool)
    assert not checkout_needs_io(pool)  # replaced: quiet again


async def test_a_soft_invalidated_connection_is_replaced_through_the_greenlet(
    engines: Callable[..., AsyncEngine],
) -> None:
    pool = engines(pool_size=1).sync_engine.pool
    await _warm(pool)
    fairy = await checkout(pool)
    fairy.invalidate(soft=True)
    await checkin(fairy)
    assert checkout_needs_io(pool)
    assert _straight_connect_needs_greenlet(pool)
    await _works(pool)


async def test_a_pool_listener_sends_checkout_and_checkin_through_the_greenlet(
    engines: Callable[..., AsyncEngine],
) -> None:
    pool = engines().sync_engine.pool
    await _warm(pool)
    seen: list[str] = []

    def on_checkout(*_args: Any) -> None:
        seen.append("checkout")

    def on_checkin(*_args: Any) -> None:
        seen.append("checkin")

    event.listen(pool, "checkout", on_checkout)
    event.listen(pool, "checkin", on_checkin)
    try:
        assert checkout_needs_io(pool)  # a listener may do I/O: it runs inside the greenlet
        fairy = await checkout(pool)
        assert checkin_needs_io(fairy)
        await checkin(fairy)
    finally:
        event.remove(pool, "checkout", on_checkout)
        event.remove(pool, "checkin", on_checkin)
    assert seen == ["checkout", "checkin"]
    assert not checkout_needs_io(pool)


async def test_an_open_adapter_transaction_is_rolled_back_through_the_greenlet(
    engines: Callable[..., AsyncEngine],
) -> None:
    pool = engines(pool_size=1).sync_engine.pool
    await _warm(pool)
    fairy = await checkout(pool)
    cursor = fairy.dbapi_connection.cursor()
    await greenlet_spawn(cursor.execute, "CREATE TEMPORARY TABLE left_open (x int)")  # opens the adapter's BEGIN
    assert checkin_needs_io(fairy)
    await checkin(fairy)
    again = await checkout(pool)
    assert await again.driver_connection.fetchval("SELECT to_regclass('pg_temp.left_open') IS NULL")  # rolled back
    assert not again.driver_connection.is_in_transaction()
    await checkin(again)


async def test_an_overflow_connection_is_closed_through_the_greenlet(engines: Callable[..., AsyncEngine]) -> None:
    pool = engines(pool_size=1, pool_max_overflow=1).sync_engine.pool
    first, second = await checkout(pool), await checkout(pool)
    assert not checkin_needs_io(first)  # the queue has room for one
    await checkin(first)
    assert checkin_needs_io(second)  # the queue is full: this one is closed, which is I/O
    await checkin(second)
    assert (pool.checkedin(), pool.overflow()) == (1, 0)


async def test_the_driver_path_under_load_leaves_the_pool_whole(
    settings: Settings, database_url: URL, caplog: pytest.LogCaptureFixture
) -> None:
    """24 tasks on 4 connections, pre-ping off: every call right, no reset error, nothing left checked out."""
    changes = {"pool_pre_ping": False, "pool_size": 4, "pool_max_overflow": 0}
    db = await Database(settings.model_copy(update=changes)).connect()
    caplog.set_level(logging.ERROR, logger="sqlalchemy.pool")
    try:
        await db.guilds.join(GUILD)
        await asyncio.gather(*(db.cases.create(GUILD, user, MOD, "WARN", reason="load") for user in USERS))

        async def reads(user: int) -> list[int]:
            return [len((await db.cases.overview(GUILD, user)).cases) for _ in range(10)]

        counts = await asyncio.gather(*(reads(user) for user in USERS))
        assert counts == [[1] * 10 for _ in USERS]
        pool = db.engine.sync_engine.pool
        assert pool.checkedout() == 0
        assert not checkout_needs_io(pool)  # the quiet path was open the whole time
        async with db.engine.connect() as connection:
            assert (
                await connection.scalar(text("SELECT count(*) FROM mod_case WHERE guild_id = :g"), {"g": GUILD}) == 24
            )
        assert not [record for record in caplog.records if record.name.startswith("sqlalchemy.pool")]
    finally:
        await db.close()
        await asyncio.to_thread(truncate_all, database_url)


@pytest.mark.parametrize(("pre_ping", "switches"), [(False, False), (True, True)], ids=["no-pre-ping", "pre-ping"])
async def test_the_driver_path_switches_greenlets_only_when_the_pool_needs_io(
    settings: Settings, database_url: URL, *, pre_ping: bool, switches: bool
) -> None:
    """greenlet's own trace hook sees every switch: none for driver-path reads on a quiet pool, some with pre-ping."""
    changes = {"pool_pre_ping": pre_ping, "pool_size": 2, "pool_max_overflow": 0}
    db = await Database(settings.model_copy(update=changes)).connect()
    seen: list[str] = []
    try:
        await db.guilds.join(GUILD)
        await db.cases.create(GUILD, USERS[0], MOD, "WARN", reason="traced")
        await db.cases.overview(GUILD, USERS[0])  # both connections opened and used once: no longer fresh
        await db.cases.overview(GUILD, USERS[1])
        previous = greenlet.settrace(lambda event, _args: seen.append(event))
        try:
            overviews = [await db.cases.overview(GUILD, USERS[0]) for _ in range(20)]
        finally:
            greenlet.settrace(previous)
        assert all(len(overview.cases) == 1 for overview in overviews)
        assert bool(seen) is switches
    finally:
        await db.close()
        await asyncio.to_thread(truncate_all, database_url)
