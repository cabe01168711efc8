"""Dashboard fixtures: the fake Discord (a real HTTP server), the app over the savepoint ``db``, a client.

The client speaks to the app in-process (httpx's ASGI transport) at
``https://dashboard.test``, so Secure cookies are sent as a browser would;
Discord is the fake on 127.0.0.1, reached over real HTTP. ``clock`` moves the
dashboard's time (session expiry) without waiting.
"""

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fake_discord_oauth import FakeDiscordOAuth, FakeUser
from fastapi import FastAPI
from web_harness import DASHBOARD, KEY, Clock, settings_for

from guildbase import Database
from guildbase.db.encryption import keys_in_use
from guildbase.testing import ids
from guildbase.web import WebSettings, create_app


@pytest.fixture
async def fake_discord() -> AsyncIterator[FakeDiscordOAuth]:
    fake = FakeDiscordOAuth()
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
def web_settings(fake_discord: FakeDiscordOAuth) -> WebSettings:
    return settings_for(fake_discord)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(db: Database, web_settings: WebSettings, clock: Clock) -> Iterator[FastAPI]:
    """The dashboard over the savepoint ``db``, with an encryption key for the OAuth tokens."""
    with keys_in_use([KEY]):
        yield create_app(db, web_settings, clock=clock)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=DASHBOARD) as http:
        yield http


@pytest.fixture
async def admin(db: Database, fake_discord: FakeDiscordOAuth) -> tuple[FakeUser, int]:
    """A user who administers a guild the bot is in (ADMINISTRATOR), and that guild's ID."""
    guild = await db.guilds.join(ids(), name="Admin's guild")
    user = fake_discord.user(ids(), "admin")
    user.member_of(guild.guild_id, name="Admin's guild", permissions=0x8)
    return user, guild.guild_id
