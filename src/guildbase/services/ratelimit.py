"""Sliding-window rate limits for commands, users and guilds.

Built on the ``limits`` library's moving-window strategy: every hit is a
timestamp in a Redis list trimmed by a Lua script, so the limit is exact (no
burst at window edges) and atomic across every bot process sharing the server.
Identifiers are hash-tagged by guild so a Redis Cluster keeps a guild's
counters on one slot; on a cluster the library's cluster storage runs on the
bot's own cluster client (each window is one key, so its script stays in one
slot).

Without a Redis URL (the embedded default) the in-process storage of the same
library is used; when a configured Redis fails, the limiter falls back to that
in-process storage until Redis answers again (per-process limits are better
than no limits, and far better than refusing every command).
"""

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisClusterStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from redis.exceptions import RedisError

from guildbase.errors import ValidationError, shown
from guildbase.services.breaker import CircuitBreaker
from guildbase.services.keys import NAMESPACE
from guildbase.services.redis import RedisClient, RedisCluster

log = logging.getLogger("guildbase.ratelimit")


@dataclass(frozen=True, slots=True)
class RateLimitResult:
    """Whether the hit was allowed, and when to try again if not."""

    allowed: bool
    limit: str
    remaining: int
    retry_after: float
    """Seconds until the next hit can succeed (0 when allowed)."""


def parse_limit(limit: str | RateLimitItem) -> RateLimitItem:
    """``"5/minute"``, ``"10 per 30 seconds"`` → a limit item, or a ValidationError naming ``limit``."""
    if isinstance(limit, RateLimitItem):
        return limit
    try:
        return parse(limit)
    except ValueError:
        raise ValidationError.single(
            "limit", "rate_limit", f"must look like '5/minute' or '10 per 30 seconds', got {shown(limit)}"
        ) from None


class _SharedClusterStorage(RedisClusterStorage):
    """``limits``' cluster storage on an existing ``RedisCluster`` instead of one it would open (and never close).

    The library builds its client in ``configure_bridge``; this hands the
    bridge the bot's client there, so slots, connections and shutdown are
    those of ``Database``'s own cluster client.
    """

    def __init__(self, client: RedisCluster, *, key_prefix: str) -> None:
        self._shared_client = client
        nodes = ",".join(f"{node.host}:{node.port}" for node in client.nodes_manager.startup_nodes.values())
        super().__init__(
            f"async+redis+cluster://{nodes}", implementation="redispy", wrap_exceptions=True, key_prefix=key_prefix
        )

    def configure_bridge(self) -> None:
        bridge: Any = self.bridge
        bridge.storage = self._shared_client
        bridge.connection_getter = lambda _readonly: self._shared_client
        self._loading: asyncio.Future[None] | None = None

    async def scripts_loaded(self) -> None:
        """``SCRIPT LOAD`` the library's scripts on every primary once, before the first ``EVALSHA``.

        redis-py's cluster client mishandles many concurrent first calls that
        all get ``NOSCRIPT`` (each reloads while the others still use the same
        connections); loading first means the scripts are already there.
        """
        if self._loading is None or (self._loading.done() and self._loading.exception() is not None):
            self._loading = asyncio.ensure_future(self._load())
        await asyncio.shield(self._loading)

    async def _load(self) -> None:
        bridge: Any = self.bridge
        for name in ("lua_moving_window", "lua_acquire_moving_window"):
            await self._shared_client.script_load(getattr(bridge, name).script)


class RateLimiter:
    """Sliding-window budgets: ``hit`` consumes one unit and says allowed or retry-after."""

    def __init__(self, client: RedisClient | None, *, breaker: CircuitBreaker | None = None) -> None:
        """``client``: the shared Redis (its connection pool, or its cluster client, is reused); None: in-process."""
        self._local = MovingWindowRateLimiter(MemoryStorage())
        self._shared: MovingWindowRateLimiter | None = None
        if isinstance(client, RedisCluster):
            self._shared = MovingWindowRateLimiter(_SharedClusterStorage(client, key_prefix=f"{NAMESPACE}:rl"))
        elif client is not None:
            storage: Storage = RedisStorage(
                "async+redis://127.0.0.1:6379",  # nominal: `limits` wants a URI; the shared pool decides the server
                implementation="redispy",
                wrap_exceptions=True,
                key_prefix=f"{NAMESPACE}:rl",
                connection_pool=client.connection_pool,  # type: ignore[arg-type]
            )
            self._shared = MovingWindowRateLimiter(storage)
        self.breaker = breaker or CircuitBreaker()

    async def hit(self, limit: str | RateLimitItem, *identifiers: str | int, cost: int = 1) -> RateLimitResult:
        """Consume ``cost`` units of ``limit`` for the bucket named by ``identifiers``."""
        item = parse_limit(limit)
        names = [str(identifier) for identifier in identifiers]
        limiter = self._shared if self._shared is not None and not self.breaker.is_open else self._local
        try:
            return await self._hit(limiter, item, names, cost)
        except (StorageError, RedisError, OSError) as error:
            self.breaker.failed(error)
            return await self._hit(self._local, item, names, cost)

    async def _hit(
        self, limiter: MovingWindowRateLimiter, item: RateLimitItem, names: list[str], cost: int
    ) -> RateLimitResult:
        if limiter is self._shared and isinstance(limiter.storage, _SharedClusterStorage):
            await limiter.storage.scripts_loaded()
        allowed = await limiter.hit(item, *names, cost=cost)
        if limiter is self._shared:
            self.breaker.succeeded()
        stats = await limiter.get_window_stats(item, *names)
        retry_after = 0.0 if allowed else max(0.0, stats.reset_time - time.time())
        return RateLimitResult(allowed, str(item), stats.remaining, retry_after)

    async def hit_user(self, user_id: int, limit: str | RateLimitItem) -> RateLimitResult:
        """A budget for one user across every guild (e.g. anti-spam)."""
        return await self.hit(limit, f"{{u:{user_id}}}", "user")

    async def hit_guild(self, guild_id: int, limit: str | RateLimitItem) -> RateLimitResult:
        """A budget shared by everyone in a guild."""
        return await self.hit(limit, f"{{g:{guild_id}}}", "guild")

    async def hit_command(
        self, guild_id: int | None, user_id: int, command: str, limit: str | RateLimitItem
    ) -> RateLimitResult:
        """A per-user budget for one command, scoped to a guild (or to DMs when ``guild_id`` is None)."""
        scope = f"{{g:{guild_id}}}" if guild_id is not None else "{dm}"
        return await self.hit(limit, scope, "cmd", command, user_id)
