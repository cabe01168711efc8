"""PostgreSQL connections killed under load: callers see guildbase errors only, and nothing drifts.

Every backend of this test's own database that guildbase opened is
terminated with ``pg_terminate_backend`` while 16 tasks create cases, award
XP, read leaderboards from PostgreSQL and log commands, on a pool without
pre-ping (the worst case: nothing checks a connection before using it).
Rounds are triggered by counts of finished calls, never by time.
"""

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from functools import partial
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from guildbase import (
    ConnectionLostError,
    Database,
    DatabaseUnavailableError,
    GuildbaseError,
    PoolExhaustedError,
    Settings,
)
from guildbase.db.engine import with_driver
from guildbase.testing import shifted_noon, truncate_all

GUILD = 1_100_000_000_000_000_001
MOD = 1_100_000_000_000_000_050
USERS = [1_100_000_000_000_000_100 + n for n in range(16)]
CHANNEL = 1_100_000_000_000_000_301
NOW = shifted_noon()
ROUNDS = 5
CALLS_PER_ROUND = 150
pytestmark = pytest.mark.clock

TERMINATE = text("""
SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
WHERE datname = current_database() AND application_name = 'guildbase' AND pid <> pg_backend_pid()
""")


@pytest.fixture
async def killer(database_url: URL) -> AsyncIterator[AsyncEngine]:
    """A connection of its own (another application_name), which never terminates itself."""
    engine = create_async_engine(
        with_driver(database_url, "asyncpg"), connect_args={"server_settings": {"application_name": "killer"}}
    )
    yield engine
    await engine.dispose()


@pytest.fixture
async def fragile_db(settings: Settings, database_url: URL) -> AsyncIterator[Database]:
    changes = {"pool_pre_ping": False, "pool_size": 8, "pool_max_overflow": 0, "log_retry_seconds": 0.05}
    database = await Database(settings.model_copy(update=changes)).connect()
    try:
        yield database
    finally:
        await database.close()
        await asyncio.to_thread(truncate_all, database_url)


