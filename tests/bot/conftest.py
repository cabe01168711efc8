"""Fixtures for the bot tests: a fake Discord REST server, and a logged-in bot on the real facade."""

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import discord
import pytest
from fake_discord import FakeDiscord, user_payload
from harness import Harness
from sqlalchemy.engine import URL

from guildbase import Database, Settings
from guildbase.bot.bot import GuildbaseBot
from guildbase.bot.settings import BotSettings
from guildbase.testing import truncate_all


@pytest.fixture
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    fake = FakeDiscord(bot_user={}, application_id=0)
    fake.application_id = fake.snowflake()
    fake.bot_user = user_payload(fake.snowflake(), "guildbase", bot=True)
    await fake.start()
    yield fake
    await fake.stop()


def bot_settings(settings: Settings, fake: FakeDiscord, **changes: object) -> BotSettings:
    """The test database's settings plus a bot pointed at the fake (one shard, no job worker)."""
    values = settings.model_dump() | {
        "discord_api_url": fake.url,
        "bot_shard_count": 1,
        "bot_run_jobs": False,
    }
    return BotSettings(**(values | changes))


@asynccontextmanager
async def running_bot(db: Database, settings: Settings, fake: FakeDiscord, **changes: object) -> AsyncIterator[Harness]:
    """A bot on ``db`` logged in against the fake and delivered its guild; closed on exit."""
    original_base = discord.http.Route.BASE
    world = Harness(fake)
    bot = GuildbaseBot(bot_settings(settings, fake, owner_ids=[world.mod.user_id], **changes), db=db)
    listener_errors: list[str] = []

    async def on_error(event: str, *_args: object, **_kwargs: object) -> None:
        listener_errors.append(f"{event}: {sys.exc_info()[1]!r}")

    bot.on_error = on_error  # type: ignore[method-assign]
    try:
        await world.start(bot)
        yield world
        assert listener_errors == [], "a listener raised"
    finally:
        await bot.close()
        discord.http.Route.BASE = original_base


@pytest.fixture(scope="module")
async def bot_db(settings: Settings, database_url: URL) -> AsyncIterator[Database]:
    """One pooled facade for a module's bots (listeners run concurrently, so no savepoint binding).

    Tests stay apart by IDs: every harness makes a new guild, channels and users.
    The tables are emptied when the module ends.
    """
    database = await Database(settings).connect()
    try:
        yield database
    finally:
        await database.close()
        await asyncio.to_thread(truncate_all, database_url)


@pytest.fixture
async def harness(bot_db: Database, settings: Settings, fake_discord: FakeDiscord) -> AsyncIterator[Harness]:
    """A bot logged in against the fake, in a guild of its own."""
    async with running_bot(bot_db, settings, fake_discord) as world:
        yield world
    assert fake_discord.unknown == [], "the bot called routes the fake does not serve"
