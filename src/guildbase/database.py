"""``Database``: the async facade a bot or a dashboard holds (``guildbase.sync`` wraps it for scripts).

``Database`` owns the engines (writer, replicas), the Redis client and the
controllers (``db.guilds``, ``db.cases`` …). Controllers never hold sessions:
each public method opens one unit of work through ``session()``.
"""

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Self

import asyncpg
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from guildbase.config import Settings
from guildbase.db import engine as engines
from guildbase.db.bound import OneTaskGuard
from guildbase.db.connection import exhausted, is_disconnect, lost, unavailable
from guildbase.db.embedded import start_embedded
from guildbase.db.encryption import install_keys
from guildbase.db.errors import translate
from guildbase.db.health import Health
from guildbase.db.hot_rows import HotRowGate
from guildbase.db.migrations import current_revisions, ensure_at_head, upgrade_on
from guildbase.db.pool_checkout import pooled_unit
from guildbase.db.replicas import ReplicaRouter
from guildbase.db.signals import flush_then_chain
from guildbase.db.unit_of_work import DriverUnit, discard, finish, run_after_commit
from guildbase.domains import DomainControllers
from guildbase.errors import GuildbaseError, NotConnectedError, PoolExhaustedError
from guildbase.services.breaker import CircuitBreaker
from guildbase.services.cache import CacheService
from guildbase.services.epoch import EpochWatch
from guildbase.services.leaderboard import LeaderboardStore
from guildbase.services.ratelimit import RateLimiter
from guildbase.services.redis import RedisClient, create_redis
from guildbase.services.websessions import WebSessionStore

log = logging.getLogger("guildbase")

__all__ = ["Database", "Health"]


@dataclass(frozen=True, slots=True)
class _Services:
    """The Redis-backed services, wired once per client; they share one circuit breaker and batcher."""

    cache: CacheService
    ratelimits: RateLimiter
    web_sessions: WebSessionStore
    leaderboard_store: LeaderboardStore


def _resolve_url(settings: Settings) -> tuple[str | URL, bool]:
    """The writer URL, starting the embedded PostgreSQL when none is configured."""
    if settings.database_url:
        return settings.database_url, False
    return start_embedded(settings.data_dir), True


