"""The app as ``guildbase web`` builds it: the lifespan connects the facade it owns and closes it."""

import asyncio

import httpx
import pytest
from fake_discord_oauth import FakeDiscordOAuth
from sqlalchemy.engine import URL
from web_harness import DASHBOARD, settings_for

from guildbase import Database, Settings
from guildbase.errors import NotConnectedError
from guildbase.testing import ids, truncate_all
from guildbase.web import create_app


async def test_the_lifespan_connects_and_closes_a_facade_the_app_owns(
    settings: Settings, database_url: URL, fake_discord: FakeDiscordOAuth
) -> None:
    db = Database(settings)
    app = create_app(db, settings_for(fake_discord), owns_db=True)
    try:
        async with app.router.lifespan_context(app):
            guild = await db.guilds.join(ids())
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url=DASHBOARD) as client:
                answer = await client.get(f"/api/guilds/{guild.guild_id}/config")
            assert answer.status_code == 401
        with pytest.raises(NotConnectedError):
            await db.guilds.get(guild.guild_id)
    finally:
        await asyncio.to_thread(truncate_all, database_url)
