"""Benchmark machinery: a fresh database per workload, three clients, interleaved rounds.

Every workload gets its own database on the local server, built by the real
migrations and dropped afterwards, and Redis db 15, flushed. Three clients
share nothing but the server:

- ``guildbase``: ``Database`` with the settings under test;
- ``limit``: an ``asyncpg`` pool of the same size plus a redis-py client,
  running the best hand-written SQL we know;
- ``naive``: plain SQLModel code on a default ``create_async_engine``.

``Runner.compare`` runs the variants interleaved (A B C A B C …) after one
warm-up pass each, and records throughput per round, per-operation latency and
PostgreSQL round trips per operation (asyncpg query loggers plus SQLAlchemy's
cursor events, so the ORM's prepared statements count too).
"""

import asyncio
import platform
import resource
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import redis.asyncio as aioredis
from sqlalchemy import event
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from guildbase import Database, Settings
from guildbase.db.engine import with_driver
from guildbase.testing import LOCAL_SERVER, create_database, drop_database, libpq

REDIS_URL = "redis://127.0.0.1:6379/15"
POOL_SIZE = 10

Op = Callable[[int], Awaitable[Any]]


class StatementCounter:
    """Counts PostgreSQL round trips of every client it is attached to."""

    def __init__(self) -> None:
        self.count = 0

    def reset(self) -> None:
        self.count = 0

    def log(self, _record: Any) -> None:
        self.count += 1

    def cursor(self, *_args: Any) -> None:
        self.count += 1

    async def attach_engine(self, engine: AsyncEngine) -> None:
        """Count ORM/Core statements and everything run on the pool's asyncpg connections.

        The query logger goes on each connection as the pool opens it, not at
        every checkout: a checkout listener would send every driver-path
        checkout through SQLAlchemy's greenlet (``guildbase.db.pool_checkout``),
        which a production pool does not pay. The connections opened before
        are closed, so each one a workload uses is counted.
        """
        event.listen(engine.sync_engine, "before_cursor_execute", self.cursor)

        def connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.driver_connection.add_query_logger(self.log)

        event.listen(engine.sync_engine.pool, "connect", connect)
        await engine.dispose()

    async def init_connection(self, connection: asyncpg.Connection) -> None:
        connection.add_query_logger(self.log)


def peak_rss_mb() -> float:
    """The process's peak resident set size so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass
class Env:
    """The three clients of one workload and the database they share."""

    url: URL
    db: Database
    limit: asyncpg.Pool
    redis: aioredis.Redis
    naive_engine: AsyncEngine
    naive: async_sessionmaker[AsyncSession]
    counter: StatementCounter

    async def sql(self, statement: str, *args: Any) -> Any:
        """Run setup SQL (not measured)."""
        async with self.limit.acquire() as connection:
            return await connection.execute(statement, *args, timeout=3600)

    async def fetchval(self, statement: str, *args: Any) -> Any:
        async with self.limit.acquire() as connection:
            return await connection.fetchval(statement, *args, timeout=3600)

    async def fetch(self, statement: str, *args: Any) -> list[asyncpg.Record]:
        async with self.limit.acquire() as connection:
            return await connection.fetch(statement, *args, timeout=3600)  # type: ignore[no-any-return]


async def _no_reset(_connection: asyncpg.Connection) -> None:
    """The limit skips asyncpg's reset-on-release round trip (it opens no cursors or listeners)."""


