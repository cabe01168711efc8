"""What every controller is built on: the database's units of work."""

from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Protocol

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

from guildbase.config import Settings
from guildbase.services.cache import CacheService

__all__ = ["Controller", "UnitOfWork"]

if TYPE_CHECKING:
    from guildbase.controllers.jobs import JobController
    from guildbase.controllers.leaderboards import LeaderboardController


class UnitOfWork(Protocol):
    """The part of ``Database`` a controller may use (keeps controllers testable and acyclic)."""

    def session(self) -> AbstractAsyncContextManager[AsyncSession]:
        """A writer transaction: commit on success, roll back on error."""
        ...

    def read_session(self) -> AbstractAsyncContextManager[AsyncSession]:
        """A read-only session, possibly on a replica."""
        ...

    def driver(self, *, transaction: bool = True) -> AbstractAsyncContextManager[asyncpg.Connection]:
        """The pool's asyncpg connection for hot paths (``db.fast``) and COPY."""
        ...

    @property
    def cache(self) -> CacheService:
        """The Redis-backed cache (degrades to misses when Redis is down)."""
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


class Controller:
    """Base class: holds the unit-of-work provider; one public method = one transaction."""

    def __init__(self, db: UnitOfWork) -> None:
        self._db = db
