import asyncio
import math
import sys
import textwrap
import time

import pytest
import redis.asyncio as aioredis
from limits.aio.storage import memory
from limits.aio.storage.redis import redispy

from guildbase import ValidationError
from guildbase.services import ratelimit
from guildbase.services.ratelimit import RateLimiter, parse_limit
from guildbase.services.redis import create_redis
from guildbase.testing import ids

BLOCK = ids.block()  # this module's IDs: fixed offsets from a clock-derived base
GUILD = BLOCK + 1
USER = BLOCK + 101


@pytest.fixture
def limiter(redis_url: str | None, redis_client: aioredis.Redis) -> RateLimiter:
    return RateLimiter(redis_client if redis_url else None)


async def test_a_budget_allows_exactly_n_hits_then_says_when_to_retry(limiter: RateLimiter) -> None:
    results = [await limiter.hit_command(GUILD, USER, "rank", "3/minute") for _ in range(5)]
    assert [r.allowed for r in results] == [True, True, True, False, False]
    assert results[2].remaining == 0
    assert 0 < results[3].retry_after <= 60
    assert results[0].retry_after == 0


class HandClock:
    """The wall clock as the rate limiter sees it (``limits`` stamps each hit with ``time.time()``), moved by hand."""

    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> HandClock:
    """Starts at the last minute boundary of the real clock: where a fixed one-minute window would reset."""
    hand = HandClock(math.floor(time.time() / 60) * 60)
    for module in (redispy, memory, ratelimit):
        monkeypatch.setattr(module, "time", hand)
    return hand


@pytest.mark.parametrize("shared", [True, False], ids=["redis", "in-process"])
async def test_hits_just_before_a_window_edge_still_count_just_after_it(
    clock: HandClock, redis_client: aioredis.Redis, shared: bool
) -> None:
    limiter = RateLimiter(redis_client if shared else None)
    start = clock.now

    async def hits(count: int) -> list[bool]:
        return [(await limiter.hit_user(USER, "3/minute")).allowed for _ in range(count)]

    assert await hits(1) == [True]
    clock.now = start + 59
    assert await hits(2) == [True, True]
    # A fixed window (on the minute, or started by the first hit) has just reset and would
    # allow 3 more; in the sliding window only the hit at +0 has left the last 60 seconds.
    clock.now = start + 61
    assert await hits(1) == [True]
    refused = await limiter.hit_user(USER, "3/minute")
    assert not refused.allowed
    assert refused.retry_after == pytest.approx(58)  # the hits at +59 leave the window at +119
    clock.now = start + 119.5
    assert await hits(3) == [True, True, False]  # +61 is still inside


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
