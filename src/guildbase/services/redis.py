"""The Redis client: a real server or a Redis Cluster when configured, an in-process one otherwise."""

import logging
from typing import Any, TypeAlias

import redis.asyncio as redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError, TimeoutError  # noqa: A004 - redis-py's own classes
from redis.maint_notifications import MaintNotificationsConfig

from guildbase.services.redis_connection import TimelyConnection
from guildbase.services.redis_pool import PromptConnectionPool

log = logging.getLogger("guildbase.redis")
MAX_CONNECTIONS = 100
__all__ = [
    "RedisClient",
    "RedisCluster",
    "client_db",
    "create_redis",
    "is_cluster",
    "is_cluster_url",
    "is_in_process",
]
CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}
"""URL schemes that name a node of a Redis Cluster → the scheme redis-py's cluster client reads."""

RedisClient: TypeAlias = redis.Redis | RedisCluster
"""What every service takes: one server (or fakeredis) or a Redis Cluster; the same commands on both."""


def is_cluster_url(url: str | None) -> bool:
    """Whether ``url`` says the target is a Redis Cluster (``redis+cluster://host:port``)."""
    return url is not None and url.partition("://")[0] in CLUSTER_SCHEMES


def is_cluster(client: RedisClient) -> bool:
    """Whether ``client`` talks to a Redis Cluster (commands must then stay within one slot each)."""
    return isinstance(client, RedisCluster)


def is_in_process(client: RedisClient) -> bool:
    """Whether ``client`` is the in-process stand-in (fakeredis), which keeps data but runs no Lua scripts."""
    return type(client).__module__.startswith("fakeredis")


def client_db(client: RedisClient) -> int:
    """The Redis db number the client uses (always 0 on a cluster, which has only db 0)."""
    if isinstance(client, RedisCluster):
        return 0
    return int(client.connection_pool.connection_kwargs.get("db", 0) or 0)


def create_redis(url: str | None, *, cluster: bool = False) -> RedisClient:
    """A redis-py asyncio client for ``url``, or fakeredis (in-process) when ``url`` is None.

    ``cluster`` (or a ``redis+cluster://`` URL) gives a ``RedisCluster`` that
    discovers every node from the one named and routes each command to the
    node owning its keys' slot. fakeredis speaks the same API, so the bot runs
    unchanged on a first demo; it keeps nothing across restarts and is not
    shared between processes.
    """
    if url:
        # Pooled connections die when the server restarts; one quick retry on a
        # fresh connection hides that, and the timeouts keep a dead server from
        # stalling a command for longer than the circuit breaker needs to notice.
        options: dict[str, Any] = {
            "decode_responses": True,
            "health_check_interval": 30,
            "socket_connect_timeout": 2,
            "socket_timeout": 5,
        }
        if cluster or is_cluster_url(url):
            scheme, _, rest = url.partition("://")
            return RedisCluster.from_url(
                f"{CLUSTER_SCHEMES.get(scheme, scheme)}://{rest}",
                max_connections=MAX_CONNECTIONS,
                retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), retries=2),
                # Maintenance notifications are a Redis Enterprise/Cloud feature; against open-source
                # Redis the handshake for them fails connections opened concurrently ("closed by server").
                maint_notifications_config=MaintNotificationsConfig(enabled=False),
                **options,
            )
        # A blocking pool: redis-py's default pool raises "Too many connections" past
        # 100 concurrent commands, which would trip the circuit breaker under a burst
        # of messages; waiting briefly for a free connection is what a bot wants.
        if url.partition("://")[0] == "redis":  # plain TCP: writes keep their deadline without a task each
            options["connection_class"] = TimelyConnection
        pool = PromptConnectionPool.from_url(
            url,
            max_connections=MAX_CONNECTIONS,
            timeout=5,
            retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), retries=2),
            retry_on_error=[ConnectionError, TimeoutError],
            **options,
        )
        return redis.Redis.from_pool(pool)
    import fakeredis  # noqa: PLC0415 - only the embedded default needs it

    log.info("no GUILDBASE_REDIS_URL set: using an in-process Redis (fakeredis); not shared between processes")
    return fakeredis.FakeAsyncRedis(decode_responses=True)
