"""The Redis cache service: namespaced, guild-hash-tagged, versioned values.

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
from collections.abc import Awaitable, Callable, Hashable
from functools import partial
from typing import Any, Generic, Protocol, TypeVar

from pydantic import BaseModel
from redis.exceptions import RedisError

from guildbase.db.connection import retry_read
from guildbase.services.batching import CommandBatcher
from guildbase.services.breaker import CircuitBreaker
from guildbase.services.epoch import EpochWatch
from guildbase.services.invalidation import generation_key
from guildbase.services.keys import invalidation_channel
from guildbase.services.redis import RedisClient, RedisCluster, client_db, is_in_process

log = logging.getLogger("guildbase.cache")

T = TypeVar("T")
F = TypeVar("F")
M = TypeVar("M", bound=BaseModel)


class Codec(Protocol[T]):
    """How a cached value is written to and read from Redis."""

    def encode(self, value: T) -> str: ...

    def decode(self, raw: str) -> T: ...


class JsonCodec:
    """Plain JSON (dicts, lists, numbers); datetimes and other objects are written with ``str``."""

    def encode(self, value: Any) -> str:
        return json.dumps(value, separators=(",", ":"), default=str)

    def decode(self, raw: str) -> Any:
        return json.loads(raw)


class ModelCodec(Generic[M]):
    """A pydantic read model, validated once per Redis read by pydantic-core's JSON parser."""

    def __init__(self, model: type[M]) -> None:
        self.model = model

    def encode(self, value: M) -> str:
        return value.model_dump_json()

    def decode(self, raw: str) -> M:
        return self.model.model_validate_json(raw)


JSON = JsonCodec()


