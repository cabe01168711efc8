"""The TCP connection keeps its write deadline without a task per write, and still enforces it."""

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.exceptions import TimeoutError as RedisTimeoutError
from test_outage import RedisServer, redis_server

from guildbase.services.redis import create_redis
from guildbase.services.redis_connection import TimelyConnection

__all__ = ["redis_server"]  # the throwaway server fixture, shared with the outage tests


async def _tasks_created_by(client: aioredis.Redis, writes: int) -> int:
    loop = asyncio.get_running_loop()
    created = 0
    previous = loop.get_task_factory()

    def counting(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any], **options: Any) -> asyncio.Task[Any]:
        nonlocal created
        created += 1
        return asyncio.Task(coro, loop=loop, **options)

    await client.ping()  # connected before counting
    loop.set_task_factory(counting)  # type: ignore[arg-type]
    try:
        for n in range(writes):
            await client.set("gb:test:timely", n)
    finally:
        loop.set_task_factory(previous)
    return created


@pytest.fixture
async def clients(redis_server: RedisServer) -> AsyncIterator[tuple[aioredis.Redis, aioredis.Redis]]:
    """``create_redis``'s client, and redis-py's plain connection with the same ``socket_timeout``."""
    ours = create_redis(redis_server.url)
    plain = aioredis.Redis.from_url(redis_server.url, socket_timeout=5)
    assert isinstance(ours, aioredis.Redis)
    yield ours, plain
    await ours.aclose()
    await plain.aclose()


async def test_writes_create_no_task_while_redis_pys_own_connection_creates_one_each(
    clients: tuple[aioredis.Redis, aioredis.Redis],
) -> None:
    ours, plain = clients
    assert ours.connection_pool.connection_class is TimelyConnection
    assert ours.connection_pool.connection_kwargs["socket_timeout"] == 5  # the deadline is still set
    assert await _tasks_created_by(plain, 50) >= 50  # asyncio.wait_for: a task per write (Python 3.11)
    assert await _tasks_created_by(ours, 50) == 0


async def test_a_write_the_socket_takes_at_once_arms_no_deadline_timer(redis_server: RedisServer) -> None:
    connection = TimelyConnection(host="127.0.0.1", port=redis_server.port, socket_timeout=5)
    await connection.connect()
    loop = asyncio.get_running_loop()
    armed = 0
    arm = loop.call_at

    def counting(when: float, callback: Any, *args: Any, **options: Any) -> asyncio.TimerHandle:
        nonlocal armed
        armed += 1
        return arm(when, callback, *args, **options)

    loop.call_at = counting  # type: ignore[method-assign]
    try:
        for n in range(50):
            await connection.send_command("SET", "gb:test:quiet", n)
    finally:
        del loop.call_at  # the loop's own method again
    assert armed == 0  # the deadline's timer is armed only when a write is left buffered (next test)
    for _ in range(50):
        assert await connection.read_response() == b"OK"
    await connection.disconnect()


async def test_a_write_that_cannot_finish_times_out_and_the_connection_recovers(redis_server: RedisServer) -> None:
    pool = aioredis.BlockingConnectionPool.from_url(
        redis_server.url, connection_class=TimelyConnection, socket_timeout=0.5, max_connections=1
    )
    client = aioredis.Redis.from_pool(pool)
    try:
        await client.ping()
        assert redis_server.process is not None
        os.kill(redis_server.process.pid, signal.SIGSTOP)  # alive but reading nothing: the socket buffers fill
        try:
            with pytest.raises(RedisTimeoutError, match="Timeout writing to socket"):
                await client.set("gb:test:big", "x" * (64 * 1024 * 1024))
            assert not any(connection.is_connected for connection in pool._available_connections)
        finally:
            os.kill(redis_server.process.pid, signal.SIGCONT)
        assert await client.set("gb:test:small", "1") is True  # a fresh connection
        assert await client.get("gb:test:small") == b"1"
    finally:
        await client.aclose()
