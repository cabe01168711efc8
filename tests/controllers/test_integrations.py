"""Integrations (R15.5): feeds validated, fetched conditionally, each item posted once, failures backed off.

Feeds, release lists and webhooks are served by a real local HTTP server
(``feed_server.py``); PostgreSQL and the job queue are real.
"""

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text
from sqlalchemy.engine import URL

from feed_server import FeedServer, atom, rss
from guildbase import Database, Settings, ValidationError
from guildbase.errors import ConflictError
from guildbase.models.integrations import FeedItem, IntegrationRead
from guildbase.testing import ids, shifted_now, truncate_all

BLOCK = ids.block()
GUILD = BLOCK + 1
CHANNEL = BLOCK + 2
CHILD = Path(__file__).resolve().parent / "integration_process.py"
KEY = Fernet.generate_key().decode()

pytestmark = pytest.mark.clock  # back-off is measured from the fetch's "now"


@pytest.fixture
async def feeds() -> AsyncIterator[FeedServer]:
    server = FeedServer()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def fdb(settings: Settings, database_url: URL, feeds: FeedServer) -> AsyncIterator[Database]:
    """A connected facade allowed to reach the loopback server, with GitHub's API pointed at it."""
    changes = {
        "integrations_allow_private_hosts": True,
        "github_api_url": feeds.url + "/gh",
        "encryption_keys": [KEY],  # webhook URLs and tokens are EncryptedText
    }
    database = await Database(settings.model_copy(update=changes)).connect()
    await database.guilds.join(GUILD)
    try:
        yield database
    finally:
        await database.close()
        await asyncio.to_thread(truncate_all, database_url)


class Channel:
    """The bot's side of a channel delivery, recording what it was asked to post."""

    def __init__(self, *, fail: bool = False) -> None:
        self.posted: list[str] = []
        self.fail = fail

    async def __call__(self, _feed: IntegrationRead, item: FeedItem) -> None:
        if self.fail:
            raise RuntimeError("Missing Access")
        self.posted.append(item.item_id)


async def count(db: Database, sql: str) -> int:
    async with db.session() as session:
        return int((await session.execute(text(sql))).scalar_one())


