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
from sqlalchemy import text

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

    async def save(self) -> None:
        """Write the dump file now (what ``--save`` rules or a backup job would do)."""
        client = aioredis.Redis.from_url(self.url)
        try:
            await client.save()
        finally:
            await client.aclose()

    async def kill(self) -> None:
        """SIGKILL: everything written since the last ``save`` is lost; the dump file stays."""
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


GUILDS = [1_100_000_000_000_000_010 + n for n in range(12)]
MEMBERS = [1_100_000_000_000_000_200 + n for n in range(6)]


async def _postgres_board(db: Database, guild_id: int) -> list[tuple[int, int]]:
    async with db.engine.connect() as connection:
        rows = await connection.execute(
            text(
                "SELECT user_id, xp FROM member_level WHERE guild_id = :g AND NOT is_blacklisted "
                "ORDER BY xp DESC, user_id DESC"
            ),
            {"g": guild_id},
        )
        return [(int(uid), int(xp)) for uid, xp in rows]


async def _stale_reads(db: Database, prefixes: dict[int, str], boards: dict[int, list[tuple[int, int]]]) -> list[str]:
    """Every config read and board (both read paths) that disagrees with PostgreSQL."""
    stale = []
    for guild_id in GUILDS:
        # The first read may fill the cache; the second is served from it.
        got = [(await db.guild_config.get(guild_id)).prefix for _ in range(2)]
        stale += [
            f"config {guild_id}: {g!r}, PostgreSQL {prefixes[guild_id]!r}" for g in got if g != prefixes[guild_id]
        ]
        board = await db.leaderboards.top(guild_id, 10)
        if board.source != "redis":
            stale.append(f"board {guild_id} answered by {board.source}, not Redis")
        if (got_board := [(e.user_id, e.xp) for e in board.entries]) != boards[guild_id]:
            stale.append(f"board {guild_id}: {got_board}, PostgreSQL {boards[guild_id]}")
        top, me = await db.leaderboards.top_with_rank(guild_id, MEMBERS[0], 10)
        if [(e.user_id, e.xp) for e in top.entries] != boards[guild_id]:
            stale.append(f"top_with_rank {guild_id}: {top.entries}")
        expected_me = [(i + 1, xp) for i, (uid, xp) in enumerate(boards[guild_id]) if uid == MEMBERS[0]]
        if [(me.rank, me.xp)] != expected_me if me is not None else expected_me:
            stale.append(f"rank {guild_id}: {me}, PostgreSQL {expected_me}")
    return stale


async def test_a_redis_restored_from_an_older_dump_serves_no_stale_config_and_boards_equal_postgres(
    settings: Settings, redis_server: RedisServer
) -> None:
    """Snapshot, then writes the snapshot misses, then SIGKILL and a restart from the dump.

    The restored server holds, for every guild, a cached config whose generation
    matches and a ready board, all older than PostgreSQL. Neither the process
    that lived through it nor a fresh one may serve any of it.
    """
    config = settings.model_copy(update={"redis_url": redis_server.url, "redis_retry_seconds": RETRY})
    db = await Database(config).connect()
    fresh: Database | None = None
    try:
        for guild_id in GUILDS:
            await db.guilds.join(guild_id)
            for minute, user_id in enumerate(MEMBERS):
                await db.levels.award_message_xp(guild_id, user_id, CHANNEL, [], NOW + timedelta(minutes=minute))
            assert (await db.guild_config.get(guild_id)).prefix == "$"
            assert (await db.leaderboards.top(guild_id, 10)).source == "redis"
        await redis_server.save()

        prefixes = {}
        for index, guild_id in enumerate(GUILDS):  # past the snapshot, through the library
            prefixes[guild_id] = f"p{index}"
            await db.guild_config.update(guild_id, prefix=prefixes[guild_id])
            await db.levels.award_message_xp(guild_id, MEMBERS[0], CHANNEL, [], NOW + timedelta(hours=1), roll=0.99)
            await db.levels.set_xp(guild_id, MEMBERS[1], 1)  # lowered: ZADD GT alone would keep the old score
            assert (await db.guild_config.get(guild_id)).prefix == prefixes[guild_id]
        boards = {guild_id: await _postgres_board(db, guild_id) for guild_id in GUILDS}
        assert all(board[0][0] == MEMBERS[0] for board in boards.values())

        await redis_server.kill()
        await redis_server.start()  # from dump.rdb: every key as it was before the writes above
        raw = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
        try:
            assert await raw.dbsize() > 0  # the old data is really back
        finally:
            await raw.aclose()

        fresh = await Database(config).connect()  # a process that never saw the old server
        assert await _stale_reads(fresh, prefixes, boards) == []
        await asyncio.sleep(RETRY * 2)  # the survivor's breaker (if a dead connection tripped it) closes again
        assert await _stale_reads(db, prefixes, boards) == []
        assert db.cache.epochs.changes == 1  # it noticed the new server boot
        assert fresh.cache.epochs.current == db.cache.epochs.current
    finally:
        if fresh is not None:
            await fresh.close()
        for guild_id in GUILDS:
            await db.guilds.delete(guild_id)
        await db.close()