class LocalCache:
    """A small per-process LRU with a TTL, emptied key by key on invalidation messages.

    A controller on a hot path may *mirror* an entry into a dict of its own,
    keyed by something it already has in hand (a guild ID), so a hit costs one
    dict lookup instead of building the key string. Mirrors share the entry's
    expiry and are removed with it (drop, clear, eviction, replacement).
    """

    def __init__(self, maxsize: int = 10_000, ttl: float = 5.0) -> None:
        self.maxsize = maxsize
        self.ttl = ttl
        self._entries: OrderedDict[str, tuple[float, Any]] = OrderedDict()
        self._mirrors: dict[str, tuple[dict[Any, tuple[float, Any]], Hashable]] = {}
        self._filling: dict[str, bool] = {}
        """Keys being filled now → whether an invalidation arrived meanwhile (then the fill is not kept)."""
        self._tables: dict[str, dict[Any, tuple[float, Any]]] = {}

    def table(self, name: str) -> dict[Any, tuple[float, Any]]:
        """The mirror table ``name`` (see ``mirror``), one per process and cache, shared by every controller.

        For entries several controllers read by the same alias (a guild's
        feature map, read by every feature gate): one table, so they never
        take the mirror from each other.
        """
        found = self._tables.get(name)
        if found is None:
            found = self._tables[name] = {}
        return found

    def get(self, key: str) -> tuple[bool, Any]:
        """``(hit, value)``; expired entries count as misses."""
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            if entry is not None:
                self._forget(key)
            return False, None
        self._entries.move_to_end(key)
        return True, entry[1]

    def set(self, key: str, value: Any) -> None:
        """Remember ``value`` for ``ttl`` seconds, evicting the least recently used."""
        self._unmirror(key)
        self._entries[key] = (time.monotonic() + self.ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.maxsize:
            evicted, _ = self._entries.popitem(last=False)
            self._unmirror(evicted)

    def mirror(self, key: str, table: dict[Any, tuple[float, Any]], alias: Hashable) -> None:
        """Also expose ``key``'s entry as ``table[alias]`` (``(expires_at, value)``) while it lives."""
        entry = self._entries.get(key)
        if entry is None:
            return
        self._unmirror(key)
        table[alias] = entry
        self._mirrors[key] = (table, alias)

    def begin_fill(self, key: str) -> None:
        """A load of ``key`` starts: remember whether it is invalidated before ``end_fill``."""
        self._filling[key] = False

    def end_fill(self, key: str, value: Any) -> None:
        """Keep the loaded value (if any), unless ``key`` was dropped while it loaded: it may be stale."""
        if self._filling.pop(key, True) is False and value is not None:
            self.set(key, value)

    def drop(self, *keys: str) -> None:
        """Forget keys (an invalidation arrived)."""
        for key in keys:
            self._forget(key)
            if key in self._filling:
                self._filling[key] = True

    def clear(self) -> None:
        """Forget everything (Redis came back after an outage: nothing local is trusted)."""
        self._filling = dict.fromkeys(self._filling, True)
        self._entries.clear()
        for table, alias in self._mirrors.values():
            table.pop(alias, None)
        self._mirrors.clear()

    def _forget(self, key: str) -> None:
        self._entries.pop(key, None)
        self._unmirror(key)

    def _unmirror(self, key: str) -> None:
        mirrored = self._mirrors.pop(key, None)
        if mirrored is not None:
            mirrored[0].pop(mirrored[1], None)


class CacheService:
    """Read-through caching on Redis plus a local LRU; never raises for Redis trouble.

    Consistency rule: a writer commits to PostgreSQL, then calls
    ``invalidate``, which gives the key a new random *generation*, deletes it
    and publishes the key so every process drops its local copy. Values are
    stored in Redis as ``<generation>|<payload>``, tagged with the generation
    the reader saw *before* it loaded from PostgreSQL, and a value is served
    only while its tag equals the key's current generation. A slow reader that
    loaded before a write finished therefore stores a value nobody will ever
    serve: it can never put back data older than a finished write. Reading the
    value and its generation is one ``MGET`` (both keys share the guild's hash
    tag, so this holds on Redis Cluster too), storing is one ``SET``: two
    commands per miss, and those of concurrent callers travel together in one
    pipeline (``CommandBatcher``).

    The tag also names the Redis server boot (``services.epoch``): a value
    stored before a restart from a dump, a failover or any other change of
    server is never served, whatever its generation says.
    """

    def __init__(
        self,
        client: RedisClient,
        *,
        local_ttl: float = 5.0,
        local_maxsize: int = 10_000,
        breaker: CircuitBreaker | None = None,
        epochs: EpochWatch | None = None,
    ) -> None:
        self.client = client
        self.breaker = breaker or CircuitBreaker()
        self.epochs = epochs or EpochWatch(client, fixed=is_in_process(client))
        self.epochs.on_change(self._new_epoch)
        self.local = LocalCache(local_maxsize, local_ttl)
        self.batcher = CommandBatcher(client)
        self.channel = invalidation_channel(client_db(client))
        self._inflight: dict[str, asyncio.Future[Any]] = {}
        self._stale: set[str] = set()
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

    async def read_through(
        self, key: str, loader: Callable[[], Awaitable[T | None]], *, ttl: float, codec: Codec[T] = JSON
    ) -> T | None:
        """Local LRU → Redis → ``loader`` (PostgreSQL), with one load per key at a time.

        Concurrent misses for the same key in this process share one
        ``loader`` call (single flight), so a burst of commands after a restart
        costs one database read, not one per command. ``None`` from the loader
        (nothing in the database) is returned and not cached.
        """
        hit, value = self.local.get(key)
        if hit:
            return value  # type: ignore[no-any-return]
        pending = self._inflight.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            value = await self._fill(key, loader, ttl, codec)
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # mark retrieved: waiters re-raise it themselves
            raise
        else:
            future.set_result(value)
            return value
        finally:
            self._inflight.pop(key, None)

    async def _fill(self, key: str, loader: Callable[[], Awaitable[T | None]], ttl: float, codec: Codec[T]) -> T | None:
        if not await self.ready():
            return await retry_read(loader)  # Redis down or possibly stale: PostgreSQL answers, nothing is cached
        self.local.begin_fill(key)
        value: T | None = None
        try:
            fetched = await self.guard(lambda: self.batcher.mget(key, generation_key(key)), None)
            epoch = self.epochs.current  # of the server that answered: its connection was checked first
            if fetched is not None:
                value = _current(fetched[0], f"{epoch}.{fetched[1] or ''}", codec)
                if value is not None:
                    return value
            value = await retry_read(loader)  # a loader only reads: repeating it on a fresh connection is safe
            if value is not None and fetched is not None:
                payload = f"{epoch}.{fetched[1] or ''}|{codec.encode(value)}"
                ttl_ms = max(1, int(ttl * 1000))
                await self.guard(lambda: self.batcher.execute("SET", key, payload, "PX", ttl_ms), None)
            return value
        finally:
            self.local.end_fill(key, value)  # kept only if no invalidation of this key arrived meanwhile

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
        """Whether Redis can be read now: reachable, its boot known, every pending deletion applied."""
        if self.breaker.is_open:
            return False
        if self.epochs.current is None and await self.guard(self.epochs.epoch, None) is None:
            return False
        if not self._stale:
            return True
        pending = tuple(self._stale)
        if await self._drop_everywhere(pending):
            self._stale.difference_update(pending)
            return True
        return False

    async def _drop_everywhere(self, keys: tuple[str, ...]) -> bool:
        """New generations, deletions and one message for ``keys`` (``services.invalidation``), batched."""
        return await self.guard(partial(self._drop, keys), fallback=False)

    async def _drop(self, keys: tuple[str, ...]) -> bool:
        await self.batcher.drop(self.channel, list(keys))
        return True

    def _new_epoch(self, _epoch: str) -> None:
        """Another server boot: nothing remembered about the old one applies (its keys are all ignored now)."""
        self._stale.clear()
        self.local.clear()

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
                if isinstance(self.client, RedisCluster):
                    await self._listen_sharded(self.client)
                    continue
                async with self.client.pubsub() as pubsub:
                    await pubsub.subscribe(self.channel)
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

    async def _listen_sharded(self, client: RedisCluster) -> None:
        """On a Redis Cluster: ``SSUBSCRIBE`` on the node that owns the channel's slot (``SPUBLISH`` goes there)."""
        await client.initialize()  # the slot map: SSUBSCRIBE picks its node by the channel's slot
        pubsub = client.pubsub()
        try:
            await pubsub.ssubscribe(self.channel)
            self.local.clear()  # anything cached before (re)subscribing may have missed a message
            self.listening.set()
            while True:
                message = await pubsub.get_sharded_message(timeout=1.0)
                if message is not None and message.get("type") == "smessage":
                    self.local.drop(*json.loads(message["data"]))
        finally:
            await pubsub.aclose()


def _current(raw: str | None, tag_now: str, codec: Codec[T]) -> T | None:
    """The decoded value if it was stored under the current ``<epoch>.<generation>`` tag, else None."""
    if raw is None:
        return None
    tag, _, payload = raw.partition("|")
    if tag != tag_now:
        return None  # stored before the latest write finished, or by another Redis boot
    return codec.decode(payload)
