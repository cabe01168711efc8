"""redis-py's blocking connection pool, with a checkout of an idle connection that costs no lock and no timer.

``create_redis`` uses a blocking pool so that a burst of commands past its
size waits briefly for a connection instead of failing with "Too many
connections" and tripping the circuit breaker. redis-py pays for that wait on
every checkout, even when a connection is idle: the pool's condition is
acquired, a timeout armed, ``wait_for`` called, a pool lock context entered,
and the wait-time metric recorded; every release takes the condition and the
pool lock again and dispatches a release event. On a cache invalidation that
was about 35 µs of this process's CPU per command, against 15 µs for
redis-py's non-blocking pool (the W2 profile in ``docs/performance.md``).

``PromptConnectionPool`` takes an idle connection directly when nobody is
waiting, and puts it back directly when nobody waits for it. Checking and
taking happen in one step of the event loop, with no ``await`` between them,
so no other task can take the same connection. Whenever a caller waits (the
pool is exhausted), every checkout and release goes through redis-py's own
path, so waiters are served in their order and none is passed over by a
newcomer.

The short release skips redis-py's release event. Its one listener
re-authenticates the connection with a streaming credential provider, which a
Redis URL cannot name, so this pool refuses a ``credential_provider`` rather
than skip its re-authentication.
"""

from typing import Any

import redis.asyncio as redis
from redis.asyncio.connection import AbstractConnection

__all__ = ["PromptConnectionPool"]


class PromptConnectionPool(redis.BlockingConnectionPool):
    """A ``BlockingConnectionPool`` that hands out and takes back idle connections without its wait machinery."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("credential_provider") is not None:
            msg = "PromptConnectionPool takes no credential_provider: put the credentials in the Redis URL"
            raise ValueError(msg)
        super().__init__(*args, **kwargs)
        self.waiting = 0
        """Callers inside redis-py's blocking checkout now; while any is, nobody takes the short path."""

    def _prompt(self) -> bool:
        return not self.waiting and not self._in_maintenance

    async def get_connection(self, *_deprecated: Any, **_options: Any) -> AbstractConnection:
        """An idle connection at once if one is free and nobody waits; else redis-py's blocking checkout.

        redis-py itself calls this without arguments; the ones its signature
        still accepts are deprecated and ignored there too.
        """
        if self._available_connections and self._prompt():
            connection = self._available_connections.pop()
            self._in_use_connections.add(connection)
            try:
                await self.ensure_connection(connection)  # redis-py's own check: connected (reconnects if not)
            except BaseException:
                await self.release(connection)
                raise
            return connection
        self.waiting += 1
        try:
            return await super().get_connection()  # type: ignore[no-untyped-call,no-any-return]
        finally:
            self.waiting -= 1

    async def release(self, connection: AbstractConnection) -> None:
        """Back to the idle list directly, unless someone waits for it (then redis-py notifies them)."""
        if not self._prompt() or connection.should_reconnect():  # type: ignore[no-untyped-call]
            await super().release(connection)
            return
        self._in_use_connections.remove(connection)
        self._available_connections.append(connection)
