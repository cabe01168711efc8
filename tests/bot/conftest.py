"""Fixtures for the bot tests: a fake Discord REST server, and a logged-in bot on the real facade."""

import asyncio
from collections.abc import AsyncIterator

import pytest
from fake_discord import FakeDiscord, user_payload
from harness import Harness, running_bot
from sqlalchemy.engine import URL

from guildbase import Database, Settings
from guildbase.testing import truncate_all


@pytest.fixture
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    fake = FakeDiscord(bot_user={}, application_id=0)
    fake.application_id = fake.snowflake()
    fake.bot_user = user_payload(fake.snowflake(), "guildbase", bot=True)
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture(scope="module")
async def bot_db(settings: Settings, database_url: URL) -> AsyncIterator[Database]:
    """One pooled facade per test module (listeners run concurrently, so no savepoint binding).

    Tests stay apart by IDs: every harness makes a new guild, channels and users.
    The tables are emptied and the pool closed when the module ends (module, not package, scope:
    tests/bot is not a package, so a package-scoped pool would stay open for the whole run).
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
