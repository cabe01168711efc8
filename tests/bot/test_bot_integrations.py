"""Feeds from Discord (R15.5): add one, check it, see new items posted to its channel, switch it off, remove it.

The feed is served by a real local HTTP server; the bot runs through
discord.py's dispatch against the fake Discord; rows are read back from PostgreSQL.
"""

import asyncio
from collections.abc import AsyncIterator

import pytest
from harness import Harness
from sqlalchemy.engine import URL

from feed_server import FeedServer, rss
from guildbase import Database, Settings
from guildbase.testing import truncate_all


@pytest.fixture
async def feeds() -> AsyncIterator[FeedServer]:
    server = FeedServer()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture(scope="module")
async def bot_db(settings: Settings, database_url: URL) -> AsyncIterator[Database]:
    """The module's facade, allowed to fetch from the loopback feed server."""
    database = await Database(settings.model_copy(update={"integrations_allow_private_hosts": True})).connect()
    try:
        yield database
    finally:
        await database.close()
        await asyncio.to_thread(truncate_all, database_url)


async def test_a_feed_added_from_discord_posts_its_new_items_to_the_channel(
    harness: Harness, feeds: FeedServer
) -> None:
    world, db = harness, harness.bot.db
    url = feeds.serve("/news.xml", rss("News", [("1", "First post")]))
    await world.say(world.mod, f"$feedadd news {url}")
    assert "Added: **news** feed" in world.last_reply()
    feed = await db.integrations.get(world.guild_id, "news")
    assert feed is not None
    assert feed.channel_id == world.channel_id

    await world.say(world.mod, "$feedcheck news")
    assert "1 items are there now" in world.last_reply()
    feeds.serve("/news.xml", rss("News", [("2", "Second *post*"), ("1", "First post")]))
    await world.say(world.mod, "$feedcheck news")
    assert "1 new item(s) posted" in world.last_reply()
    posts = [text for text in world.fake.texts(world.channel_id) if text.startswith("📰")]
    assert posts == ["📰 **Second \\*post\\***\nhttps://example.org/2"]

    await world.say(world.mod, "$feedswitch news false")
    await world.say(world.mod, "$feedcheck news")
    assert "switched off" in world.last_reply()
    await world.say(world.mod, "$feeds")
    assert "**news** feed" in world.last_reply()
    await world.say(world.mod, "$feedremove news")
    assert await db.integrations.get(world.guild_id, "news") is None


async def test_members_without_manage_server_cannot_touch_feeds(harness: Harness, feeds: FeedServer) -> None:
    url = feeds.serve("/news.xml", rss("News", [("1", "First")]))
    await harness.say(harness.alice, f"$feedadd news {url}")
    assert await harness.bot.db.integrations.list(harness.guild_id) == []
    assert "Manage Server" in harness.last_reply() or "permission" in harness.last_reply().lower()


async def test_a_bad_feed_url_is_refused_with_the_rule(harness: Harness) -> None:
    await harness.say(harness.mod, "$feedadd news ftp://example.org/feed")
    assert "url" in harness.last_reply()
    assert "http or https" in harness.last_reply()