class Database(DomainControllers):
    """The async facade: ``await db.connect()``, then ``db.<domain>.<method>(…)``."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        install_keys(self.settings.encryption_keys)  # the keys of every EncryptedText column (db.encryption)
        self.embedded = False
        self._services: _Services | None = None
        self._engine: AsyncEngine | None = None
        self._writer: async_sessionmaker[AsyncSession] | None = None
        self._reads = ReplicaRouter(None, [])  # where read_session goes (db.replicas): replicas, else the writer
        self._redis: RedisClient | None = None
        self._bound: AsyncConnection | None = None
        self._bound_lock = asyncio.Lock()
        self._bound_guard = OneTaskGuard()
        self._pool_starved = False
        self.pool_timeouts = 0
        self.hot_rows = HotRowGate(self.settings.counter_admission)
        """Admission to each guild's counter row: numbered inserts queue here, not on the pool (``db.hot_rows``)."""
        """How many calls gave up waiting for a pooled connection (``PoolExhaustedError``), for metrics."""
        self._attach_controllers(self)

    @classmethod
    def from_url(cls, url: str, *, redis_url: str | None = None, **settings: Any) -> Self:
        """A Database for ``url`` without reading the environment for it."""
        return cls(Settings(database_url=url, redis_url=redis_url, **settings))

    # -- lifecycle -------------------------------------------------------------
    async def connect(self, *, migrate: bool = False, check_schema: bool = True) -> Self:
        """Open the pools and the Redis client; check (or bring) the schema to head."""
        if self._writer is not None:
            return self
        url, self.embedded = await asyncio.to_thread(_resolve_url, self.settings)
        if self.settings.pgbouncer and self.settings.statement_timeout_ms:
            log.info(engines.PGBOUNCER_TIMEOUT_NOTE)
        self._engine = engines.create_async(url, self.settings)
        self._writer = engines.async_session_factory(self._engine)
        self._reads = ReplicaRouter.from_settings(self._engine, self.settings)
        self._redis = create_redis(self.settings.redis_url, cluster=self.settings.redis_cluster)
        self._services = self._wire(self._redis, watch_connections=True)
        await self._services.cache.start_listener()
        try:
            if migrate:
                await self.migrate()
            elif check_schema:
                async with self._engine.connect() as connection:
                    await connection.run_sync(ensure_at_head)
        except Exception as error:
            if is_disconnect(error):
                await self.close()
                raise unavailable(error) from error
            raise
        await self._replay_spilled()
        return self

    async def _replay_spilled(self) -> None:
        """Write what a killed process of this bot spilled to disk; a failure keeps it for the next start."""
        try:
            replayed = await self.logs.replay_spilled()
        except Exception:  # noqa: BLE001 - the rows stay on disk; connecting must not fail because of them
            log.warning("spilled command-log rows could not be written yet; they stay for the next start")
        else:
            if replayed:
                log.info("wrote %d command-log rows spilled by a process that stopped", replayed)

    async def migrate(self, revision: str = "head") -> None:
        """Apply migrations up to ``revision`` on the writer (what ``guildbase db upgrade`` does)."""
        async with self._require_engine().connect() as connection:
            await connection.run_sync(upgrade_on, revision)
            await connection.commit()

    async def close(self) -> None:
        """Write out buffered log rows, then dispose of every pool and the Redis client.

        Everything is closed whatever fails on the way; the first failure is
        raised after that.

        Raises:
            RowsLostError: log rows could not be written (PostgreSQL away);
                ``error.rows`` holds exactly those rows, nothing else does.
        """
        failures: list[BaseException] = []
        steps = [self._close_logs, self._close_services, self._close_redis, self._close_engines]
        for step in steps:
            try:
                await step()
            except Exception as error:  # noqa: BLE001 - every step runs; the first failure is raised below
                failures.append(error)
        self._engine = None
        self._writer = None
        self._redis = None
        if failures:
            raise failures[0]

    async def _close_logs(self) -> None:
        if self._writer is not None:
            try:
                await self.logs.close()
            finally:
                try:
                    await self.events.close()  # written out even when the command log could not be
                finally:
                    try:
                        await self._flush_hit_counts()
                    finally:
                        await self.permissions.close()  # the permission check log, likewise

    async def _close_services(self) -> None:
        services, self._services = self._services, None
        if services is not None:
            await services.cache.stop_listener()
            await services.cache.batcher.drain()  # invalidations already queued still reach Redis

    async def _close_redis(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()

    async def _close_engines(self) -> None:
        reads, self._reads = self._reads, ReplicaRouter(None, [])
        await reads.dispose()
        if self._engine is not None:
            await self._engine.dispose()

    def flush_on_signals(self, signals: Sequence[signal.Signals] = (signal.SIGTERM,)) -> None:
        """On ``signals``: write every buffered log and event row out, then pass the signal on (the process stops).

        Call it once the loop runs (after ``connect``). The previous handler of
        each signal is chained, never replaced: the default SIGTERM action still
        ends the process, only later, with its rows written (``db.signals``).
        """
        flush_then_chain(signals, self.flush_buffers, name="buffered log, event and check rows")

    async def flush_buffers(self) -> int:
        """Write every buffered row out now: the command and error logs, the event trail, the permission checks.

        Each is flushed whatever the others do; the first failure is raised
        after that. Returns how many rows were written.
        """
        written = 0
        failures: list[Exception] = []
        for flush in (self.logs.flush, self.events.flush, self.permissions.flush):
            try:
                written += await flush()
            except Exception as error:  # noqa: BLE001 - the other buffer is still written; raised below
                failures.append(error)
        if failures:
            raise failures[0]
        return written

    async def __aenter__(self) -> Self:
        return await self.connect()

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    # -- units of work -----------------------------------------------------------
    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A unit of work on the writer: commit on success, roll back on any error.

        Constraint violations leave as ``ValidationError`` / ``ConflictError``.
        After the commit, the cache keys the unit made stale are invalidated
        (those its controllers registered and those its ORM writes touched, see
        ``db.stale``), then callbacks registered with
        ``db.unit_of_work.after_commit(session, …)`` run. On rollback nothing runs.
        """
        async with self._bound_guard.unit(), self._require_writer()() as session:
            committing = False
            try:
                yield session
                await session.flush()  # a failure up to here is known: nothing was committed
                committing = True
                await session.commit()
            except IntegrityError as error:
                discard(session)
                await session.rollback()
                raise translate(error) from error
            except BaseException as error:
                discard(session)
                raise await self._failed(session, error, committing=committing) from error
            pending = finish(session, self._invalidate)
        self._reads.wrote()
        self._pool_answered()
        if pending:
            await run_after_commit(pending)

    async def _failed(self, session: AsyncSession, error: BaseException, *, committing: bool) -> BaseException:
        """Roll ``session`` back and return what the caller should see for ``error``.

        A dead connection is invalidated (never returned to the pool) and becomes
        ``ConnectionLostError`` / ``OutcomeUnknownError``; a pool that stayed full
        becomes ``PoolExhaustedError``; anything else is returned as it was.
        """
        if is_disconnect(error):
            with contextlib.suppress(Exception):
                await session.invalidate()
            return lost(error, committing=committing)
        try:
            await session.rollback()
        except Exception as rollback_error:
            if not is_disconnect(rollback_error):
                raise
            with contextlib.suppress(Exception):
                await session.invalidate()
            return lost(rollback_error, committing=committing)
        if isinstance(error, sa_exc.TimeoutError):
            return self._exhausted()
        if isinstance(error, sa_exc.StatementError) and isinstance(error.orig, GuildbaseError):
            return error.orig  # raised by a column type (EncryptedText's missing key): the caller sees it as it was
        return error

    def _exhausted(self) -> PoolExhaustedError:
        """The pool stayed full for ``pool_timeout``: the error with its state, logged once per episode."""
        error = exhausted(self._require_engine().sync_engine.pool, self.settings.pool_timeout)
        self.pool_timeouts += 1
        if not self._pool_starved:
            self._pool_starved = True
            log.warning("%s", error)
        return error

    def _pool_answered(self) -> None:
        """A connection was handed out: an exhaustion episode (if any) is over."""
        if self._pool_starved:
            self._pool_starved = False
            log.warning("the PostgreSQL pool hands out connections again (%d timeouts so far)", self.pool_timeouts)

    async def _invalidate(self, *keys: str) -> None:
        await self.cache.invalidate(*keys)

    @asynccontextmanager
    async def read_session(self) -> AsyncIterator[AsyncSession]:
        """A read-only session on a fit replica in turn (``db.replicas``), else on the writer.

        Use it for reports, leaderboards and stats that may lag; it still sees
        every write this process committed before (LSN fence); anything that
        reads and then writes on what it read uses ``session()``.
        """
        async with self._bound_guard.unit(), await self._reads.pick(self._require_writer()) as session:
            try:
                yield session
            except BaseException as error:
                self._reads.failed(session, error)  # a replica cut mid-read is skipped for the retry
                raise await self._failed(session, error, committing=False) from error
            try:
                await session.rollback()
            except Exception as error:
                if not is_disconnect(error):
                    raise
                with contextlib.suppress(Exception):  # the read itself succeeded: its answer stands
                    await session.invalidate()

    @asynccontextmanager
    async def _driver(self, *, transaction: bool = True) -> AsyncIterator[DriverUnit]:
        """The hot path's unit of work: a writer-pool asyncpg connection (``db.fast``) and COPY.

        Internal to controllers (``Controller._fast()``); adapters use the
        controllers. Same pool, limits and server settings as ``session()``;
        statements run through asyncpg's prepared-statement cache. With
        ``transaction`` (the default) everything inside is one transaction;
        without it each statement commits on its own (one-statement paths).
        Work registered on the yielded ``DriverUnit`` runs once the block
        committed, exactly as for ``session()``; an error drops it.
        """
        if self._bound is not None:
            async with self._bound_guard.unit(), self._bound_driver() as connection:
                unit = DriverUnit(connection)
                yield unit
        else:
            # Straight from the engine's pool: no Connection object, events or result
            # machinery, just the checkout and the checkin (reset) of the pooled connection.
            pool = self._require_engine().sync_engine.pool
            async with pooled_unit(
                pool, transaction=transaction, exhausted=self._exhausted, answered=self._pool_answered
            ) as unit:
                yield unit
        self._reads.wrote()
        if unit.info:
            await run_after_commit(finish(unit, self._invalidate))

    @asynccontextmanager
    async def _bound_driver(self) -> AsyncIterator[asyncpg.Connection]:
        """Inside ``bind``'s test transaction: a savepoint on the bound connection."""
        assert self._bound is not None  # noqa: S101 - only called when bound
        async with self._bound_lock:
            await self._bound.exec_driver_sql("SELECT 1")  # makes the adapter open its transaction
            raw = await self._bound.get_raw_connection()
            driver: asyncpg.Connection = raw.driver_connection
            await driver.execute("SAVEPOINT guildbase_driver")
            try:
                yield driver
            except BaseException:
                await driver.execute("ROLLBACK TO SAVEPOINT guildbase_driver")
                raise
            await driver.execute("RELEASE SAVEPOINT guildbase_driver")

    # -- introspection -------------------------------------------------------------
    @property
    def engine(self) -> AsyncEngine:
        """The writer engine (for raw SQL or Alembic)."""
        return self._require_engine()

    @property
    def cache(self) -> CacheService:
        """Read-through cache with targeted invalidation (Redis + in-process LRU)."""
        return self._require_services().cache

    @property
    def ratelimits(self) -> RateLimiter:
        """Sliding-window rate limits (``hit_user`` …), shared by every process on the Redis server."""
        return self._require_services().ratelimits

    @property
    def web_sessions(self) -> WebSessionStore:
        """Dashboard sessions: opaque ids, sliding expiry, revocation."""
        return self._require_services().web_sessions

    @property
    def leaderboard_store(self) -> LeaderboardStore:
        """The Redis half of ``db.leaderboards`` (the controller adds the PostgreSQL half)."""
        return self._require_services().leaderboard_store

    def _wire(self, client: RedisClient, *, watch_connections: bool = False) -> _Services:
        """Build the Redis-backed services for ``client``: one breaker, one command batcher, one epoch.

        ``watch_connections`` (a client this ``Database`` owns) reads the server's
        epoch on every connection the pool opens, so a Redis restarted from an
        older dump is recognised before it answers a single command.
        """
        breaker = CircuitBreaker(self.settings.redis_retry_seconds)
        epochs = EpochWatch(client, fixed=not self.settings.redis_url)
        if watch_connections and self.settings.redis_url:
            epochs.install()
        cache = CacheService(client, local_ttl=self.settings.local_cache_ttl_seconds, breaker=breaker, epochs=epochs)
        return _Services(
            cache=cache,
            ratelimits=RateLimiter(client if self.settings.redis_url else None, breaker=breaker),
            web_sessions=WebSessionStore(client, ttl=self.settings.web_session_ttl_seconds),
            leaderboard_store=LeaderboardStore(client, cache.batcher, epochs),
        )

    @property
    def redis(self) -> RedisClient:
        """The shared redis-py asyncio client (real server or in-process)."""
        if self._redis is None:
            raise _not_connected()
        return self._redis

    async def health(self) -> Health:
        """Ping PostgreSQL and Redis; never raises."""
        started = time.perf_counter()
        revision: str | None = None
        try:
            async with self._require_engine().connect() as connection:
                await connection.execute(text("SELECT 1"))
                revisions = await connection.run_sync(current_revisions)
                revision = ",".join(sorted(revisions)) or None
            latency: float | None = (time.perf_counter() - started) * 1000
            database_ok, error = True, None
        except Exception as exc:  # noqa: BLE001 - health reports, it does not raise
            latency, database_ok, error = None, False, f"database: {exc}"
        try:
            redis_ok = bool(await self.redis.ping())
        except Exception as exc:  # noqa: BLE001
            redis_ok, error = False, (error or "") + f" redis: {exc}"
        return Health(database_ok, latency, revision, redis_ok, self.embedded, error)

    # -- testing -----------------------------------------------------------------
    def bind(self, connection: AsyncConnection, redis_client: RedisClient) -> Self:
        """Run every unit of work inside ``connection``'s open transaction, as savepoints.

        A test opens a transaction, binds, runs, and rolls back: nothing any
        controller committed survives. See ``guildbase.testing``.
        """
        self._writer = engines.async_session_factory(connection, join_transaction_mode="create_savepoint")
        self._bound = connection
        self._bound_guard.enabled = True
        self._reads = ReplicaRouter(None, [])
        self._redis = redis_client
        self._services = self._wire(redis_client)
        return self

    def _require_engine(self) -> AsyncEngine:
        if self._engine is None:
            raise _not_connected()
        return self._engine

    def _require_writer(self) -> async_sessionmaker[AsyncSession]:
        if self._writer is None:
            raise _not_connected()
        return self._writer

    def _require_services(self) -> _Services:
        if self._services is None:
            raise _not_connected()
        return self._services


def _not_connected() -> NotConnectedError:
    return NotConnectedError("Database is not connected: await db.connect() first")
