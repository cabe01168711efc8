"""What every controller is built on: three named ways into the database, and after-commit work.

A controller method picks exactly one way in (``docs/development.md`` gives
the rule):

- ``self._write()`` — the writer unit of work (``AsyncSession``): anything that
  writes, and reads that must see their own writes. The default.
- ``self._read()`` — a read-only session on a replica (or the writer when none
  is configured): reports, leaderboards, stats that may lag by replication delay.
- ``self._fast()`` — the benchmarked hot path (``DriverUnit``: the pool's
  asyncpg connection, with statements from ``db.fast.prepare``): only for SQL
  that runs per message or per command and has a benchmark in ``bench/``.

Whichever way it wrote, a controller registers the cache keys it made stale on
that same unit with ``self._stale(unit, *keys)`` (other after-commit work:
``db.unit_of_work.after_commit``); the unit of work invalidates them after its
commit, and never on rollback. No caller ever invalidates for a controller.
"""

from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from guildbase.config import Settings
from guildbase.db.hot_rows import HotRowGate
from guildbase.db.unit_of_work import DriverUnit, Unit, invalidate_after_commit
from guildbase.services.cache import CacheService
from guildbase.services.leaderboard import LeaderboardStore
from guildbase.services.redis import RedisClient
from guildbase.services.websessions import WebSessionStore

__all__ = ["Controller", "UnitOfWork"]

if TYPE_CHECKING:
    from guildbase.controllers.jobs import JobController
    from guildbase.controllers.leaderboards import LeaderboardController
    from guildbase.controllers.premium import PremiumController


class UnitOfWork(Protocol):
    """The part of ``Database`` a controller may use (keeps controllers testable and acyclic)."""

    def session(self) -> AbstractAsyncContextManager[AsyncSession]:
        """A writer transaction: commit on success, roll back on error, then its after-commit work."""
        ...

    def read_session(self) -> AbstractAsyncContextManager[AsyncSession]:
        """A read-only session, possibly on a replica."""
        ...

    def _driver(self, *, transaction: bool = True) -> AbstractAsyncContextManager[DriverUnit]:
        """The hot path's unit of work on the pool's asyncpg connection (``db.fast``) and COPY."""
        ...

    @property
    def cache(self) -> CacheService:
        """The Redis-backed cache (degrades to misses when Redis is down)."""
        ...

    @property
    def hot_rows(self) -> HotRowGate:
        """Admission to each guild's counter row: numbered inserts queue in the process, not on the pool."""
        ...

    @property
    def leaderboard_store(self) -> LeaderboardStore:
        """The Redis half of the leaderboards."""
        ...

    @property
    def redis(self) -> RedisClient:
        """The shared Redis client (``db.privacy`` finds and erases what Redis holds about a user)."""
        ...

    @property
    def web_sessions(self) -> WebSessionStore:
        """Dashboard sessions (``db.privacy`` exports and ends a user's)."""
        ...

    @property
    def settings(self) -> Settings:
        """TTLs and limits."""
        ...

    @property
    def jobs(self) -> "JobController":
        """The job queue: a controller enqueues (``enqueue_in``) and cancels (``cancel_in``) its timed work."""
        ...

    @property
    def leaderboards(self) -> "LeaderboardController":
        """The Redis boards (``db.leaderboards``) that XP changes update after their commit."""
        ...

    @property
    def premium(self) -> "PremiumController":
        """The premium tiers (``db.premium``) whose limits the domains' quotas follow."""
        ...


class Controller:
    """Base class: holds the unit-of-work provider; one public method = one transaction."""

    def __init__(self, db: UnitOfWork) -> None:
        self._db = db

    def _write(self) -> AbstractAsyncContextManager[AsyncSession]:
        """The writer unit of work: commit on success, roll back on error."""
        return self._db.session()

    def _read(self) -> AbstractAsyncContextManager[AsyncSession]:
        """A read on a replica (may lag); never for a read that must see this process's writes."""
        return self._db.read_session()

    def _fast(self, *, transaction: bool = True) -> AbstractAsyncContextManager[DriverUnit]:
        """The benchmarked hot path: ``unit.connection`` runs ``db.fast`` statements.

        ``transaction=False`` for a single statement (it commits on its own).
        """
        return self._db._driver(transaction=transaction)  # noqa: SLF001 - the one way in to the driver path

    @staticmethod
    def _stale(unit: Unit, *keys: str) -> None:
        """Invalidate ``keys`` everywhere once ``unit`` committed (nothing on rollback)."""
        invalidate_after_commit(unit, *keys)
