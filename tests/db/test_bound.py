"""The savepoint-bound test Database refuses to look concurrent (``db.bound``)."""

import asyncio

import pytest

from guildbase import Database
from guildbase.db.bound import BoundConcurrencyError
from guildbase.models.core import GuildRead
from guildbase.testing import SnowflakeFactory, ids


async def test_a_second_task_cannot_open_a_unit_of_work_while_the_first_holds_one(db: Database) -> None:
    holding, release = asyncio.Event(), asyncio.Event()

    async def holder() -> None:
        async with db.session():
            holding.set()
            await release.wait()

    task = asyncio.create_task(holder())
    await holding.wait()
    with pytest.raises(BoundConcurrencyError, match="pooled_db"):
        await db.guilds.join(ids())
    release.set()
    await task
    await db.guilds.join(ids())  # once the first task is done, the next one goes ahead


async def test_a_task_nests_its_own_units_and_sequential_tasks_take_turns(db: Database, guild: GuildRead) -> None:
    async with db.session():
        config = await db.guild_config.get(guild.guild_id)  # the config read opens its own unit inside
    assert config.guild_id == guild.guild_id
    joined = [await asyncio.create_task(db.guilds.join(guild_id)) for guild_id in ids.take(3)]
    assert len({g.guild_id for g in joined}) == 3


async def test_a_pooled_database_runs_tasks_concurrently(pooled_db: Database) -> None:
    guilds = ids.take(16)
    joined = await asyncio.gather(*(pooled_db.guilds.join(guild_id) for guild_id in guilds))
    assert sorted(g.guild_id for g in joined) == sorted(guilds)


def test_the_id_factory_never_repeats_and_blocks_do_not_overlap() -> None:
    factory = SnowflakeFactory(days_ago=30)
    single = factory.take(1000)
    first, second = factory.block(), factory.block()
    assert len(set(single)) == 1000
    assert second - first >= 2**22  # a whole block of offsets between them
    assert not {first, second} & set(single)
    assert all(first + 2**22 <= other or other < first for other in single)