class Load:
    """Tasks that award XP, change configs and read both; counts finished steps and collects errors."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.done = 0
        self.progress = asyncio.Event()
        self.foreign: list[BaseException] = []

    async def reach(self, steps: int) -> None:
        while self.done < steps:
            self.progress.clear()
            await self.progress.wait()

    async def step(self, guild_id: int, user_id: int, step: int, index: int) -> None:
        await self.db.levels.award_message_xp(guild_id, user_id, CHANNEL, [], NOW + timedelta(minutes=step))
        if step % 10 == 0:
            await self.db.guild_config.update(guild_id, prefix=f"w{index}s{step}")
        await self.db.guild_config.get(guild_id)
        await self.db.leaderboards.top(guild_id, 10)

    async def worker(self, index: int) -> None:
        for step in range(60):
            try:
                await self.step(GUILDS[index % 4], MEMBERS[index % 6], step, index)
            except Exception as error:  # noqa: BLE001 - collected and asserted empty
                self.foreign.append(error)
            self.done += 1
            self.progress.set()
            await asyncio.sleep(0)


async def test_redis_killed_mid_load_and_restarted_empty_loses_nothing_and_serves_nothing_stale(
    settings: Settings, redis_server: RedisServer
) -> None:
    """SIGKILL while 8 tasks award XP, change configs and read both; the server comes back with no data."""
    config = settings.model_copy(update={"redis_url": redis_server.url, "redis_retry_seconds": RETRY})
    db = await Database(config).connect()
    load = Load(db)
    try:
        for guild_id in GUILDS[:4]:
            await db.guilds.join(guild_id)

        async def outage() -> None:
            await load.reach(120)
            await redis_server.kill()
            (redis_server.directory / "dump.rdb").unlink(missing_ok=True)
            await load.reach(240)
            await redis_server.start()  # empty

        await asyncio.gather(outage(), *(load.worker(n) for n in range(8)))
        assert load.foreign == []  # Redis trouble never reaches a caller
        await asyncio.sleep(RETRY * 2)  # the breaker closes; Redis answers again
        async with db.engine.connect() as connection:
            rows = await connection.execute(
                text("SELECT guild_id, prefix FROM guild_config WHERE guild_id = ANY(:g)"), {"g": GUILDS[:4]}
            )
            prefixes = {int(g): p for g, p in rows}
        for guild_id in GUILDS[:4]:
            assert (await db.guild_config.get(guild_id)).prefix == prefixes[guild_id]
            board = await db.leaderboards.top(guild_id, 10)
            assert board.source == "redis"
            assert [(e.user_id, e.xp) for e in board.entries] == await _postgres_board(db, guild_id)
    finally:
        for guild_id in GUILDS[:4]:
            await db.guilds.delete(guild_id)
        await db.close()