class Load:
    """16 tasks calling the library, and the kill rounds; counts everything callers saw."""

    def __init__(self, db: Database, killer: AsyncEngine) -> None:
        self.db = db
        self.killer = killer
        self.errors: Counter[str] = Counter()
        self.foreign: list[BaseException] = []
        self.created = 0
        self.finished = 0
        self.in_flight = 0
        self.in_flight_at_kills: list[int] = []
        self.progress = asyncio.Event()

    async def call(self, operation: Callable[[], Awaitable[Any]]) -> None:
        self.in_flight += 1
        try:
            await operation()
        except GuildbaseError as error:
            self.errors[type(error).__name__] += 1
        except Exception as error:  # noqa: BLE001 - collected: the assertion names it
            self.foreign.append(error)
        finally:
            self.in_flight -= 1
            self.finished += 1
            self.progress.set()

    async def create_case(self, user: int, step: int) -> None:
        await self.db.cases.create(GUILD, user, MOD, "WARN", reason=f"step {step}")
        self.created += 1

    async def worker(self, user: int) -> None:
        db = self.db
        for step in range(ROUNDS * CALLS_PER_ROUND // (4 * len(USERS)) + 4):  # a few calls past the last kill
            when = NOW + timedelta(minutes=step)
            await self.call(partial(self.create_case, user, step))
            await self.call(partial(db.levels.award_message_xp, GUILD, user, CHANNEL, [], when))
            await self.call(partial(db.leaderboards.rebuild, GUILD))
            await self.call(partial(db.logs.record_command, user, "ping", guild_id=GUILD))

    async def kill_rounds(self) -> None:
        for round_number in range(1, ROUNDS + 1):
            while self.finished < round_number * CALLS_PER_ROUND:
                self.progress.clear()
                await self.progress.wait()
            async with self.killer.connect() as connection:
                self.in_flight_at_kills.append(self.in_flight)
                killed = int((await connection.execute(TERMINATE)).scalar_one())
            assert killed > 0


async def _scalar(db: Database, sql: str) -> int:
    async with db.engine.connect() as connection:
        return int((await connection.execute(text(sql))).scalar_one())


async def test_killed_backends_surface_as_guildbase_errors_and_case_numbers_stay_contiguous(
    fragile_db: Database, killer: AsyncEngine
) -> None:
    db = fragile_db
    await db.guilds.join(GUILD)
    load = Load(db, killer)
    await asyncio.gather(load.kill_rounds(), *(load.worker(user) for user in USERS))

    assert load.foreign == [], [f"{type(e).__module__}.{type(e).__name__}: {e}" for e in load.foreign[:5]]
    errors = load.errors
    assert set(errors) <= {"ConnectionLostError", "OutcomeUnknownError", "DatabaseUnavailableError"}, errors
    assert sum(errors.values()) <= sum(load.in_flight_at_kills), (errors, load.in_flight_at_kills)

    # No dead connection is handed out again: with no more kills, every call works.
    for step in range(40):
        await db.cases.create(GUILD, USERS[0], MOD, "KICK", reason=f"after {step}")
        assert (await db.leaderboards.top(GUILD, 5)).entries
    async with db.engine.connect() as connection:
        numbers = [
            n for (n,) in await connection.execute(text(f"SELECT number FROM mod_case WHERE guild_id = {GUILD}"))
        ]
    assert sorted(numbers) == list(range(1, len(numbers) + 1))  # contiguous, no duplicates
    # Every case a caller was told about exists; an "outcome unknown" one may exist too.
    assert load.created + 40 <= len(numbers) <= load.created + 40 + errors["OutcomeUnknownError"]
    accepted = db.logs.command_writer.accepted
    await db.logs.flush()
    assert await _scalar(db, "SELECT count(*) FROM command_log") >= accepted  # at least once
    print(f"errors {dict(errors)}, in flight at each kill {load.in_flight_at_kills}")  # noqa: T201 - for the docs


async def test_every_connection_error_is_a_database_unavailable_error_naming_what_to_do() -> None:
    assert issubclass(ConnectionLostError, DatabaseUnavailableError)
    assert issubclass(PoolExhaustedError, DatabaseUnavailableError)
    db = Database.from_url("postgresql://postgres@127.0.0.1:1/none")  # nothing listens on port 1
    with pytest.raises(DatabaseUnavailableError, match="check that it is running"):
        await db.connect()


async def test_a_full_pool_fails_fast_with_its_state_and_logs_once_per_episode(
    settings: Settings, database_url: URL, caplog: pytest.LogCaptureFixture
) -> None:
    changes = {"pool_size": 2, "pool_max_overflow": 0, "pool_timeout": 0.2}
    db = await Database(settings.model_copy(update=changes)).connect()
    release = asyncio.Event()
    holding = 0

    async def slow_session() -> None:
        nonlocal holding
        async with db.session() as session:
            await session.execute(text("SELECT 1"))
            holding += 1
            await release.wait()

    try:
        await db.guilds.join(GUILD)
        holders = [asyncio.create_task(slow_session()) for _ in range(2)]
        while holding < 2:  # noqa: ASYNC110 - a count reached in the next loop turns
            await asyncio.sleep(0)
        caplog.set_level("WARNING", logger="guildbase")
        refused: list[PoolExhaustedError] = []
        for step in range(10):  # both ways in: the hot path's driver unit and an ORM unit of work
            when = NOW + timedelta(minutes=step)
            for call in (
                partial(db.levels.award_message_xp, GUILD, USERS[0], CHANNEL, [], when),
                partial(db.cases.create, GUILD, USERS[0], MOD, "WARN"),
            ):
                with pytest.raises(PoolExhaustedError) as error:
                    await call()
                refused.append(error.value)
        assert len(refused) == 20
        assert all(e.pool["checked_out"] == 2 and e.pool["size"] == 2 for e in refused)
        assert "2 of 2 in use" in str(refused[0])
        assert db.pool_timeouts == 20
        warnings = [r.getMessage() for r in caplog.records if "became free" in r.getMessage()]
        assert len(warnings) == 1  # once per episode, not once per call

        release.set()
        await asyncio.gather(*holders)
        await db.cases.create(GUILD, USERS[0], MOD, "WARN")  # the episode ends
        assert any("hands out connections again" in r.getMessage() for r in caplog.records)
    finally:
        release.set()
        await db.close()
        await asyncio.to_thread(truncate_all, database_url)
