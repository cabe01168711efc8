"""Batch loading: point reads asked for in the same event-loop turn become one ``= ANY($1)`` query.

After a restart, or when a burst of commands arrives from many guilds, a bot
asks for dozens of different rows at the same moment. One query per row pays
a pool checkout, a round trip and the driver's per-query work each time; one
query for all of them pays those once (the DataLoader pattern). Each caller
still gets exactly its own row, or ``None``.
"""

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BatchLoader(Generic[K, V]):
    """Collects the keys asked for in one loop turn and loads them with one ``fetch_many`` call.

    ``fetch_many`` receives distinct keys and returns the rows it found by
    key; missing keys resolve to ``None``. If it raises, every caller of that
    batch gets the error.
    """

    def __init__(self, fetch_many: Callable[[list[K]], Awaitable[dict[K, V]]], *, max_batch: int = 500) -> None:
        self._fetch_many = fetch_many
        self._max_batch = max_batch
        self._pending: dict[K, asyncio.Future[V | None]] = {}
        self._running: set[asyncio.Task[None]] = set()
        self.batches = 0
        """How many ``fetch_many`` calls were made (tests read it to prove batching happened)."""

    async def load(self, key: K) -> V | None:
        """The row for ``key`` (or None), loaded together with the other keys asked for now.

        A cancelled caller does not cancel the load for the others waiting on the same batch.
        """
        future = self._pending.get(key)
        if future is None:
            loop = asyncio.get_running_loop()
            future = loop.create_future()
            if not self._pending:
                loop.call_soon(self._dispatch)
            self._pending[key] = future
            if len(self._pending) >= self._max_batch:
                self._dispatch()
        return await asyncio.shield(future)

    def _dispatch(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, {}
        task = asyncio.create_task(self._run(batch))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _run(self, batch: dict[K, "asyncio.Future[V | None]"]) -> None:
        try:
            found = await self._fetch_many(list(batch))
        except BaseException as error:
            for future in batch.values():
                if not future.done():
                    future.set_exception(error)
                    future.exception()  # the waiters re-raise it; no "never retrieved" noise
            if not isinstance(error, Exception):
                raise
            return
        self.batches += 1
        for key, future in batch.items():
            if not future.done():
                future.set_result(found.get(key))
