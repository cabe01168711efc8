import asyncio
import sys
import textwrap

import pytest
import redis.asyncio as aioredis

from guildbase import ValidationError
from guildbase.services.ratelimit import RateLimiter, parse_limit
from guildbase.services.redis import create_redis

GUILD = 1_100_000_000_000_000_001
USER = 1_100_000_000_000_000_101


@pytest.fixture
def limiter(redis_url: str | None, redis_client: aioredis.Redis) -> RateLimiter:
    return RateLimiter(redis_client if redis_url else None)


async def test_a_budget_allows_exactly_n_hits_then_says_when_to_retry(limiter: RateLimiter) -> None:
    results = [await limiter.hit_command(GUILD, USER, "rank", "3/minute") for _ in range(5)]
    assert [r.allowed for r in results] == [True, True, True, False, False]
    assert results[2].remaining == 0
    assert 0 < results[3].retry_after <= 60
    assert results[0].retry_after == 0


async def test_budgets_are_separate_per_user_guild_and_command(limiter: RateLimiter) -> None:
    assert (await limiter.hit_command(GUILD, USER, "rank", "1/minute")).allowed
    assert not (await limiter.hit_command(GUILD, USER, "rank", "1/minute")).allowed
    assert (await limiter.hit_command(GUILD, USER, "level", "1/minute")).allowed
    assert (await limiter.hit_command(GUILD, USER + 1, "rank", "1/minute")).allowed
    assert (await limiter.hit_command(None, USER, "rank", "1/minute")).allowed
    assert (await limiter.hit_user(USER, "1/minute")).allowed
    assert (await limiter.hit_guild(GUILD, "1/minute")).allowed


async def test_exactly_n_hits_pass_under_50_concurrent_callers_in_2_processes(
    redis_url: str | None, redis_client: aioredis.Redis
) -> None:
    if redis_url is None:
        pytest.skip("cross-process limits need a Redis server; the in-process stand-in is per process")
    script = textwrap.dedent(
        f"""
        import asyncio
        from guildbase.services.ratelimit import RateLimiter
        from guildbase.services.redis import create_redis

        async def main():
            client = create_redis({redis_url!r})
            limiter = RateLimiter(client)
            results = await asyncio.gather(*(limiter.hit_guild({GUILD}, "40/minute") for _ in range(50)))
            print(sum(r.allowed for r in results))
            await client.aclose()

        asyncio.run(main())
        """
    )
    processes = [
        await asyncio.create_subprocess_exec(sys.executable, "-c", script, stdout=asyncio.subprocess.PIPE)
        for _ in range(2)
    ]
    outputs = [await process.communicate() for process in processes]
    allowed = [int(stdout.strip()) for stdout, _ in outputs]
    assert sum(allowed) == 40


async def test_limits_keep_working_in_process_when_redis_is_unreachable() -> None:
    dead = create_redis("redis://127.0.0.1:1/0")
    limiter = RateLimiter(dead)
    results = [await limiter.hit_user(USER, "2/minute") for _ in range(3)]
    assert [r.allowed for r in results] == [True, True, False]
    await dead.aclose()


@pytest.mark.parametrize("bad", ["", "often", "5/fortnight", "-1/minute"])
def test_malformed_limit_names_the_field(bad: str) -> None:
    with pytest.raises(ValidationError) as raised:
        parse_limit(bad)
    assert raised.value.fields == ["limit"]