@asynccontextmanager
async def environment(settings: dict[str, Any] | None = None) -> AsyncIterator[Env]:
    """A fresh migrated database and flushed Redis db 15, dropped/flushed afterwards."""
    url = await asyncio.to_thread(create_database, LOCAL_SERVER, "guildbase_bench")
    counter = StatementCounter()
    redis = aioredis.Redis.from_url(REDIS_URL)
    await redis.flushdb()
    db = Database(
        Settings(
            database_url=url.render_as_string(hide_password=False),
            redis_url=REDIS_URL,
            pool_size=POOL_SIZE,
            # The throughput setting (docs/performance.md): no pre-ping on the hot
            # paths. The default keeps it on, so a dead connection is never seen.
            pool_pre_ping=False,
            **(settings or {}),
        )
    )
    limit: asyncpg.Pool | None = None
    naive_engine: AsyncEngine | None = None
    try:
        await db.connect(migrate=True)
        await counter.attach_engine(db.engine)
        limit = await asyncpg.create_pool(
            libpq(url), min_size=POOL_SIZE, max_size=POOL_SIZE, init=counter.init_connection, reset=_no_reset
        )
        naive_engine = create_async_engine(with_driver(url, "asyncpg"))
        await counter.attach_engine(naive_engine)
        naive = async_sessionmaker(naive_engine, class_=AsyncSession, expire_on_commit=False)
        yield Env(url, db, limit, redis, naive_engine, naive, counter)
    finally:
        await db.close()
        if limit is not None:
            await limit.close()
        if naive_engine is not None:
            await naive_engine.dispose()
        await redis.flushdb()
        await redis.aclose()
        await asyncio.to_thread(drop_database, url)


def percentile(values: list[float], p: float, *, ordered: bool = False) -> float:
    """The ``p``-th percentile (0-100) by the nearest-rank rule the tables use; NaN for no values."""
    data = values if ordered else sorted(values)
    if not data:
        return float("nan")
    return data[min(len(data) - 1, int(p / 100 * len(data)))]


@dataclass
class VariantResult:
    name: str
    rates: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    statements: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.latencies)

        def pct(p: float) -> float:
            return percentile(ordered, p * 100, ordered=True) * 1000

        return {
            "median": statistics.median(self.rates),
            "min": min(self.rates),
            "max": max(self.rates),
            "rounds": self.rates,
            "p50_ms": pct(0.50),
            "p99_ms": pct(0.99),
            "statements_per_op": statistics.median(self.statements) if self.statements else None,
        }


@dataclass
class Variant:
    """One way of doing the operation: ``op(i)`` for i in the round's index range."""

    name: str
    op: Op
    ops: int
    tasks: int
    before_round: Callable[[], Awaitable[None]] | None = None
    finish: Callable[[], Awaitable[Any]] | None = None
    """Timed: runs after the round's operations (e.g. the flush that makes them durable)."""


class Runner:
    """Runs variants interleaved and keeps their results."""

    def __init__(self, env: Env, *, rounds: int) -> None:
        self.env = env
        self.rounds = rounds

    async def _one(self, variant: Variant, start: int, result: VariantResult | None) -> None:
        if variant.before_round is not None:
            await variant.before_round()
        indexes = iter(range(start, start + variant.ops))
        latencies: list[float] = []

        async def worker() -> None:
            for index in indexes:
                began = time.perf_counter()
                await variant.op(index)
                latencies.append(time.perf_counter() - began)

        self.env.counter.reset()
        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(variant.tasks)))
        if variant.finish is not None:
            await variant.finish()
        elapsed = time.perf_counter() - began
        await asyncio.sleep(0)  # asyncpg delivers query-logger records with call_soon
        if result is not None:
            result.rates.append(variant.ops / elapsed)
            result.latencies.extend(latencies)
            result.statements.append(self.env.counter.count / variant.ops)

    async def compare(self, variants: list[Variant]) -> dict[str, VariantResult]:
        """Warm up each variant once, then ``rounds`` interleaved rounds; index ranges never repeat."""
        results = {v.name: VariantResult(v.name) for v in variants}
        offsets = dict.fromkeys(results, 0)
        for variant in variants:  # warm-up: connections, prepared statements, caches
            await self._one(variant, offsets[variant.name], None)
            offsets[variant.name] += variant.ops
        for _ in range(self.rounds):
            for variant in variants:
                await self._one(variant, offsets[variant.name], results[variant.name])
                offsets[variant.name] += variant.ops
        return results


def machine() -> dict[str, Any]:
    import os  # noqa: PLC0415

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "asyncpg": asyncpg.__version__,
    }
