"""The Redis cache service: namespaced, guild-hash-tagged, versioned JSON values.

Keys look like ``gb:v1:{g:<guild_id>}:config``: the ``{g:…}`` hash tag keeps a
guild's keys on one Redis Cluster slot, and the version segment means a
release that changes a cached shape reads fresh keys instead of stale ones.

Redis is never the source of truth. Every failure here degrades to "cache
miss": the caller reads PostgreSQL, a warning is logged once per outage, and a
short circuit breaker stops each call from waiting on a dead server.
"""

import asyncio
import contextlib
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError, WatchError

from guildbase.services.breaker import CircuitBreaker
from guildbase.services.keys import INVALIDATION_CHANNEL
from guildbase.services.leaderboard import LeaderboardStore
from guildbase.services.ratelimit import RateLimiter
from guildbase.services.websessions import WebSessionStore

log = logging.getLogger("guildbase.cache")

T = TypeVar("T")
F = TypeVar("F")


class LocalCache:
    """A small per-process LRU with a TTL, emptied key by key on invalidation messages."""

    def __init__(self, maxsize: int = 10_000, ttl: float = 5.0) -> None:
        self.maxsize = maxsize
        self.ttl = ttl
        self._entries: OrderedDict[str, tuple[float, Any]] = OrderedDict()

    def get(self, key: str) -> tuple[bool, Any]:
        """``(hit, value)``; expired entries count as misses."""
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            self._entries.pop(key, None)
            return False, None
        self._entries.move_to_end(key)
        return True, entry[1]

    def set(self, key: str, value: Any) -> None:
        """Remember ``value`` for ``ttl`` seconds, evicting the least recently used."""
        self._entries[key] = (time.monotonic() + self.ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.maxsize:
            self._entries.popitem(last=False)

    def drop(self, *keys: str) -> None:
        """Forget keys (an invalidation arrived)."""
        for key in keys:
            self._entries.pop(key, None)

    def clear(self) -> None:
        """Forget everything (Redis came back after an outage: nothing local is trusted)."""
        self._entries.clear()


class CacheService:
    """Read-through caching on Redis plus a local LRU; never raises for Redis trouble.

    Consistency rule: a writer commits to PostgreSQL, then calls
    ``invalidate``, which bumps the key's generation, deletes it and publishes
    the key so every process drops its local copy. A reader that loaded from
    PostgreSQL stores its value only if the generation is still the one it saw
    before loading (WATCH/MULTI), so a slow reader can never put back a value
    older than a write that finished meanwhile.
    """

    def __init__(
        self,
        client: aioredis.Redis,
        *,
        redis_url: str | None = None,
        local_ttl: float = 5.0,
        local_maxsize: int = 10_000,
        session_ttl: int = 7 * 24 * 3600,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.client = client
        self.breaker = breaker or CircuitBreaker()
        self.local = LocalCache(local_maxsize, local_ttl)
        self._inflight: dict[str, asyncio.Future[Any]] = {}
        self._stale: set[str] = set()
        # The other Redis-backed services hang off ``db.cache`` too.
        self.ratelimits = RateLimiter(client if redis_url else None, breaker=self.breaker)
        self.sessions = WebSessionStore(client, ttl=session_ttl)
        self.leaderboards = LeaderboardStore(client)
        self._listener: asyncio.Task[None] | None = None
        self.listening = asyncio.Event()

    async def guard(self, operation: Callable[[], Awaitable[T]], fallback: F) -> T | F:
        """Run a Redis operation; on failure (or while the breaker is open) return ``fallback``."""
        if self.breaker.is_open:
            return fallback
        try:
            result = await operation()
        except (RedisError, OSError) as error:
            self.breaker.failed(error)
            self.local.clear()
            return fallback
        self.breaker.succeeded()
        return result

    async def get_json(self, key: str) -> Any | None:
        """The decoded value, or None on a miss or when Redis is unavailable."""
        raw = await self.guard(lambda: self.client.get(key), None)
        return None if raw is None else json.loads(raw)

    async def set_json(self, key: str, value: Any, ttl: float) -> None:
        """Store ``value`` as JSON for ``ttl`` seconds (best effort)."""
        payload = json.dumps(value, separators=(",", ":"), default=str)
        await self.guard(lambda: self.client.set(key, payload, px=max(1, int(ttl * 1000))), None)

    async def read_through(self, key: str, loader: Callable[[], Awaitable[Any]], *, ttl: float) -> Any:
        """Local LRU → Redis → ``loader`` (PostgreSQL), with one load per key at a time.

        Concurrent misses for the same key in this process share one
        ``loader`` call (single flight), so a burst of commands after a restart
        costs one database read, not one per command.
        """
        hit, value = self.local.get(key)
        if hit:
            return value
        pending = self._inflight.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            value = await self._fill(key, loader, ttl)
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # mark retrieved: waiters re-raise it themselves
            raise
        else:
            future.set_result(value)
            return value
        finally:
            self._inflight.pop(key, None)

    async def _fill(self, key: str, loader: Callable[[], Awaitable[Any]], ttl: float) -> Any:
        if not await self.ready():
            return await loader()  # Redis down or possibly stale: PostgreSQL answers, nothing is cached
        cached = await self.get_json(key)
        if cached is not None:
            self.local.set(key, cached)
            return cached
        generation = await self.guard(lambda: self.client.get(_generation_key(key)), None)
        value = await loader()
        if value is not None:
            await self.guard(lambda: self._store_if_current(key, generation, value, ttl), None)
            self.local.set(key, value)
        return value

    async def _store_if_current(self, key: str, generation: Any, value: Any, ttl: float) -> None:
        payload = json.dumps(value, separators=(",", ":"), default=str)
        async with self.client.pipeline(transaction=True) as pipe:
            try:
                await pipe.watch(_generation_key(key))
                if await pipe.get(_generation_key(key)) != generation:
                    return  # a write finished while we loaded: our value may be stale
                pipe.multi()  # type: ignore[no-untyped-call]
                pipe.set(key, payload, px=max(1, int(ttl * 1000)))
                await pipe.execute()
            except WatchError:
                return

    async def invalidate(self, *keys: str) -> None:
        """After a commit: make ``keys`` stale everywhere (Redis and every process's LRU)."""
        if not keys:
            return
        self.local.drop(*keys)
        if not await self._drop_everywhere(keys):
            self.remember_stale(*keys)

    def remember_stale(self, *keys: str) -> None:
        """Keys Redis may hold stale values for: dropped as soon as Redis answers again.

        A write that commits while Redis is unreachable cannot delete its
        cache keys; if Redis only lost contact (and kept its data) it would
        serve the old values after it returns. Until these deletions have
        gone through, this process does not read from Redis at all.
        """
        self._stale.update(keys)

    async def ready(self) -> bool:
        """Whether Redis can be read now: reachable, with every pending deletion applied."""
        if self.breaker.is_open:
            return False
        if not self._stale:
            return True
        pending = tuple(self._stale)
        if await self._drop_everywhere(pending):
            self._stale.difference_update(pending)
            return True
        return False

    async def _drop_everywhere(self, keys: tuple[str, ...]) -> bool:
        async def run() -> bool:
            async with self.client.pipeline(transaction=True) as pipe:
                for key in keys:
                    pipe.incr(_generation_key(key))
                    pipe.expire(_generation_key(key), 86_400)
                pipe.delete(*keys)
                pipe.publish(INVALIDATION_CHANNEL, json.dumps(list(keys)))
                await pipe.execute()
            return True

        return await self.guard(run, fallback=False)

    async def start_listener(self) -> None:
        """Subscribe to invalidations so this process drops local copies within milliseconds."""
        if self._listener is None:
            self._listener = asyncio.create_task(self._listen(), name="guildbase-cache-invalidations")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.listening.wait(), timeout=2)

    async def stop_listener(self) -> None:
        """Cancel the subscription task."""
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None

    async def _listen(self) -> None:
        while True:
            try:
                async with self.client.pubsub() as pubsub:
                    await pubsub.subscribe(INVALIDATION_CHANNEL)
                    self.local.clear()  # anything cached before (re)subscribing may have missed a message
                    self.listening.set()
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            self.local.drop(*json.loads(message["data"]))
            except (RedisError, OSError) as error:
                self.listening.clear()
                self.breaker.failed(error)
                self.local.clear()
                await asyncio.sleep(self.breaker.cooldown)


def _generation_key(key: str) -> str:
    return f"{key}:gen"
