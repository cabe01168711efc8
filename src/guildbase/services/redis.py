"""The Redis client: a real server when configured, an in-process one otherwise."""

import logging

import redis.asyncio as redis

log = logging.getLogger("guildbase.redis")


def create_redis(url: str | None) -> "redis.Redis":
    """A redis-py asyncio client for ``url``, or fakeredis (in-process) when ``url`` is None.

    fakeredis speaks the same API, so the bot runs unchanged on a first
    demo; it keeps nothing across restarts and is not shared between processes.
    """
    if url:
        return redis.Redis.from_url(url, decode_responses=True, health_check_interval=30)
    import fakeredis  # noqa: PLC0415 - only the embedded default needs it

    log.info("no GUILDBASE_REDIS_URL set: using an in-process Redis (fakeredis); not shared between processes")
    return fakeredis.FakeAsyncRedis(decode_responses=True)
