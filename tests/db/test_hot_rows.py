"""db.hot_rows: at most ``width`` statements of a process wait on one guild's counter row; the rest queue unpooled."""

import asyncio
from collections.abc import Awaitable, Callable

import asyncpg
import pytest
from sqlalchemy.engine import URL

from guildbase import ConfigurationError, Database, Settings
from guildbase.db.hot_rows import HotRowGate
from guildbase.models.core import CounterKind
from guildbase.models.moderation import CaseType
from guildbase.services.redis import RedisClient
from guildbase.testing import ids, libpq, truncate_all

CASE = CounterKind.CASE.value


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_at_most_width_hold_a_pass_and_the_rest_enter_in_arrival_order() -> None:
    gate = HotRowGate(2)
    entered: list[int] = []
    release = {n: asyncio.Event() for n in range(6)}

    async def holder(n: int) -> None:
        async with gate.admit(1, CASE):
            entered.append(n)
            await release[n].wait()

    tasks = [asyncio.create_task(holder(n)) for n in range(6)]
    await _settle()
    assert entered == [0, 1]
    assert gate.users(1, CASE) == 6
    for n in range(6):
        release[n].set()
        await _settle()
        assert entered == list(range(min(6, n + 3)))  # each release lets exactly the next in line through
    await asyncio.gather(*tasks)
    assert gate.users(1, CASE) == 0
    assert len(gate) == 0  # an idle row keeps no slot, so a bot in 100k guilds holds nothing for them


async def test_rows_are_gated_apart_by_guild_and_by_kind() -> None:
    gate = HotRowGate(1)
    held = asyncio.Event()

    async def hold(guild: int, kind: str) -> None:
        async with gate.admit(guild, kind):
            await held.wait()

    tasks = [asyncio.create_task(hold(1, CASE)), asyncio.create_task(hold(2, CASE))]
    tasks.append(asyncio.create_task(hold(1, CounterKind.NOTE.value)))
    await _settle()
    assert len(gate) == 3
    assert [gate.users(1, CASE), gate.users(2, CASE), gate.users(1, CounterKind.NOTE.value)] == [1, 1, 1]
    async with asyncio.timeout(5):
        async with gate.admit(3, CASE):  # a fourth row is not held up by the other three
            pass
    held.set()
    await asyncio.gather(*tasks)


async def test_a_waiter_cancelled_in_the_queue_leaves_without_a_pass() -> None:
    gate = HotRowGate(1)
    release = asyncio.Event()
    entered: list[str] = []

    async def enter(name: str) -> None:
        async with gate.admit(1, CASE):
            entered.append(name)
            await release.wait()

    first = asyncio.create_task(enter("first"))
    queued = asyncio.create_task(enter("queued"))
    last = asyncio.create_task(enter("last"))
    await _settle()
    queued.cancel()
    await _settle()
    assert gate.users(1, CASE) == 2
    release.set()
    await asyncio.gather(first, last)
    assert queued.cancelled()
    assert entered == ["first", "last"]
    assert len(gate) == 0


def test_a_width_below_one_is_refused_by_the_gate_and_by_the_settings() -> None:
    with pytest.raises(ValueError, match="width must be at least 1, got 0"):
        HotRowGate(0)
    with pytest.raises(ConfigurationError, match="GUILDBASE_COUNTER_ADMISSION: must be at least 1, got 0"):
        Settings(counter_admission=0)


async def _waiting_on_a_lock(watcher: asyncpg.Connection, database: str) -> int:
    return int(
        await watcher.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'", database
        )
    )


CREATORS: dict[str, Callable[[Database, int, int, int], Awaitable[int]]] = {}
"""Per counter kind: make one numbered row in a guild (``(db, guild, user, n)``) and return its number."""


async def _case(db: Database, guild: int, user: int, n: int) -> int:
    return (await db.cases.create(guild, user, user + 1, CaseType.WARN, reason=f"r{n}")).number


async def _note(db: Database, guild: int, user: int, n: int) -> int:
    return (await db.notes.create(guild, user, user + 1, f"n{n}")).number


async def _poll(db: Database, guild: int, user: int, n: int) -> int:
    return (await db.polls.create(guild, guild + 1, user, f"q{n}?", ["yes", "no"])).number


async def _ticket(db: Database, guild: int, user: int, n: int) -> int:
    panel = (await db.tickets.panels(guild))[0]
    return (await db.tickets.open(guild, panel.panel_id, user + n, subject=f"s{n}")).number  # one opener each


CREATORS.update({"case": _case, "note": _note, "poll": _poll, "ticket": _ticket})


@pytest.mark.parametrize(
    ("width", "kind"), [(4, "case"), (32, "case"), (4, "note"), (4, "poll"), (4, "ticket"), (32, "ticket")]
)
async def test_behind_a_locked_counter_only_width_creations_hold_a_connection(
    settings: Settings, database_url: URL, redis_client: RedisClient, width: int, kind: str
) -> None:
    """32 creations in one guild while its counter row is locked: ``width`` wait in PostgreSQL, the rest in the gate.

    With ``width`` 32 all of them take a connection and queue on the row lock
    (the case that emptied the pool before); with 4 the pool keeps the rest.
    Cases, notes, polls and tickets all pass the same gate.
    """
    db = await Database(
        settings.model_copy(update={"pool_size": 10, "pool_max_overflow": 30, "counter_admission": width})
    ).connect()
    guild, user = ids(), ids()
    counter_kind = CounterKind(kind)
    locker = await asyncpg.connect(libpq(database_url))
    watcher = await asyncpg.connect(libpq(database_url))  # not the locker: a transaction sees one activity snapshot
    try:
        await db.guilds.join(guild)
        if kind == "ticket":
            await db.guild_config.set_feature(guild, "tickets", enabled=True)
            await db.tickets.create_panel(guild, "Support", open_limit=5)
        assert await CREATORS[kind](db, guild, user, 1000) == 1  # the counter row exists: the lock below holds it
        locked = locker.transaction()
        await locked.start()
        await locker.execute(
            "SELECT 1 FROM guild_counter WHERE guild_id = $1 AND kind = $2 FOR UPDATE", guild, counter_kind.value
        )

        creations = [asyncio.create_task(CREATORS[kind](db, guild, user, n)) for n in range(32)]
        database = database_url.database or ""

        async def settled() -> bool:  # all 32 asked the gate, and ``width`` statements wait on the row lock
            return db.hot_rows.users(guild, counter_kind) == 32 and await _waiting_on_a_lock(watcher, database) == width

        async with asyncio.timeout(30):
            while not await settled():  # noqa: ASYNC110 - a state in another server, polled
                await asyncio.sleep(0.01)
        assert db.engine.pool.checkedout() == width  # type: ignore[attr-defined]
        assert db.hot_rows.users(guild, counter_kind) == 32
        await locked.rollback()
        numbers = await asyncio.gather(*creations)
        assert sorted(numbers) == list(range(2, 34))
        assert len(db.hot_rows) == 0
    finally:
        await watcher.close()
        await locker.close()
        await db.close()
        await asyncio.to_thread(truncate_all, database_url)
