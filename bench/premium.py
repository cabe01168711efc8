"""W14: the premium check on the command path, a cache hit (``db.premium.benefits(guild_id, user_id)``).

One operation is one benefits check of a (guild, member) pair among the hot
set, every one already cached in the process, as a command's gate asks it.
Variants, interleaved:

- ``guildbase_hit``: ``db.premium.benefits`` on cached pairs, one task (the
  per-call latency, not a queue), measured p99 against the 20 µs target;
- ``limit``: the floor, an ``async`` lookup of a precomputed value in a dict;
- ``guildbase_miss``: the same call with the local cache and Redis emptied
  before each round: the first check of a guild or a user loads its tiers
  from PostgreSQL, later ones in the round find them (only the pair is new).

The checks count what a hit costs beyond Python: PostgreSQL statements (the
run's statement counter, 0 expected) and Redis round trips (connections taken
from the cache's Redis pool during the hit rounds, 0 expected).
"""

from typing import Any

from redis.asyncio.cluster import RedisCluster

from bench.harness import Runner, Variant, environment
from bench.workloads import G0, U0, Scale, summarize
from guildbase import Database
from guildbase.models.premium import Benefits

HOT_GUILDS = 50
HOT_USERS = 20
TARGET_P99_US = 20.0
COUNTED_HITS = 20_000


class PoolCounter:
    """Counts connections checked out of a redis-py pool: one per round trip (pipelines and pub/sub included)."""

    def __init__(self, pool: Any) -> None:
        self.count = 0
        self._pool = pool
        self._get = pool.get_connection

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return await self._get(*args, **kwargs)

        pool.get_connection = counted


async def _seed(db: Database) -> list[tuple[int, int]]:
    """Two tiers, every other hot guild on ``pro``, every third hot user on ``ultra``; the hot pairs."""
    await db.premium.set_tier("pro", name="Pro", rank=10, features=["custom_embeds"], limits={"max_snippets": 100})
    await db.premium.set_tier("ultra", name="Ultra", rank=20, features=["custom_embeds", "ai"])
    for g in range(0, HOT_GUILDS, 2):
        await db.premium.subscribe("guild", G0 + 1 + g, "pro")
    for u in range(0, HOT_USERS, 3):
        await db.premium.subscribe("user", U0 + 1 + u, "ultra")
    return [(G0 + 1 + g, U0 + 1 + u) for g in range(HOT_GUILDS) for u in range(HOT_USERS)]


async def w14(scale: Scale, rounds: int) -> dict[str, Any]:
    async with environment() as env:
        db = env.db
        pairs = await _seed(db)
        floor = {(guild, user): await db.premium.benefits(guild, user) for guild, user in pairs}

        async def check(index: int) -> Benefits:
            guild, user = pairs[index % len(pairs)]
            return await db.premium.benefits(guild, user)

        async def limit(index: int) -> Benefits:
            return floor[pairs[index % len(pairs)]]

        async def cold() -> None:
            db.cache.local.clear()
            await env.redis.flushdb()

        async def rewarm() -> None:  # the miss rounds emptied the caches: the hit rounds start warm again
            for guild, user in pairs:
                await db.premium.benefits(guild, user)

        hits = scale.pick(20_000, 300_000)
        results = await Runner(env, rounds=rounds).compare(
            [
                Variant("guildbase_hit", check, hits, 1, before_round=rewarm),
                Variant("limit", limit, hits, 1),
                Variant("guildbase_miss", check, scale.pick(200, 1000), 1, before_round=cold),
            ]
        )
        await rewarm()
        client = db.cache.client
        if isinstance(client, RedisCluster):
            msg = "the premium benchmark counts one Redis server's pool; run it without a cluster"
            raise TypeError(msg)
        redis_pool = PoolCounter(client.connection_pool)
        env.counter.reset()
        # Within the local entries' lifetime (5 s): past it a check is a refresh from Redis, not a hit.
        same = [await check(i) == floor[pairs[i % len(pairs)]] for i in range(COUNTED_HITS)]
        summary = summarize(results)
        return {
            "variants": summary,
            "checks": {
                "hit_p99_us": round(summary["guildbase_hit"]["p99_ms"] * 1000, 2),
                "hit_p50_us": round(summary["guildbase_hit"]["p50_ms"] * 1000, 2),
                "sql_statements_during_hits": env.counter.count,
                "redis_round_trips_during_hits": redis_pool.count,
                "hits_equal_the_loaded_benefits": all(same),
            },
        }
