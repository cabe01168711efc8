"""The pool hands out idle connections without its wait machinery, and still waits, in order, when exhausted."""

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from redis.credentials import UsernamePasswordCredentialProvider
from redis.exceptions import ConnectionError  # noqa: A004 - redis-py's own class
from test_outage import RedisServer, redis_server

from guildbase.services.redis import create_redis
from guildbase.services.redis_pool import PromptConnectionPool

__all__ = ["redis_server"]  # the throwaway server fixture, shared with the outage tests


@pytest.fixture
async def pool(redis_server: RedisServer) -> AsyncIterator[PromptConnectionPool]:
    """Two connections at most; a waiting checkout gives up after 30 s (a loaded CI machine still gets its turn)."""
    made = PromptConnectionPool.from_url(redis_server.url, max_connections=2, timeout=30, decode_responses=True)
    yield made
    await made.aclose()


async def test_create_redis_uses_it_for_one_server(redis_server: RedisServer) -> None:
    client = create_redis(redis_server.url)
    assert isinstance(client, aioredis.Redis)
    assert isinstance(client.connection_pool, PromptConnectionPool)
    assert await client.set("gb:test:prompt", "1") is True
    await client.aclose()


async def test_an_idle_connection_is_handed_out_without_the_pools_condition(
    pool: PromptConnectionPool, redis_server: RedisServer
) -> None:
    connection = await pool.get_connection()
    await pool.release(connection)
    async with pool._condition:  # held: redis-py's own checkout would wait here until its timeout
        again = await asyncio.wait_for(pool.get_connection(), timeout=5)
        assert again is connection  # the idle one, taken directly
        await pool.release(again)
    plain = aioredis.BlockingConnectionPool.from_url(redis_server.url, max_connections=2, timeout=0.2)
    try:
        async with plain._condition:
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(plain.get_connection(), timeout=0.3)  # the behaviour this pool removes
    finally:
        await plain.aclose()


async def test_many_concurrent_commands_never_share_a_connection(pool: PromptConnectionPool) -> None:
    client = aioredis.Redis.from_pool(pool)

    async def own_value(n: int) -> tuple[int, str | None]:
        await client.set(f"gb:test:own:{n}", str(n))
        return n, await client.get(f"gb:test:own:{n}")

    answers = await asyncio.gather(*(own_value(n) for n in range(300)))  # 300 callers on 2 connections
    assert all(value == str(n) for n, value in answers)  # a shared connection would cross the replies
    assert not pool._in_use_connections
    assert len(pool._available_connections) <= 2
    assert pool.waiting == 0


async def test_waiters_are_served_in_their_order_and_a_newcomer_does_not_pass_them(
    pool: PromptConnectionPool,
) -> None:
    held = [await pool.get_connection(), await pool.get_connection()]  # exhausted
    served: list[str] = []

    async def take(name: str) -> None:
        connection = await pool.get_connection()
        served.append(name)
        await asyncio.sleep(0)
        await pool.release(connection)

    first = [asyncio.create_task(take(name)) for name in ("a", "b", "c")]
    for _ in range(10):  # a few loop turns: each reaches the condition's wait in its first steps
        await asyncio.sleep(0)
    assert pool.waiting == 3
    await pool.release(held.pop())  # one free connection, three waiting
    newcomer = asyncio.create_task(take("late"))  # arrives while they wait: must not take the short path
    await asyncio.gather(*first, newcomer)
    assert served == ["a", "b", "c", "late"]
    await pool.release(held.pop())
    assert pool.waiting == 0


async def test_an_exhausted_pool_still_waits_then_gives_up_with_redis_pys_error(pool: PromptConnectionPool) -> None:
    held = [await pool.get_connection(), await pool.get_connection()]
    pool.timeout = 0.2  # the wait redis-py's checkout allows: nothing frees a connection here
    with pytest.raises(ConnectionError, match="No connection available"):
        await pool.get_connection()
    assert pool.waiting == 0
    for connection in held:
        await pool.release(connection)
    connection = await pool.get_connection()  # free again: the short path
    await pool.release(connection)


def test_a_credential_provider_is_refused_rather_than_left_without_re_authentication() -> None:
    provider = UsernamePasswordCredentialProvider("user", "secret")
    with pytest.raises(ValueError, match="credential_provider"):
        PromptConnectionPool(credential_provider=provider)
