"""Test helpers for guildbase and for bots built on it.

The strategy: one database per test run, built by the real migrations; each
test runs inside a transaction that is rolled back (``Database.bind``), so
tests never see each other's rows. Tests that need real concurrency (many
connections) use a pooled ``Database`` and ``truncate_all`` afterwards.
"""

import asyncio
import enum
import itertools
import os
import re
import secrets
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql
from sqlalchemy import ClauseElement, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.sql.compiler import SQLCompiler

from guildbase.db.embedded import start_embedded
from guildbase.db.types import make_snowflake
from guildbase.errors import DatabaseUnavailableError
from guildbase.models import metadata

CLOCK_SHIFT_VARIABLE = "GUILDBASE_TEST_CLOCK_SHIFT_DAYS"
"""Days to move the tests' "now" ahead (CI runs the time-dependent tests again a year ahead)."""


def clock_shift() -> timedelta:
    """How far the tests' clock is moved ahead of the real one (``GUILDBASE_TEST_CLOCK_SHIFT_DAYS``)."""
    raw = os.environ.get(CLOCK_SHIFT_VARIABLE, "0").strip() or "0"
    try:
        return timedelta(days=int(raw))
    except ValueError:
        msg = f"{CLOCK_SHIFT_VARIABLE}: must be a whole number of days, got {raw!r}"
        raise ValueError(msg) from None


def shifted_now() -> datetime:
    """The real UTC time, moved by ``clock_shift()``: what a time-dependent test calls "now"."""
    return datetime.now(UTC) + clock_shift()


def shifted_noon() -> datetime:
    """Noon UTC of ``shifted_now()``'s day.

    Tests that step a few hours either way from "now" start here, so that
    "the same day" and "the same week" hold whatever the hour the suite runs at.
    """
    day = shifted_now().date()
    return datetime(day.year, day.month, day.day, 12, tzinfo=UTC)


LOCAL_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
LOCAL_REDIS = "redis://127.0.0.1:6379/9"


class SnowflakeFactory:
    """Distinct, valid Discord IDs for tests, derived from the clock (never a fixed date).

    Every ID of one factory is unique (a running sequence under one base
    moment ``days_ago`` before ``shifted_now()``), so modules that share the
    process-wide ``ids`` never collide, and no test hard-codes a snowflake
    whose meaning depends on the day it was written::

        GUILD, OTHER_GUILD = ids.take(2)
        USER = ids()
    """

    def __init__(self, *, days_ago: int = 400) -> None:
        self._base = shifted_now() - timedelta(days=days_ago)
        self._sequence = itertools.count(1)
        self._blocks = 0

    def __call__(self) -> int:
        """The next ID."""
        return make_snowflake(self._base, next(self._sequence))

    def take(self, count: int) -> tuple[int, ...]:
        """The next ``count`` IDs, in order."""
        return tuple(self() for _ in range(count))

    def block(self) -> int:
        """The first of a fresh block of 2**22 consecutive IDs (one millisecond's worth).

        For a test module whose IDs keep fixed offsets from each other
        (``GUILD = BLOCK + 1``, ``USER = BLOCK + 101``, ``USER + n`` for a
        crowd): offsets below 4,194,304 never reach another block or ``ids()``.
        """
        self._blocks += 1
        return make_snowflake(self._base + timedelta(milliseconds=self._blocks), 0)


ids = SnowflakeFactory()
"""The process-wide factory test modules take their guild, user, channel and role IDs from."""


def redis_reachable(url: str) -> bool:
    """Whether a Redis server answers PING at ``url`` within a second."""
    import redis as sync_redis  # noqa: PLC0415

    try:
        client = sync_redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except sync_redis.RedisError:
        return False


LEASE_REGISTRY_DB = 14
"""Where test runs record which Redis db each one uses; never flushed by guildbase (the bench uses 15)."""
TEST_REDIS_DBS = range(1, LEASE_REGISTRY_DB)


