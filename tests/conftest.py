"""The test harness: real PostgreSQL (schema from migrations) and real Redis.

Database: ``GUILDBASE_TEST_DATABASE_URL``, else a fresh database on
127.0.0.1:5432 created for the run and dropped after, else (never under CI)
an embedded PostgreSQL. Redis: ``GUILDBASE_TEST_REDIS_URL``, else a db of the
local server leased for this run (9 when free; flushed per test), else (never
under CI, and with a warning) the in-process stand-in.
"""

import asyncio
import os
import shutil
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import hypothesis
import pytest
from sqlalchemy.engine import URL, make_url

from guildbase import Database, Settings
from guildbase.db.engine import create_async
from guildbase.models.core import GuildRead
from guildbase.services.redis import RedisClient, create_redis
from guildbase.testing import (
    LOCAL_REDIS,
    create_database,
    drop_database,
    ids,
    leased_redis_db,
    pick_test_server,
    redis_reachable,
    truncate_all,
)

if TYPE_CHECKING:
    from redis_cluster import RedisClusterServer

CI = os.environ.get("CI", "").lower() == "true"
_redis_note: list[str] = []

# One hypothesis profile everywhere, CI included: hypothesis's own "ci" profile (chosen when CI is set)
# derandomizes, and with it the ~1,800 parametrized cases of the bad-input sweep re-wrap the test's
# settings until they exceed Python's recursion limit. Examples stay random in CI, as on a workstation.
hypothesis.settings.register_profile("guildbase", hypothesis.settings.get_profile("default"))
hypothesis.settings.load_profile("guildbase")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for note in _redis_note:
        terminalreporter.write_sep("=", note, yellow=True)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[URL]:
    """A migrated database for the whole run."""
    given = os.environ.get("GUILDBASE_TEST_DATABASE_URL")
    if given:
        url = make_url(given)
        _migrate(url)
        yield url
        return
    try:
        server, _ = pick_test_server(ci=CI, data_dir=tmp_path_factory.mktemp("embedded"))
    except Exception as error:  # noqa: BLE001
        pytest.exit(f"no PostgreSQL for the tests: {error}", returncode=3)
    url = create_database(server)
    try:
        _migrate(url)
        yield url
    finally:
        drop_database(url)


@pytest.fixture(scope="session")
def server_url(database_url: URL) -> URL:
    """The maintenance database of the test server (to create more databases)."""
    return database_url.set(database="postgres")


def _migrate(url: URL) -> None:
    from alembic import command  # noqa: PLC0415

    from guildbase.db.migrations import alembic_config  # noqa: PLC0415

    command.upgrade(alembic_config(url), "head")


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str | None]:
    """The real Redis for the run; None (in-process stand-in) only where no server exists.

    On the local server the run leases a db number of its own (``leased_redis_db``),
    so two suites running at once never flush each other's keys.
    """
    given = os.environ.get("GUILDBASE_TEST_REDIS_URL")
    url = given or LOCAL_REDIS
    if redis_reachable(url):
        if given:
            yield given
        else:
            with leased_redis_db(url) as leased:
                yield leased
        return
    if CI or os.environ.get("GUILDBASE_TEST_REDIS_URL"):
        pytest.exit(f"no Redis server answers at {url}; start it (see .ci/run)", returncode=3)
    note = "no Redis server found: Redis tests ran on the in-process stand-in (fakeredis)"
    _redis_note.append(note)
    warnings.warn(note, stacklevel=1)
    yield None


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator["RedisClusterServer"]:
    """A 3-node Redis Cluster on loopback for the run, started on first use and shut down at the end."""
    from redis_cluster import RedisClusterServer  # noqa: PLC0415 - only runs that ask for a cluster start one

    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        pytest.exit("no redis-server/redis-cli to start a Redis Cluster with (Debian: redis-server)", returncode=3)
    cluster = RedisClusterServer(tmp_path_factory.mktemp("redis-cluster"))
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def redis_cluster_url(redis_cluster: "RedisClusterServer") -> str:
    """The run's Redis Cluster as a ``redis+cluster://`` URL (one startup node; the client finds the rest)."""
    return redis_cluster.url


@pytest.fixture
async def redis_client(redis_url: str | None) -> AsyncIterator[RedisClient]:
    """A Redis database (on a cluster: every primary) emptied before each test."""
    client = create_redis(redis_url)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture(scope="session")
def settings(database_url: URL, redis_url: str | None, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        database_url=database_url.render_as_string(hide_password=False),
        redis_url=redis_url,
        pool_size=5,
        log_spill_dir=tmp_path_factory.getbasetemp() / "spill",  # never the checkout's .guildbase/
    )


@pytest.fixture
async def db(settings: Settings, redis_client: RedisClient) -> AsyncIterator[Database]:
    """A Database whose every commit is undone when the test ends (savepoint isolation).

    One connection, one task at a time: a unit of work opened by a second task
    while the first holds one raises ``BoundConcurrencyError`` (``db.bound``),
    so a concurrency test cannot pass here by accident; use ``pooled_db``.
    """
    assert settings.database_url is not None
    engine = create_async(settings.database_url, settings)
    async with engine.connect() as connection:
        transaction = await connection.begin()
        database = Database(settings).bind(connection, redis_client)
        try:
            yield database
        finally:
            await transaction.rollback()
    await engine.dispose()


@pytest.fixture
async def guild(db: Database) -> GuildRead:
    """A freshly joined guild (its config row included) with an ID from the shared factory."""
    return await db.guilds.join(ids())


@pytest.fixture
async def pooled_db(settings: Settings, database_url: URL, redis_client: RedisClient) -> AsyncIterator[Database]:
    """A real, pooled Database for concurrency tests; every table is emptied afterwards."""
    database = await Database(settings.model_copy(update={"pool_size": 10, "pool_max_overflow": 30})).connect()
    try:
        yield database
    finally:
        await database.close()
        # In a thread: a test that left tasks holding locks can still finish them
        # while TRUNCATE waits, instead of deadlocking the event loop.
        await asyncio.to_thread(truncate_all, database_url)


@pytest.fixture
def project_root() -> Path:
    return Path(__file__).resolve().parent.parent
