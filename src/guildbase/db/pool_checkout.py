"""The driver path's pool checkout and checkin: straight calls when the pool can do no I/O.

SQLAlchemy's pool is synchronous code that reaches asyncpg only through
``await_only``, so an async engine runs every checkout and checkin inside a
greenlet (``greenlet_spawn``). On the hot paths (``Database._driver``: the XP
award, the case overview, every ``db.fast`` statement) those two greenlets
cost about three times the checkout itself (the W7 profile in
``docs/performance.md``: 32 µs a call through greenlets, 10 µs straight).

Most checkouts do no I/O at all: the next connection in the queue is open,
not due for recycling and not invalidated, and nothing pings it or listens for
it. Most checkins do none either: the connection has no transaction the
adapter opened, nobody listens, and it goes back into a queue with room. In
exactly those cases the pool's own ``connect()`` and ``close()`` are called
directly, the same code without the greenlet. Everything else (a pre-ping, a
recycle or reconnect, waiting for a free connection, an overflow connection
to close, any pool listener, an invalidated connection) goes through the
greenlet as before. With ``pool_pre_ping`` on (the default) every checkout
takes the greenlet path, because a ping is I/O.

The predicates read SQLAlchemy's pool internals (pinned by ``uv.lock``);
``tests/db/test_pool_checkout.py`` proves them exact on the installed version:
where they say "no I/O" a straight call succeeds, and where they do not, a
straight call would have needed the greenlet.
"""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy.pool import Pool, PoolProxiedConnection, QueuePool
from sqlalchemy.pool.base import ResetStyle
from sqlalchemy.util import greenlet_spawn

from guildbase.db.connection import invalidate, is_disconnect, lost, unavailable
from guildbase.db.unit_of_work import DriverUnit

__all__ = ["checkin", "checkin_needs_io", "checkout", "checkout_needs_io", "pooled_unit"]

_QUIET_RESETS = (ResetStyle.reset_rollback, ResetStyle.reset_commit, ResetStyle.reset_none)


def _idle_queue(pool: Pool) -> "asyncio.Queue[Any] | None":
    """The asyncio queue of idle connection records behind an async engine's pool, if it has one."""
    adapted = getattr(pool, "_pool", None)  # QueuePool's queue (AsyncAdaptedQueue for async engines)
    queue = getattr(adapted, "_queue", None)  # its asyncio.Queue, made on first use
    return queue if isinstance(queue, asyncio.Queue) else None


def checkout_needs_io(pool: Pool) -> bool:
    """Whether ``pool.connect()`` could reach the network (or a listener) right now.

    No I/O only when the record the queue hands out next (LIFO: the last one
    in; FIFO: the first) holds an open connection the pool will not recycle or
    replace, and neither a pre-ping nor a ``checkout`` listener runs.
    """
    if pool._pre_ping or pool.dispatch.checkout:  # noqa: SLF001 - SQLAlchemy's own checkout condition
        return True
    queue = _idle_queue(pool)
    if queue is None or queue.empty():
        return True  # waiting, or opening an overflow connection
    records = queue._queue  # type: ignore[attr-defined]  # noqa: SLF001 - the deque/list the queue pops from
    record = records[-1] if isinstance(queue, asyncio.LifoQueue) else records[0]
    if record.dbapi_connection is None:
        return True
    started = record.starttime
    recycle = pool._recycle  # noqa: SLF001
    if recycle > -1 and time.time() - started > recycle:
        return True
    return bool(pool._invalidate_time > started or record._soft_invalidate_time > started)  # noqa: SLF001


def checkin_needs_io(fairy: PoolProxiedConnection) -> bool:
    """Whether ``fairy.close()`` could reach the network (or a listener) right now.

    No I/O only when the connection is valid and attached, this close returns
    it to the pool, the adapter opened no transaction (so the reset on return
    sends nothing), no ``reset`` or ``checkin`` listener runs, and the idle
    queue has room (a full one closes the connection instead).
    """
    pool: Pool = fairy._pool  # noqa: SLF001
    adapted = fairy.dbapi_connection
    if adapted is None or fairy.is_detached or fairy._counter != 1:  # noqa: SLF001
        return True
    if getattr(adapted, "_transaction", None) is not None:
        return True
    if pool.dispatch.reset or pool.dispatch.checkin or pool._reset_on_return not in _QUIET_RESETS:  # noqa: SLF001
        return True
    queue = _idle_queue(pool)
    return queue is None or queue.full()