# -- configuration -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"source": "feed", "url": "ftp://example.org/feed", "channel_id": CHANNEL}, "url"),
        ({"source": "feed", "url": "https://example.org/feed"}, "channel_id"),
        ({"source": "feed", "url": "https://example.org/feed", "delivery": "webhook"}, "webhook_url"),
        ({"source": "github_releases", "url": "not a repo", "channel_id": CHANNEL}, "url"),
        (
            {"source": "feed", "url": "https://example.org/f", "channel_id": CHANNEL, "github_token": "t"},
            "github_token",
        ),
        (
            {
                "source": "feed",
                "url": "https://e.org/f",
                "delivery": "discord_webhook",
                "webhook_url": "https://e.org/",
            },
            "webhook_url",
        ),
        (
            {"source": "feed", "url": "https://example.org/f", "channel_id": CHANNEL, "interval_seconds": 5},
            "interval_seconds",
        ),
        ({"source": "feed", "url": "https://example.org/f", "channel_id": CHANNEL, "name": "Has Space"}, "name"),
    ],
)
async def test_a_bad_feed_is_refused_by_field_and_nothing_is_written(
    fdb: Database, fields: dict[str, object], field: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        await fdb.integrations.create(GUILD, **{"name": "news", **fields})
    assert field in {e.field for e in refused.value.errors}
    assert await count(fdb, "SELECT count(*) FROM integration") == 0
    assert await count(fdb, "SELECT count(*) FROM job WHERE kind = 'integration.fetch'") == 0


async def test_create_schedules_its_fetch_and_audits_without_the_secret(fdb: Database, feeds: FeedServer) -> None:
    hook = feeds.url + "/hook/secret-token"
    feed = await fdb.integrations.create(
        GUILD, name="News", source="feed", url=feeds.url + "/news.xml", delivery="webhook", webhook_url=hook
    )
    assert (feed.name, feed.has_webhook_url, feed.delivery.value) == ("news", True, "webhook")
    assert "webhook_url" not in feed.model_dump()
    key = f"integration:{feed.integration_id}"
    jobs = await count(fdb, f"SELECT count(*) FROM job WHERE kind = 'integration.fetch' AND dedupe_key = '{key}'")
    assert jobs == 1
    trail = await fdb.audit.for_entity("integration", feed.integration_id)
    assert [row.action.value for row in trail] == ["integration_create"]
    assert trail[0].after["webhook_url"] == "set"
    assert "secret-token" not in str(trail[0].after)
    async with fdb.session() as session:  # stored encrypted: the table itself never holds the URL
        stored = (await session.execute(text("SELECT webhook_url FROM integration"))).scalar_one()
    assert "secret-token" not in stored
    with pytest.raises(ConflictError):
        await fdb.integrations.create(GUILD, name="news", source="feed", url=feeds.url + "/x", channel_id=CHANNEL)


async def test_remove_deletes_the_feed_its_items_and_its_job(fdb: Database, feeds: FeedServer) -> None:
    url = feeds.serve("/news.xml", rss("News", [("a", "A")]))
    feed = await fdb.integrations.create(GUILD, name="news", source="feed", url=url, channel_id=CHANNEL)
    await fdb.integrations.fetch(GUILD, feed.integration_id, post=Channel())
    assert await fdb.integrations.remove(GUILD, "NEWS")
    assert not await fdb.integrations.remove(GUILD, "news")
    for table in ("integration", "integration_item"):
        assert await count(fdb, f"SELECT count(*) FROM {table}") == 0
    assert await count(fdb, "SELECT count(*) FROM job WHERE kind = 'integration.fetch'") == 0
    trail = await fdb.audit.for_entity("integration", feed.integration_id)
    assert [row.action.value for row in trail] == ["integration_delete", "integration_create"]


# -- fetching --------------------------------------------------------------------------------
async def test_the_first_fetch_posts_nothing_then_only_new_items_are_posted_oldest_first(
    fdb: Database, feeds: FeedServer
) -> None:
    url = feeds.serve("/news.xml", rss("News", [("2", "Second"), ("1", "First")]))
    feed = await fdb.integrations.create(GUILD, name="news", source="feed", url=url, channel_id=CHANNEL)
    channel = Channel()
    first = await fdb.integrations.fetch(GUILD, feed.integration_id, post=channel)
    assert (first.status, first.seen, channel.posted) == ("first_fetch", 2, [])
    feeds.serve("/news.xml", rss("News", [("4", "Fourth"), ("3", "Third"), ("2", "Second"), ("1", "First")]))
    second = await fdb.integrations.fetch(GUILD, feed.integration_id, post=channel)
    assert (second.status, channel.posted) == ("posted", ["3", "4"])
    again = await fdb.integrations.fetch(GUILD, feed.integration_id, post=channel)
    assert (again.status, channel.posted) == ("not_modified", ["3", "4"])
    sent = feeds.requests_to("/news.xml")[-1]
    assert sent["If-None-Match"] == feeds.paths["/news.xml"].etag
    assert "If-Modified-Since" in sent
    stored = await fdb.integrations.get(GUILD, "news")
    assert stored is not None
    assert (stored.last_item_id, stored.failure_count, stored.etag) == ("4", 0, feeds.paths["/news.xml"].etag)


async def test_atom_feeds_are_read_the_same_way(fdb: Database, feeds: FeedServer) -> None:
    url = feeds.serve("/atom.xml", atom("Blog", [("urn:1", "Hello")]))
    feed = await fdb.integrations.create(GUILD, name="blog", source="feed", url=url, channel_id=CHANNEL)
    channel = Channel()
    await fdb.integrations.fetch(GUILD, feed.integration_id, post=channel)
    feeds.serve("/atom.xml", atom("Blog", [("urn:2", "Again"), ("urn:1", "Hello")]))
    outcome = await fdb.integrations.fetch(GUILD, feed.integration_id, post=channel)
    assert [(i.item_id, i.title, i.url) for i in outcome.posted] == [("urn:2", "Again", "https://example.org/urn:2")]


async def test_github_releases_send_the_token_and_skip_drafts(fdb: Database, feeds: FeedServer) -> None:
    path = "/gh/repos/acme/tool/releases"
    releases = [{"id": 11, "name": "v1.1", "html_url": "https://github.com/acme/tool/releases/v1.1", "draft": False}]
    feeds.serve(path, releases)
    feed = await fdb.integrations.create(
        GUILD,
        name="tool",
        source="github_releases",
        url="acme/tool",
        channel_id=CHANNEL,
        github_token="ghp_secret",  # noqa: S106 - a test token for the fake
    )
    channel = Channel()
    await fdb.integrations.fetch(GUILD, feed.integration_id, post=channel)
    assert feeds.requests_to(path)[0]["Authorization"] == "Bearer ghp_secret"
    feeds.serve(path, [{"id": 13, "name": "draft", "draft": True}, {"id": 12, "tag_name": "v1.2"}, *releases])
    outcome = await fdb.integrations.fetch(GUILD, feed.integration_id, post=channel)
    assert [(i.item_id, i.title) for i in outcome.posted] == [("12", "v1.2")]


async def test_a_failing_feed_backs_off_doubling_and_recovers(fdb: Database, feeds: FeedServer) -> None:
    url = feeds.serve("/down.xml", b"", status=503)
    feed = await fdb.integrations.create(
        GUILD, name="down", source="feed", url=url, channel_id=CHANNEL, interval_seconds=600
    )
    now = shifted_now()
    failed = await fdb.integrations.fetch(GUILD, feed.integration_id, post=Channel(), now=now)
    assert failed.status == "failed"
    assert "503" in (failed.error or "")
    state = await fdb.integrations.get(GUILD, "down")
    assert state is not None
    assert state.failure_count == 1
    assert state.retry_after == now + timedelta(seconds=600)
    waiting = await fdb.integrations.fetch(GUILD, feed.integration_id, post=Channel(), now=now + timedelta(seconds=599))
    assert waiting.status == "skipped"
    assert len(feeds.requests_to("/down.xml")) == 1  # nobody asked the server while backing off
    later = now + timedelta(seconds=601)
    await fdb.integrations.fetch(GUILD, feed.integration_id, post=Channel(), now=later)
    state = await fdb.integrations.get(GUILD, "down")
    assert state is not None
    assert (state.failure_count, state.retry_after) == (2, later + timedelta(seconds=1200))
    feeds.serve("/down.xml", rss("Back", [("1", "One")]))
    back = await fdb.integrations.fetch(GUILD, feed.integration_id, post=Channel(), now=later + timedelta(hours=1))
    assert back.status == "first_fetch"
    state = await fdb.integrations.get(GUILD, "down")
    assert state is not None
    assert (state.failure_count, state.retry_after, state.last_error) == (0, None, None)


async def test_an_item_whose_post_fails_is_posted_by_the_next_fetch(fdb: Database, feeds: FeedServer) -> None:
    url = feeds.serve("/news.xml", rss("News", [("1", "One")]))
    feed = await fdb.integrations.create(GUILD, name="news", source="feed", url=url, channel_id=CHANNEL)
    await fdb.integrations.fetch(GUILD, feed.integration_id, post=Channel())
    feeds.serve("/news.xml", rss("News", [("2", "Two"), ("1", "One")]))
    broken = await fdb.integrations.fetch(GUILD, feed.integration_id, post=Channel(fail=True))
    assert broken.status == "failed"
    assert "Missing Access" in (broken.error or "")
    assert await count(fdb, "SELECT count(*) FROM integration_item WHERE item_id = '2'") == 0  # released
    channel = Channel()
    later = shifted_now() + timedelta(days=1)  # past the back-off
    await fdb.integrations.fetch(GUILD, feed.integration_id, post=channel, now=later)
    assert channel.posted == ["2"]


async def test_too_large_or_not_a_feed_fails_with_the_reason(fdb: Database, feeds: FeedServer) -> None:
    big = feeds.serve("/big.xml", b"x" * (fdb.settings.integrations_max_bytes + 1))
    junk = feeds.serve("/junk.xml", b"\x00\x01 no feed here")
    for name, url, reason in (("big", big, "larger than"), ("junk", junk, "not an RSS or Atom feed")):
        feed = await fdb.integrations.create(GUILD, name=name, source="feed", url=url, channel_id=CHANNEL)
        outcome = await fdb.integrations.fetch(GUILD, feed.integration_id, post=Channel())
        assert outcome.status == "failed"
        assert reason in (outcome.error or "")


async def test_private_addresses_are_refused_unless_allowed(
    settings: Settings, fdb: Database, feeds: FeedServer
) -> None:
    url = feeds.serve("/news.xml", rss("News", [("1", "One")]))
    feed = await fdb.integrations.create(GUILD, name="news", source="feed", url=url, channel_id=CHANNEL)
    strict = await Database(settings).connect()  # integrations_allow_private_hosts is off by default
    try:
        outcome = await strict.integrations.fetch(GUILD, feed.integration_id, post=Channel())
    finally:
        await strict.close()
    assert outcome.status == "failed"
    assert "private or local address" in (outcome.error or "")
    assert feeds.requests_to("/news.xml") == []


@pytest.mark.slow
async def test_processes_fetching_one_feed_at_once_post_each_item_once(
    fdb: Database, feeds: FeedServer, settings: Settings
) -> None:
    url = feeds.serve("/news.xml", rss("News", [("1", "One")]))
    hook = "/hook/abc"
    feed = await fdb.integrations.create(
        GUILD, name="news", source="feed", url=url, delivery="webhook", webhook_url=feeds.url + hook
    )
    await fdb.integrations.fetch(GUILD, feed.integration_id)
    feeds.serve("/news.xml", rss("News", [(str(n), f"Item {n}") for n in range(12, 0, -1)]))
    assert settings.database_url is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUILDBASE_")}
    env |= {
        "GUILDBASE_DATABASE_URL": settings.database_url,
        "GUILDBASE_INTEGRATIONS_ALLOW_PRIVATE_HOSTS": "true",
        "GUILDBASE_ENCRYPTION_KEYS": KEY,
    }
    command = [sys.executable, str(CHILD), str(GUILD), str(feed.integration_id)]
    children = [
        subprocess.Popen(command, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # noqa: S603, ASYNC220
        for _ in range(3)
    ]
    try:
        for child in children:
            assert child.stdout is not None
            assert await asyncio.to_thread(child.stdout.readline) == "ready\n"
        for child in children:  # all connected: let them fetch at the same moment
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        outputs = [await asyncio.to_thread(child.communicate, None, 120) for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
    assert all(child.returncode == 0 for child in children), outputs
    posted = sorted(int(body["item"]["item_id"]) for body in feeds.posts_to(hook))
    assert posted == list(range(2, 13))  # every new item exactly once, whichever process posted it
