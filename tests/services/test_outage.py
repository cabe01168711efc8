"""A real Redis server, started by the test, stopped mid-test and brought back with its old data.

Coming back *with* the data it had (a restart from its dump file) is the
harder case: every key written before the outage is still there, and some of
them are now wrong. The bot must keep working while Redis is away and must not
serve those stale values when it returns.
"""

import asyncio
import shutil
import socket
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from guildbase import Database, Settings
from guildbase.testing import ids, shifted_noon

BLOCK = ids.block()  # this module's IDs: fixed offsets from a clock-derived base
GUILD = BLOCK + 1
CHANNEL = BLOCK + 301
ALICE = BLOCK + 101
BOB = BLOCK + 102
NOW = shifted_noon()
pytestmark = pytest.mark.clock  # run again with the clock a year ahead (.ci/run)
RETRY = 0.3


class RedisServer:
    """A throwaway redis-server on a free loopback port, restartable with its data."""

    def __init__(self, directory: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.directory = directory
        self.process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary is not None
        self.process = await asyncio.create_subprocess_exec(
            binary,
            *("--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"),
            *("--dir", str(self.directory), "--dbfilename", "dump.rdb"),
            stdout=asyncio.subprocess.DEVNULL,
        )
        client = aioredis.Redis.from_url(self.url)
        try:
            for _ in range(100):
                if await self._answers(client):
                    return
                await asyncio.sleep(0.05)
        finally:
            await client.aclose()
        raise AssertionError("redis-server did not start")

    @staticmethod
    async def _answers(client: aioredis.Redis) -> bool:
        try:
            return bool(await client.ping())
        except (aioredis.ConnectionError, OSError):
            return False

    async def stop_keeping_data(self) -> None:
        client = aioredis.Redis.from_url(self.url)
        try:
            await client.shutdown(save=True)
        except aioredis.ConnectionError:
            pass  # the server closes the connection as it exits
        finally:
            await client.aclose()
        assert self.process is not None
        await asyncio.wait_for(self.process.wait(), 10)

    async def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()


@pytest.fixture
async def redis_server(tmp_path: Path) -> AsyncIterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.skip("this machine has no redis-server binary to start a throwaway server with")
    server = RedisServer(tmp_path)
    await server.start()
    yield server
    await server.kill()


async def test_bot_keeps_working_through_a_redis_outage_and_serves_fresh_values_after(
    settings: Settings, redis_server: RedisServer
) -> None:
    db = await Database(
        settings.model_copy(update={"redis_url": redis_server.url, "redis_retry_seconds": RETRY})
    ).connect()
    try:
        await db.guilds.join(GUILD)
        assert (await db.guild_config.get(GUILD)).prefix == "$"  # cached in Redis
        await db.levels.award_message_xp(GUILD, ALICE, CHANNEL, [], NOW, roll=0.99)
        assert [e.user_id for e in (await db.leaderboards.top(GUILD, 5)).entries] == [ALICE]
        assert (await db.ratelimits.hit_user(ALICE, "2/minute")).allowed

        await redis_server.stop_keeping_data()

        await db.guild_config.update(GUILD, prefix="!")
        assert (await db.guild_config.get(GUILD)).prefix == "!"
        for minute in range(1, 4):
            award = await db.levels.award_message_xp(GUILD, BOB, CHANNEL, [], NOW + timedelta(minutes=minute))
            assert award.awarded_xp > 0
        board = await db.leaderboards.top(GUILD, 5)
        assert board.source == "postgres"
        assert [e.user_id for e in board.entries] == [BOB, ALICE]
        limits = [(await db.ratelimits.hit_user(BOB, "2/minute")).allowed for _ in range(3)]
        assert limits == [True, True, False]

        await redis_server.start()  # back, with the pre-outage config and board in its dump
        await asyncio.sleep(RETRY * 2)
        assert (await db.guild_config.get(GUILD)).prefix == "!"
        board = await db.leaderboards.top(GUILD, 5)
        assert board.source == "redis"
        assert [e.user_id for e in board.entries] == [BOB, ALICE]
        assert (await db.ratelimits.hit_user(ALICE, "1/minute")).allowed
        assert await db.health() is not None
    finally:
        await db.guilds.delete(GUILD)
        await db.close()
