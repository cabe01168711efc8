"""The real service and controller code paths on a 3-node Redis Cluster: no command crosses a slot.

redis-py refuses a command naming keys of two slots before sending it
(``RedisClusterException``, which no service swallows), and the server
answers ``CROSSSLOT`` to anything else; the services would hide a Redis error
behind PostgreSQL, so the test also requires that no Redis failure was logged
and that Redis (not the fallback) answered. Every key left behind is then
checked to sit in its guild's (or user's) slot. The static half of the proof
(every key builder, no MULTI/EXEC) is ``tests/services/test_cluster_slots.py``.
"""

import asyncio
import logging
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest
from redis.crc import key_slot
from redis.exceptions import ClusterDownError, ConnectionError  # noqa: A004 - redis-py's own class

from guildbase import ConfigurationError, Database, Settings
from guildbase.services.epoch import EpochWatch
from guildbase.services.keys import guild_key
from guildbase.services.redis import create_redis, is_cluster
from guildbase.testing import ids, shifted_now

if TYPE_CHECKING:
    from redis_cluster import RedisClusterServer

BLOCK = ids.block()
GUILD, USER, OTHER_USER, MOD = BLOCK + 1, BLOCK + 2, BLOCK + 3, BLOCK + 4


def _slot(key: str) -> int:
    return key_slot(key.encode())


def _guild_slot(guild_id: int) -> int:
    return _slot(f"{{g:{guild_id}}}")


async def test_the_service_layer_runs_on_the_cluster_without_a_cross_slot_command(
    cluster_db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    db = cluster_db
    caplog.set_level(logging.WARNING)
    now = shifted_now()
    others = [BLOCK + 10 + n for n in range(6)]
    for guild_id in (GUILD, *others):
        await db.guilds.join(guild_id)
    for n, guild_id in enumerate((GUILD, *others)):  # many guilds' reads in one batch: one MGET per slot
        await db.guild_config.update(guild_id, prefix=f"?{n}")
    configs = await asyncio.gather(*(db.guild_config.get(guild_id) for guild_id in (GUILD, *others)))
    assert [config.prefix for config in configs] == [f"?{n}" for n in range(len(configs))]
    await db.guild_config.set_feature(GUILD, "levels", enabled=True)
    for offset, user_id in enumerate((USER, OTHER_USER, MOD)):
        await db.levels.set_xp(GUILD, user_id, 100 * (offset + 1))
    board = await db.leaderboards.top(GUILD, 10, now=now)
    assert (board.source, [entry.user_id for entry in board.entries]) == ("redis", [MOD, OTHER_USER, USER])
    top, mine = await db.leaderboards.top_with_rank(GUILD, USER, 10, now=now)
    assert top.source == "redis"
    assert mine is not None
    assert mine.rank == 3
    assert await db.leaderboards.rebuild(GUILD, now=now) == 3
    await db.leaderboards.invalidate(GUILD, now=now)  # DEL of every board and marker: one slot
    rebuilt = await db.leaderboards.top(GUILD, 10, now=now + timedelta(seconds=1))
    assert (rebuilt.source, rebuilt.entries[0].user_id) == ("redis", MOD)
    session = await db.web_sessions.create(USER, {"guilds": [GUILD]})
    assert session.session_id is not None
    assert (await db.web_sessions.get(session.session_id)) is not None
    for _ in range(3):
        assert (await db.ratelimits.hit_guild(GUILD, "10/minute")).allowed
        assert (await db.ratelimits.hit_user(USER, "10/minute")).allowed
        assert (await db.ratelimits.hit_command(GUILD, USER, "rank", "10/minute")).allowed
    keys = [str(key) async for key in db.redis.scan_iter(match="*")]
    for key in keys:
        if f"{{g:{GUILD}}}" in key:
            assert _slot(key) == _guild_slot(GUILD), key
        if f"{{u:{USER}}}" in key:
            assert _slot(key) == _slot(f"{{u:{USER}}}"), key
    assert any(key.startswith("gb:rl:") and f"{{g:{GUILD}}}" in key for key in keys)
    erased = await db.privacy.erase(OTHER_USER, requested_by=MOD)  # SCAN of every node, DEL across slots
    assert erased.counts["redis"]["leaderboard_entries"] >= 1
    assert await db.web_sessions.revoke_all(USER) == 1
    assert not [r for r in caplog.records if r.name.startswith("guildbase") and "Redis" in r.getMessage()]


async def test_the_epoch_digests_every_primary_and_changes_when_any_node_restarts(
    redis_cluster: "RedisClusterServer", redis_cluster_url: str
) -> None:
    clients = [create_redis(redis_cluster_url) for _ in range(2)]
    watches = [EpochWatch(client) for client in clients]
    for watch in watches:
        watch.install()
    try:
        before = [await watch.epoch() for watch in watches]
        assert before[0] == before[1]  # every process derives the same epoch, without coordinating
        await clients[0].set(guild_key(GUILD, "probe"), "1")
        assert watches[0].changes == 0  # new connections to the same boots change nothing
        node = clients[0].get_node_from_key(guild_key(GUILD, "probe"))
        assert node is not None
        redis_cluster.restart_node(node.port)
        for _ in range(50):  # the first command after the restart reconnects, and reads the new run_id
            try:
                assert await clients[0].get(guild_key(GUILD, "probe")) is None  # restarted empty
                break
            except (ConnectionError, ClusterDownError, OSError):
                await asyncio.sleep(0.1)
        assert watches[0].changes == 1
        assert watches[0].current not in {None, before[0]}
        fresh = create_redis(redis_cluster_url)  # another process, started after the restart
        try:
            assert await EpochWatch(fresh).epoch() == watches[0].current
        finally:
            await fresh.aclose()
    finally:
        for client in clients:
            await client.aclose()


async def test_a_cluster_is_named_by_its_url_or_by_the_setting(redis_cluster_url: str) -> None:
    plain = redis_cluster_url.replace("redis+cluster://", "redis://")
    assert Settings(redis_url=redis_cluster_url).redis_url == redis_cluster_url
    said = Settings(redis_url=plain, redis_cluster=True)
    for client in (create_redis(redis_cluster_url), create_redis(said.redis_url, cluster=said.redis_cluster)):
        assert is_cluster(client)
        assert await client.ping()
        await client.aclose()
    single = create_redis(plain)
    assert not is_cluster(single)
    await single.aclose()
    with pytest.raises(ConfigurationError, match=r"GUILDBASE_REDIS_URL: expected .*redis\+cluster://"):
        Settings(redis_url="cluster://127.0.0.1:7000")
