"""Connection failures at one boundary: what a dead connection looks like, and what callers see instead.

A connection dies when PostgreSQL restarts, a backend is terminated
(``pg_terminate_backend``, an idle timeout, a failover) or the network drops.
asyncpg and SQLAlchemy then raise a dozen different things
(``ConnectionDoesNotExistError``, ``InterfaceError: connection is closed``,
``InternalClientError``, ``AdminShutdownError``, ``OSError``, ``DBAPIError``
wrapping any of them …). ``is_disconnect`` recognises all of them, and the
units of work (``Database.session`` / ``read_session`` / ``_driver``) turn
them into one of three errors, each saying what to do:

- ``ConnectionLostError``: nothing this call did was committed; retrying is safe.
- ``OutcomeUnknownError`` (a ``ConnectionLostError``): the connection died
  while committing, or during a statement that commits on its own; a write
  may or may not have been applied, so read back before retrying.
- ``DatabaseUnavailableError``: no connection could be opened at all.

A dead connection is invalidated (closed, never handed out again), and with
it every connection of the pool opened before it (``invalidate``): after a
server restart the next callers get fresh connections instead of failing one
by one. Reads that are safe to repeat are retried once (``retry_read``);
writes never are, by the library.
"""

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
from sqlalchemy import exc as sa_exc
from sqlalchemy.pool import Pool

from guildbase.errors import ConnectionLostError, DatabaseUnavailableError, OutcomeUnknownError, PoolExhaustedError

log = logging.getLogger("guildbase.db")

T = TypeVar("T")

_DRIVER_DISCONNECTS: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, broken pipe, connect timeouts (TimeoutError is an OSError)
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.InterfaceError,  # "connection is closed", and a connection left mid-operation
    asyncpg.InternalClientError,
    asyncpg.PostgresConnectionError,  # SQLSTATE class 08
    asyncpg.AdminShutdownError,  # 57P01: pg_terminate_backend, a fast shutdown
    asyncpg.CrashShutdownError,  # 57P02
    asyncpg.CannotConnectNowError,  # 57P03: starting up, shutting down, in recovery
)


def is_disconnect(error: BaseException) -> bool:
    """Whether ``error`` means the connection is gone (whatever asyncpg or SQLAlchemy calls it)."""
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return True
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _DRIVER_DISCONNECTS):
            return True
        if isinstance(current, sa_exc.DBAPIError):
            current = current.orig if isinstance(current.orig, BaseException) else current.__cause__
        else:
            current = current.__cause__
    return False


def invalidate(pool: Pool, fairy: Any, error: BaseException) -> None:
    """Close ``fairy`` for good, and mark every connection the pool opened before it as stale.

    The same as SQLAlchemy does for its own sessions on a disconnect: a
    restarted server killed them all, so each is replaced at its next checkout
    instead of failing its next caller.
    """
    pool._invalidate(fairy, error)  # noqa: SLF001 - SQLAlchemy's own disconnect handling, as its engines call it


def lost(error: BaseException, *, committing: bool) -> ConnectionLostError:
    """The error a caller gets for a dead connection (``committing``: the outcome is unknown)."""
    cause = f"{type(error).__name__}: {error}".strip().rstrip(":")
    if committing:
        return OutcomeUnknownError(
            f"the connection to PostgreSQL was lost while committing ({cause}): the write may or may not have "
            "been applied; read it back before retrying (XP awards and upserts are safe to repeat with the same "
            "arguments, a new case or note is not)"
        )
    return ConnectionLostError(
        f"the connection to PostgreSQL was lost ({cause}): nothing this call did was committed; "
        "it is safe to retry (the dead connection was replaced)"
    )


def unavailable(error: BaseException) -> DatabaseUnavailableError:
    """No connection could be opened: the server is down, unreachable, or refusing connections."""
    return DatabaseUnavailableError(
        f"PostgreSQL cannot be reached ({type(error).__name__}: {error}); check that it is running and that "
        "GUILDBASE_DATABASE_URL points at it. Nothing was written"
    )


def exhausted(pool: Pool, timeout: float) -> PoolExhaustedError:
    """Every connection stayed busy for ``timeout`` seconds; the error carries the pool's state."""
    state = pool_state(pool)
    return PoolExhaustedError(
        f"no PostgreSQL connection became free within {timeout:g} s ({state['checked_out']} of "
        f"{state['size'] + state['max_overflow']} in use): something holds connections for long (a slow query, "
        "a session kept open); raise GUILDBASE_POOL_SIZE or GUILDBASE_POOL_TIMEOUT only once that is ruled out. "
        "Nothing was written",
        state,
    )


def pool_state(pool: Pool) -> dict[str, int]:
    """Size, checked-out and overflow counts of a queue pool (zeros for other pools)."""
    size = getattr(pool, "size", None)
    return {
        "size": int(size()) if callable(size) else 0,
        "max_overflow": int(getattr(pool, "_max_overflow", 0)),
        "checked_out": int(pool.checkedout()) if hasattr(pool, "checkedout") else 0,
        "overflow": int(pool.overflow()) if hasattr(pool, "overflow") else 0,
    }


async def retry_read(read: Callable[[], Awaitable[T]]) -> T:
    """Run a read that is safe to repeat; when its connection died, run it once more on a fresh one."""
    try:
        return await read()
    except ConnectionLostError as error:
        log.info("a read lost its connection (%s); retrying once on a fresh connection", error)
        return await read()
