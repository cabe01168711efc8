"""Which Redis server boot this process is talking to, so data from another boot is never trusted.

A Redis that restarts from its dump file (or a replica promoted after a
failover) comes back with keys from *before* writes that PostgreSQL has since
committed: cached values that were invalidated after the snapshot, boards
that had members raised or lowered. Nothing in those keys says they are old.

The server's ``run_id`` does: Redis draws a new random one at every start.
The *epoch* is a prefix of it, and every cached value (``services.cache``)
and every leaderboard key (``services.leaderboard``) carries the epoch it was
written in. Values of another epoch are never served; boards of another epoch
are never read (the new epoch's boards are rebuilt from PostgreSQL, the old
ones expire). Every process on the same server boot derives the same epoch
without coordinating, and a fresh process is as safe as a long-running one.

The epoch is read on every new connection (``on_connect``, installed on the
pool by ``Database.connect``), before the connection carries any command, so
the first reply from a restarted server is already judged against the new
epoch. A Redis that refuses ``INFO`` (an ACL) or the in-process stand-in gets
a fixed epoch: restarts are then not detected, and a warning says so.

On a Redis Cluster every primary has its own ``run_id``; the epoch is a
digest of all of them (sorted), so a restart or a failover of any one node
changes it, and every node's connections are
checked the same way (the hook is set on each node and on the template the
client builds newly discovered nodes from).
"""

import asyncio
import hashlib
import logging
from collections.abc import Callable
from typing import Any

from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ResponseError

from guildbase.services.redis import RedisClient

log = logging.getLogger("guildbase.redis")

EPOCH_LENGTH = 12
"""Characters of ``run_id`` (hex) kept: 48 random bits per server start."""
FIXED_EPOCH = "fixed"
"""The epoch of a Redis that cannot tell its boots apart (fakeredis, ``INFO`` refused)."""


class EpochWatch:
    """The current server epoch, checked on every new connection; callbacks run when it changes."""

    def __init__(self, client: RedisClient, *, fixed: bool = False) -> None:
        self.client = client
        self._run_ids: dict[str, str] = {}
        """On a cluster: each node's ``run_id`` (``host:port`` → id), the epoch's ingredients."""
        self.current: str | None = FIXED_EPOCH if fixed else None
        self.changes = 0
        """How many times a different server boot was detected (tests and metrics read it)."""
        self._listeners: list[Callable[[str], None]] = []
        self._asking: asyncio.Future[None] | None = None

    def on_change(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(new_epoch)`` whenever the server turns out to be another boot."""
        self._listeners.append(listener)

    def install(self) -> None:
        """Check the epoch on every connection the client's pool opens from now on."""
        if isinstance(self.client, RedisCluster):
            manager = self.client.nodes_manager
            manager.connection_kwargs["redis_connect_func"] = self.on_connect
            for node in [*manager.startup_nodes.values(), *manager.nodes_cache.values()]:
                node.connection_kwargs["redis_connect_func"] = self.on_connect
            return
        self.client.connection_pool.connection_kwargs["redis_connect_func"] = self.on_connect

    async def epoch(self) -> str:
        """The current epoch, asking the server if no connection has told us yet.

        Concurrent callers share one question (and resume together, so the
        commands they send next still travel in one pipeline).
        """
        if self.current is None:
            if self._asking is None or self._asking.done():
                self._asking = asyncio.ensure_future(self._ask())
            await asyncio.shield(self._asking)
        assert self.current is not None  # noqa: S101 - set by _observe or _cannot_tell
        return self.current

    async def _ask(self) -> None:
        try:
            if isinstance(self.client, RedisCluster):
                await self._ask_cluster(self.client)
                return
            info: dict[str, Any] = await self.client.info("server")
        except ResponseError as error:
            self._cannot_tell(error)
        else:
            self._observe(str(info.get("run_id", "")))

    async def _ask_cluster(self, client: RedisCluster) -> None:
        await client.initialize()
        primaries = client.get_primaries()
        replies: dict[str, Any] = await client.info("server", target_nodes=primaries)
        if "run_id" in replies:  # one primary: redis-py returns its reply, not a mapping by node
            replies = {primaries[0].name: replies}
        # Only the primaries' answers: a startup node named by a hostname is one of them under another name.
        self._run_ids = {name: str(info.get("run_id", "")) for name, info in replies.items()}
        self._observe_cluster()

    async def on_connect(self, connection: AbstractConnection) -> None:
        """redis-py's connect hook: the usual handshake (auth, db), then read the server's ``run_id``."""
        await connection.on_connect()
        if self.current == FIXED_EPOCH:
            return
        await connection.send_command("INFO", "server")
        reply = await connection.read_response()
        if isinstance(reply, ResponseError):
            self._cannot_tell(reply)
            return
        text = reply.decode() if isinstance(reply, bytes) else str(reply)
        for line in text.splitlines():
            if line.startswith("run_id:"):
                run_id = line.partition(":")[2].strip()
                if isinstance(self.client, RedisCluster):
                    self._observe_node(f"{connection.host}:{connection.port}", run_id)  # type: ignore[attr-defined]
                else:
                    self._observe(run_id)
                return
        self._cannot_tell(ResponseError("INFO server has no run_id"))

    def _observe_node(self, name: str, run_id: str) -> None:
        """A cluster node's connection told its ``run_id``: a changed (or new) one is another epoch."""
        previous = self._run_ids.get(name)
        self._run_ids[name] = run_id
        if self.current is not None and previous != run_id:
            self._observe_cluster()  # until asked (``_ask_cluster``), the ids are only collected

    def _observe_cluster(self) -> None:
        if not self._run_ids or not all(self._run_ids.values()):
            self._cannot_tell(ResponseError("INFO server has no run_id"))
            return
        boots = "|".join(sorted(set(self._run_ids.values())))  # a node reached by two names counts once
        self._set(hashlib.sha256(boots.encode()).hexdigest()[:EPOCH_LENGTH])

    def _observe(self, run_id: str) -> None:
        if not run_id:
            self._cannot_tell(ResponseError("INFO server has no run_id"))
            return
        self._set(run_id[:EPOCH_LENGTH])

    def _set(self, epoch: str) -> None:
        previous, self.current = self.current, epoch
        if previous is not None and previous != epoch:
            self.changes += 1
            log.warning(
                "Redis is another server boot (epoch %s, was %s): a restart, a restore from a dump or a failover; "
                "cached values and leaderboards from before are ignored and rebuilt from PostgreSQL",
                epoch,
                previous,
            )
            for listener in self._listeners:
                listener(epoch)

    def _cannot_tell(self, error: BaseException) -> None:
        if self.current != FIXED_EPOCH:
            log.warning(
                "Redis refused INFO (%s): a restart from an older dump cannot be detected; "
                "allow INFO for this user (ACL +info) so stale cache entries are never served",
                error,
            )
        self.current = FIXED_EPOCH
