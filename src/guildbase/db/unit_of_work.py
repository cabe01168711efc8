"""Work that must wait for a unit of work to commit: cache invalidation, NOTIFY, board writes.

A *unit* is anything one transaction is written through: an ``AsyncSession``
or ``Session`` of ``Database.session()`` / ``SyncDatabase.session()`` / the job
runner's outcome transaction, or a ``DriverUnit`` of the hot path
(``Controller._fast()``). A controller that makes cache keys stale registers
them on the unit it wrote through (``invalidate_after_commit(unit, *keys)``);
any other after-commit work is a callback (``after_commit(unit, callback)``).
The unit of work that opened the transaction takes both with ``finish`` once
its transaction has committed and runs them (``run_after_commit``): the stale
keys first, in ONE invalidation, then the callbacks in registration order.
On rollback it calls ``discard`` and nothing runs.

So a caller composing several controllers' ``…_in(session, …)`` methods in one
transaction never has to know which keys they touch, a key named twice is
invalidated once, and nothing is invalidated for a write that never happened.
Model CRUD on a guildbase session reaches the same set through the session's
flush events (``db.stale``), so every write path publishes its invalidations.
"""

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import asyncpg

AfterCommit = Callable[[], Awaitable[object]]
"""A callback run after commit; it must not raise for ordinary outages (the cache guards itself)."""
Invalidate = Callable[..., Awaitable[object]]
"""``cache.invalidate(*keys)``: how a unit of work publishes its stale keys."""

_CALLBACKS = "guildbase.after_commit"
_STALE = "guildbase.stale_keys"


class Unit(Protocol):
    """Something one transaction is written through; its ``info`` dict holds the pending work."""

    @property
    def info(self) -> dict[Any, Any]: ...


class DriverUnit:
    """A unit of work on the hot path: the pool's asyncpg connection and its pending work.

    ``Database._driver()`` yields one; it runs the pending work after the
    transaction (or, without one, the statements) committed, exactly like
    ``Database.session()`` does for a session.
    """

    __slots__ = ("connection", "info")

    def __init__(self, connection: asyncpg.Connection) -> None:
        self.connection = connection
        self.info: dict[Any, Any] = {}


def after_commit(unit: Unit, callback: AfterCommit) -> None:
    """Run ``callback`` once ``unit``'s transaction has committed (never on rollback)."""
    unit.info.setdefault(_CALLBACKS, []).append(callback)


def invalidate_after_commit(unit: Unit, *keys: str) -> None:
    """Make ``keys`` stale everywhere (Redis and every process's local cache) once ``unit`` committed."""
    if keys:
        unit.info.setdefault(_STALE, {}).update(dict.fromkeys(keys))


def take_after_commit(unit: Unit) -> list[AfterCommit]:
    """Remove and return the callbacks registered on ``unit`` (not its stale keys)."""
    callbacks: list[AfterCommit] = unit.info.pop(_CALLBACKS, [])
    return callbacks


def take_stale_keys(unit: Unit) -> tuple[str, ...]:
    """Remove and return the cache keys ``unit`` made stale, in the order first named."""
    return tuple(unit.info.pop(_STALE, ()))


def finish(unit: Unit, invalidate: Invalidate) -> list[AfterCommit]:
    """After commit: everything to run, in order: one invalidation of the stale keys, then the callbacks."""
    keys = take_stale_keys(unit)
    callbacks = take_after_commit(unit)
    if keys:

        async def publish() -> None:
            await invalidate(*keys)

        callbacks.insert(0, publish)
    return callbacks


def discard(unit: Unit) -> None:
    """After rollback: forget everything registered on ``unit``."""
    unit.info.pop(_CALLBACKS, None)
    unit.info.pop(_STALE, None)


async def run_after_commit(callbacks: list[AfterCommit]) -> None:
    """Run callbacks in order; one failing does not stop the others (the first error is re-raised)."""
    first: BaseException | None = None
    for callback in callbacks:
        try:
            await callback()
        except Exception as error:  # noqa: BLE001 - every callback gets its turn
            first = first or error
    if first is not None:
        raise first
