"""The one-task rule of a ``Database`` bound to a test transaction (``Database.bind``).

A bound database runs every unit of work as a savepoint on ONE connection, so
units of work from concurrent tasks would not run concurrently at all: they
would queue on that connection (or interleave savepoints), and a test of
"32 tasks race for a case number" would pass without any race ever
happening. That is the trap this module closes: while one task holds a unit
of work, a unit of work opened by another task raises
``BoundConcurrencyError`` instead of silently waiting. Nested units of the
same task, or of tasks it starts while holding one (the config batch loader),
are fine.

Concurrency tests use a pooled ``Database`` (the ``pooled_db`` fixture of the
project's tests, or ``Database(settings).connect()`` with ``truncate_all``).
"""

import contextvars
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

__all__ = ["BoundConcurrencyError", "OneTaskGuard"]


class BoundConcurrencyError(RuntimeError):
    """Two tasks used one savepoint-bound ``Database`` at once: the test would not test concurrency."""


class OneTaskGuard:
    """Counts the open units of work of the flow of tasks that holds the bound connection.

    A flow is the task that opened the first unit plus the tasks it starts
    while holding it (they inherit its context, like the config batch loader's
    fetch): those run on its behalf. Any other task is refused.
    """

    def __init__(self) -> None:
        self.enabled = False
        """Set by ``Database.bind``; an unbound database's units pass straight through."""
        self._flow: contextvars.ContextVar[object | None] = contextvars.ContextVar("guildbase_bound_flow")
        self._holder: object | None = None
        self._depth = 0

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[None]:
        """Enter one unit of work; refuses another flow while the first holds one."""
        if not self.enabled:
            yield
            return
        mine = self._flow.get(None)
        if self._depth and mine is not self._holder:
            msg = (
                "a Database bound to a test transaction (Database.bind, the `db` fixture) runs one task's "
                "units of work at a time on one connection, so concurrent tasks would queue instead of "
                "racing; use a pooled Database (the `pooled_db` fixture) for a concurrency test"
            )
            raise BoundConcurrencyError(msg)
        token = None
        if not self._depth:
            self._holder = object()
            token = self._flow.set(self._holder)
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if token is not None:
                self._flow.reset(token)
            if not self._depth:
                self._holder = None