@contextmanager
def leased_redis_db(url: str = LOCAL_REDIS, *, hours: float = 2.0) -> Iterator[str]:
    """``url`` with a Redis db number no other test run on this server is using, for the duration.

    Every test flushes its db, so two suites sharing one (two checkouts, or a
    helper's run beside yours) would empty each other's keys mid-test. Each run
    claims a db in a small registry (``SET NX`` with an expiry, so a crashed run
    frees its db after ``hours``) and releases it at the end. The db in ``url``
    is tried first, so a lone run keeps the familiar number.
    """
    import redis as sync_redis  # noqa: PLC0415

    parts = urlsplit(url)
    given = parts.path.strip("/")
    preferred = int(given) if given.isdigit() else TEST_REDIS_DBS.start
    # The db in a URL's path wins over a ``db=`` argument in redis-py: put the registry's in the path.
    registry_url = urlunsplit(parts._replace(path=f"/{LEASE_REGISTRY_DB}"))
    registry = sync_redis.Redis.from_url(registry_url, socket_connect_timeout=1, socket_timeout=2)
    token = secrets.token_hex(8)
    try:
        for number in [preferred, *(n for n in TEST_REDIS_DBS if n != preferred)]:
            lease = f"guildbase:test-lease:{number}"
            if registry.set(lease, token, nx=True, ex=int(hours * 3600)):
                break
        else:
            msg = f"every Redis db {TEST_REDIS_DBS.start}-{TEST_REDIS_DBS.stop - 1} is leased by another test run"
            raise RuntimeError(msg)
        try:
            yield urlunsplit(parts._replace(path=f"/{number}"))
        finally:
            if registry.get(lease) == token.encode():
                registry.delete(lease)
    finally:
        registry.close()


def libpq(url: str | URL) -> str:
    """A plain ``postgresql://`` URL psycopg accepts (no SQLAlchemy driver suffix)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def server_reachable(url: str | URL) -> bool:
    """Whether a PostgreSQL server answers at ``url`` within a second."""
    try:
        with psycopg.connect(libpq(url), connect_timeout=1):
            return True
    except psycopg.Error:
        return False


def create_database(server_url: str | URL, prefix: str = "guildbase_test") -> URL:
    """Create an empty database with a unique name on the server; return its URL."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    with psycopg.connect(libpq(server_url), autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return make_url(server_url).set(database=name)


def drop_database(url: str | URL) -> None:
    """Drop the database at ``url`` (connections to it are terminated first)."""
    target = make_url(url)
    if not target.database:
        raise ValueError(f"{url!r} names no database")
    with psycopg.connect(libpq(target.set(database="postgres")), autocommit=True) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(target.database)))


def pick_test_server(*, ci: bool, data_dir: Path) -> tuple[URL, str]:
    """The server to create test databases on: the local one, else an embedded one.

    Under CI a missing local server is an error: falling back would hide a
    broken machine behind a slower, different setup.
    """
    if server_reachable(LOCAL_SERVER):
        return make_url(LOCAL_SERVER), "local PostgreSQL at 127.0.0.1:5432"
    if ci:
        msg = "CI=true but no PostgreSQL answers at 127.0.0.1:5432; start it (see .ci/run)"
        raise DatabaseUnavailableError(msg)
    return start_embedded(data_dir).set(database="postgres"), "embedded PostgreSQL"


def truncate_all(url: str | URL) -> None:
    """Empty every guildbase table (keeps the schema and ``alembic_version``)."""
    tables = ", ".join(sql.Identifier(name).as_string() for name in metadata.tables)
    with psycopg.connect(libpq(url), autocommit=True) as connection:
        connection.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")


@contextmanager
def environment(**variables: str | None) -> Iterator[None]:
    """Temporarily set (or, with None, unset) environment variables."""
    saved = {name: os.environ.get(name) for name in variables}
    try:
        for name, value in variables.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