def _must_wait(pool: QueuePool) -> "asyncio.Queue[Any] | None":
    """The idle queue when ``pool.connect()`` would only wait on it: empty, and no overflow left.

    The same condition as ``QueuePool._do_get``'s ``wait``.
    """
    queue = _idle_queue(pool)
    if queue is None or not queue.empty():
        return None
    limit = pool._max_overflow  # noqa: SLF001 - SQLAlchemy's own wait condition
    return queue if limit > -1 and pool._overflow >= limit else None  # noqa: SLF001


async def _wait_for_idle(pool: QueuePool, queue: "asyncio.Queue[Any]") -> None:
    """Wait in the idle queue's own line, natively, until a connection comes back; leave it there.

    The record is taken and put straight back, with no ``await`` in between,
    so the ``pool.connect()`` that follows finds it. It goes back with the
    queue's ``_put``, not ``put_nowait``: that would wake the next waiter,
    which would find the queue empty again and rejoin the line at its end,
    so later callers would overtake earlier ones. Past the pool's timeout this
    raises the pool's own ``TimeoutError``.
    """
    timeout = pool._timeout  # noqa: SLF001 - the pool's own wait limit
    try:
        async with asyncio.timeout(timeout):
            record = await queue.get()
    except TimeoutError as error:
        msg = f"QueuePool limit of size {pool.size()} reached, connection timed out, timeout {timeout}"
        raise sa_exc.TimeoutError(msg) from error
    queue._put(record)  # noqa: SLF001 - back in place, waking nobody (see above)


async def checkout(pool: Pool) -> PoolProxiedConnection:
    """A pooled connection: straight from the queue when that does no I/O, else through the greenlet.

    When every connection is out, the wait for one is native too: about a
    third of W1's checkouts at 16 tasks on 10 connections, which otherwise
    each paid a greenlet and ``wait_for`` (``docs/performance.md``).
    """
    if not checkout_needs_io(pool):
        return pool.connect()
    if isinstance(pool, QueuePool) and (queue := _must_wait(pool)) is not None:
        await _wait_for_idle(pool, queue)
        if not checkout_needs_io(pool):
            return pool.connect()
    return await greenlet_spawn(pool.connect)


async def checkin(fairy: PoolProxiedConnection) -> None:
    """Return ``fairy`` to its pool: straight when that does no I/O, else through the greenlet."""
    if not checkin_needs_io(fairy):
        fairy.close()
        return
    await greenlet_spawn(fairy.close)


@asynccontextmanager
async def pooled_unit(
    pool: Pool, *, transaction: bool, exhausted: Callable[[], BaseException], answered: Callable[[], None]
) -> AsyncIterator[DriverUnit]:
    """``Database._driver``'s unit on one pooled connection, with every failure in guildbase's terms.

    ``exhausted`` makes the error for a pool that stayed full, ``answered``
    notes that the pool handed a connection out again. With ``transaction``
    everything inside is one transaction; without it each statement commits
    on its own, so a connection lost mid-statement has an unknown outcome.
    """
    try:
        fairy = await checkout(pool)
    except sa_exc.TimeoutError as error:
        raise exhausted() from error
    except Exception as error:
        if is_disconnect(error):
            raise unavailable(error) from error
        raise
    answered()
    committing = not transaction
    clean = False
    try:
        unit = DriverUnit(fairy.driver_connection)
        if transaction:
            block = unit.connection.transaction()
            await block.start()
            try:
                yield unit
            except BaseException:
                with contextlib.suppress(Exception):  # on a dead connection the server rolled back
                    await block.rollback()
                raise
            committing = True
            await block.commit()
        else:
            yield unit
        clean = True
    except BaseException as error:
        if is_disconnect(error):
            invalidate(pool, fairy, error)  # this one, and every connection opened before it
            raise lost(error, committing=committing) from error
        raise
    finally:
        if not clean:  # after an error the checkin may have to reset or close, through the greenlet
            await greenlet_spawn(fairy.close)
    await checkin(fairy)
