"""Work that must wait for a unit of work to commit: cache invalidation, NOTIFY, board writes.

A controller that makes a cache key stale registers the invalidation on the
session it wrote through (``after_commit(session, callback)``); the unit of
work (``Database.session()``, the job runner's outcome transaction) runs every
registered callback once its transaction has committed, in registration
order, and drops them all when it rolls back. So a caller composing several
controllers' ``…_in(session, …)`` methods in one transaction never has to know
which keys they touch, and nothing is invalidated for a write that never
happened.
"""

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

AfterCommit = Callable[[], Awaitable[object]]
"""A callback run after commit; it must not raise for ordinary outages (the cache guards itself)."""

_KEY = "guildbase.after_commit"


def _info(session: AsyncSession | Session) -> dict[Any, Any]:
    return session.info


def after_commit(session: AsyncSession | Session, callback: AfterCommit) -> None:
    """Run ``callback`` once ``session``'s unit of work has committed (never on rollback)."""
    _info(session).setdefault(_KEY, []).append(callback)


def take_after_commit(session: AsyncSession | Session) -> list[AfterCommit]:
    """Remove and return the callbacks registered on ``session`` (the unit of work runs them)."""
    callbacks: list[AfterCommit] = _info(session).pop(_KEY, [])
    return callbacks


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
