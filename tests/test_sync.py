"""SyncDatabase: the async controllers, blocking, from one source; sync writes reach a running bot's cache."""

import asyncio
import inspect
import os
import sys
import time
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy.engine import URL

from guildbase import Database, NotConnectedError, Settings, SyncDatabase, ValidationError, acting_as
from guildbase.controllers.base import Controller
from guildbase.models.core import Guild, GuildConfig
from guildbase.models.moderation import CaseType
from guildbase.sync import SyncController, sync_methods
from guildbase.testing import ids, truncate_all

BLOCK = ids.block()  # this module's IDs: fixed offsets from a clock-derived base
GUILD = BLOCK + 1
USER = BLOCK + 101
MOD = BLOCK + 201
SEEN_WITHIN = 1.0


@pytest.fixture
def sdb(settings: Settings, database_url: URL) -> Iterator[SyncDatabase]:
    """A connected SyncDatabase on the run's database; every table is emptied afterwards."""
    try:
        with SyncDatabase(settings) as connected:
            yield connected
    finally:
        truncate_all(database_url)


def test_every_controller_method_of_database_is_offered_blocking_with_its_signature(settings: Settings) -> None:
    db, sdb = Database(settings), SyncDatabase(settings)
    controllers = {name: c for name, c in vars(db).items() if isinstance(c, Controller)}
    assert {"guilds", "guild_config", "cases", "notes", "levels", "jobs"} <= set(controllers)
    for name, controller in controllers.items():
        proxy = getattr(sdb, name)
        assert isinstance(proxy, SyncController)
        methods = sync_methods(type(controller))
        assert methods, name
        for method_name, method in methods.items():
            blocking = getattr(proxy, method_name)
            assert not inspect.iscoroutinefunction(blocking)
            assert inspect.signature(blocking) == inspect.signature(getattr(controller, method_name))
            assert blocking.__doc__ == method.__doc__


def test_a_method_added_to_a_controller_appears_on_the_sync_side_with_no_code() -> None:
    from guildbase.sync import _proxy_class  # noqa: PLC0415

    class Polls(Controller):
        async def count(self, guild_id: int) -> int:
            """How many polls."""
            return guild_id % 7

        async def close_in(self, session: object, poll_id: int) -> None:  # composes in a transaction
            """Not for scripts."""

    proxy_class = _proxy_class(Polls)
    assert "count" in vars(proxy_class)
    assert "close_in" not in vars(proxy_class)
    assert sync_methods(Polls).keys() == {"count"}


def test_a_sync_database_used_before_connect_says_how_to_fix_it(settings: Settings) -> None:
    sdb = SyncDatabase(settings)
    with pytest.raises(NotConnectedError, match=r"sdb.connect\(\)"):
        sdb.guilds.join(GUILD)
    with pytest.raises(NotConnectedError), sdb.session():
        pass


def test_sync_guild_join_and_sync_guild_create_both_make_the_guild_config(sdb: SyncDatabase) -> None:
    sdb.guilds.join(GUILD, name="joined")
    assert sdb.guild_config.get(GUILD).prefix == "$"
    with sdb.session() as session:
        Guild.create(session, {"guild_id": GUILD + 1, "name": "created"})
    with sdb.session() as session:
        config = GuildConfig.get(session, GUILD + 1)
        assert config is not None
        assert config.prefix == "$"
    assert sdb.guild_config.get(GUILD + 1).prefix == "$"


def test_a_sync_case_gets_its_number_from_the_guild_counter(sdb: SyncDatabase) -> None:
    sdb.guilds.join(GUILD)
    numbers = [sdb.cases.create(GUILD, USER, MOD, CaseType.WARN).number for _ in range(3)]
    assert numbers == [1, 2, 3]
    with pytest.raises(ValidationError) as raised:
        sdb.cases.create(GUILD, USER, MOD, "NOT_A_TYPE")
    assert raised.value.fields == ["case_type"]
    assert sdb.cases.create(GUILD, USER, MOD, CaseType.KICK).number == 4  # the refused one used no number
    assert sdb.cases.counts(GUILD, USER)[CaseType.WARN] == 3


def test_the_actor_a_script_sets_is_stamped_on_its_sync_writes(sdb: SyncDatabase) -> None:
    sdb.guilds.join(GUILD)
    with acting_as(MOD):
        config = sdb.guild_config.set_prefix(GUILD, "!")
    assert config.updated_by == MOD


SCRIPT = """
import sys
from guildbase import SyncDatabase

with SyncDatabase() as sdb:
    if sys.argv[1] == "controller":
        sdb.guild_config.set_prefix(int(sys.argv[2]), sys.argv[3])
    else:
        from guildbase.models.core import GuildConfig
        with sdb.session() as session:
            GuildConfig.update(session, int(sys.argv[2]), {"prefix": sys.argv[3]})
"""


@pytest.fixture
async def bot(settings: Settings, database_url: URL) -> AsyncIterator[Database]:
    """A bot process's Database: pooled, listening for invalidations, local entries kept far longer than 1 s."""
    if settings.redis_url is None:
        pytest.skip("needs a Redis server shared between processes")
    database = await Database(settings.model_copy(update={"local_cache_ttl_seconds": 600})).connect()
    try:
        yield database
    finally:
        await database.close()
        await asyncio.to_thread(truncate_all, database_url)


async def _run_script(settings: Settings, *args: str) -> None:
    assert settings.database_url is not None
    assert settings.redis_url is not None
    env = os.environ | {"GUILDBASE_DATABASE_URL": settings.database_url, "GUILDBASE_REDIS_URL": settings.redis_url}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", SCRIPT, *args, env=env, stderr=asyncio.subprocess.PIPE
    )
    _, errors = await process.communicate()
    assert process.returncode == 0, errors.decode()[-2000:]


async def _seen_within(bot: Database, prefix: str, seconds: float) -> float:
    """How long until the bot reads ``prefix``; fails once ``seconds`` have passed without it."""
    started = time.monotonic()
    while (await bot.guild_config.get(GUILD)).prefix != prefix:
        assert time.monotonic() - started < seconds, f"the bot still serves its stale prefix after {seconds} s"
        await asyncio.sleep(0.005)
    return time.monotonic() - started


@pytest.mark.slow
@pytest.mark.parametrize("path", ["controller", "model_crud"])
async def test_a_sync_script_changes_a_prefix_and_a_running_bot_sees_it_within_a_second(
    bot: Database, settings: Settings, path: str
) -> None:
    await bot.guilds.join(GUILD)
    first = await bot.guild_config.get(GUILD)
    assert await bot.guild_config.get(GUILD) is first  # served from the bot's local cache
    await _run_script(settings, path, str(GUILD), "!")
    await _seen_within(bot, "!", SEEN_WITHIN)
