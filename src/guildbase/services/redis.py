"""The Redis client: a real server when configured, an in-process one otherwise."""

import logging

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError, TimeoutError  # noqa: A004 - redis-py's own classes

log = logging.getLogger("guildbase.redis")
MAX_CONNECTIONS = 100


def create_redis(url: str | None) -> "redis.Redis":
    """A redis-py asyncio client for ``url``, or fakeredis (in-process) when ``url`` is None.

    fakeredis speaks the same API, so the bot runs unchanged on a first
    demo; it keeps nothing across restarts and is not shared between processes.
    """
    if url:
        # Pooled connections die when the server restarts; one quick retry on a
        # fresh connection hides that, and the timeouts keep a dead server from
        # stalling a command for longer than the circuit breaker needs to notice.
        # A blocking pool: redis-py's default pool raises "Too many connections" past
        # 100 concurrent commands, which would trip the circuit breaker under a burst
        # of messages; waiting briefly for a free connection is what a bot wants.
        pool = redis.BlockingConnectionPool.from_url(
            url,
            max_connections=MAX_CONNECTIONS,
            timeout=5,
            decode_responses=True,
            health_check_interval=30,
            socket_connect_timeout=2,
            socket_timeout=5,
            retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), retries=2),
            retry_on_error=[ConnectionError, TimeoutError],
        )
        return redis.Redis.from_pool(pool)
    import fakeredis  # noqa: PLC0415 - only the embedded default needs it

    log.info("no GUILDBASE_REDIS_URL set: using an in-process Redis (fakeredis); not shared between processes")
    return fakeredis.FakeAsyncRedis(decode_responses=True)
