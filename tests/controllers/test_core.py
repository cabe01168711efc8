import asyncio

from sqlalchemy import func, select

from guildbase import Database
from guildbase.models.core import Guild, GuildConfig

GUILD = 1_100_000_000_000_000_001
USER = 1_100_000_000_000_000_101
ADMIN = 1_100_000_000_000_000_201


async def test_join_creates_guild_with_default_config(db: Database) -> None:
    guild = await db.guilds.join(GUILD, name="Test")
    assert guild.guild_id == GUILD
    assert guild.left_at is None
    config = await db.guild_config.get(GUILD)
    assert config.prefix == "$"
    assert config.prefixes == ["$"]
    assert config.extra_prefixes == []


async def test_concurrent_joins_of_one_guild_create_exactly_one_guild_and_config(pooled_db: Database) -> None:
    await asyncio.gather(*(pooled_db.guilds.join(GUILD, name=f"n{i}") for i in range(20)))
    async with pooled_db.session() as session:
        guilds = (await session.execute(select(func.count()).select_from(Guild))).scalar_one()
        configs = (await session.execute(select(func.count()).select_from(GuildConfig))).scalar_one()
    assert (guilds, configs) == (1, 1)