_CONTROL = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|;|SELECT 1\s*$)", re.IGNORECASE)


@asynccontextmanager
async def statements_on(engine: AsyncEngine) -> AsyncIterator[list[str]]:
    """Collect the SQL statements ``engine``'s connections run, whichever path ran them.

    ORM/Core statements are seen by SQLAlchemy's cursor events; hot paths on the
    driver connection (``Controller._fast``, ``db.fast``) by asyncpg's query
    loggers. Transaction control, savepoints, pool pings and asyncpg's one-off
    type introspection are left out: the list holds the statements that do the work.
    """
    seen: list[str] = []
    touched: list[Any] = []

    def on_cursor(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    def on_driver(record: Any) -> None:
        introspection = "pg_catalog.pg_type" in record.query or "'jit'" in record.query
        if not _CONTROL.match(record.query) and not introspection:
            seen.append(record.query)

    def on_checkout(dbapi_connection: Any, *_args: Any) -> None:
        driver = dbapi_connection.driver_connection
        driver.add_query_logger(on_driver)
        touched.append(driver)

    sync_engine = engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", on_cursor)
    event.listen(sync_engine.pool, "checkout", on_checkout)
    try:
        yield seen
        await asyncio.sleep(0)  # asyncpg calls query loggers with call_soon
    finally:
        event.remove(sync_engine, "before_cursor_execute", on_cursor)
        event.remove(sync_engine.pool, "checkout", on_checkout)
        for driver in touched:
            driver.remove_query_logger(on_driver)


def _sql_literal(value: Any) -> str:
    """``value`` as an SQL literal for ``EXECUTE``'s argument list (test data only: no escaping beyond quotes)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, datetime):
        return f"'{value.isoformat()}'"
    if isinstance(value, list | tuple):
        return "ARRAY[" + ", ".join(_sql_literal(item) for item in value) + "]"
    return "'" + str(value).replace("'", "''") + "'"


async def query_plans(
    session: AsyncSession, statement: ClauseElement, params: Mapping[str, Any] | None = None
) -> dict[str, str]:
    """The plans PostgreSQL may run ``statement`` with, as ``{"custom": …, "generic": …}`` EXPLAIN texts.

    The statement is prepared as the driver prepares it, then explained with a
    plan for these values (``custom``) and with the generic plan a reused
    prepared statement may switch to after five runs (``generic``). Every other
    planner setting is left as the server has it, so run it over realistic,
    ANALYZEd data: on empty tables any plan is "fast".
    """
    compiled = statement.compile(dialect=session.get_bind().dialect)
    if not isinstance(compiled, SQLCompiler):
        raise TypeError(f"not an SQL statement: {statement!r}")
    values = {**compiled.params, **(params or {})}
    arguments = ", ".join(_sql_literal(values[name]) for name in compiled.positiontup or [])
    execute = f"EXECUTE guildbase_plan({arguments})" if arguments else "EXECUTE guildbase_plan"
    plans: dict[str, str] = {}
    await session.execute(text(f"PREPARE guildbase_plan AS {compiled.string}"))
    try:
        for mode in ("custom", "generic"):
            await session.execute(text(f"SET LOCAL plan_cache_mode = force_{mode}_plan"))
            plans[mode] = "\n".join((await session.execute(text(f"EXPLAIN {execute}"))).scalars())
        await session.execute(text("RESET plan_cache_mode"))
    finally:
        await session.execute(text("DEALLOCATE guildbase_plan"))
    return plans


def reads_index(plan: str, index: str) -> bool:
    """Whether an EXPLAIN text reads ``index`` (index, index-only or bitmap scan, either direction)."""
    name = re.escape(index)
    pattern = rf"(Index Scan|Index Only Scan)( Backward)? using {name} on|Bitmap Index Scan on {name}\b"
    return re.search(pattern, plan) is not None
