"""A real browser (Debian's Chromium, driven by Playwright) against a real server: the must-show of R21.

Login goes through the fake Discord; the prefix is changed in the settings
form; a second facade (what a bot process holds: its own pools, its own
in-process cache, warmed before the change) reads the new prefix; then the
browser opens another guild's page, is refused, and the security event is there.
"""

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import uvicorn
from fake_discord_oauth import FakeDiscordOAuth
from playwright.async_api import Browser, async_playwright
from web_harness import KEY, settings_for

from guildbase import Database, Settings
from guildbase.db.encryption import keys_in_use
from guildbase.models.security import SecurityEventKind
from guildbase.testing import ids
from guildbase.web import create_app

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.slow


@contextlib.asynccontextmanager
async def serving(db: Database, fake: FakeDiscordOAuth) -> AsyncIterator[str]:
    """The dashboard on a real port of 127.0.0.1 (uvicorn in this event loop); yields its base URL."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{listener.getsockname()[1]}"
    app = create_app(db, settings_for(fake, base=base, secure=False))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[listener]))
    for _ in range(500):  # uvicorn sets `started` once it listens; no event to wait on
        if server.started:
            break
        await asyncio.sleep(0.02)
    try:
        yield base
    finally:
        server.should_exit = True
        await task
        listener.close()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    assert await asyncio.to_thread(CHROMIUM.exists), (
        "install Debian's chromium (apt-get install -y chromium; .ci/run does)"
    )
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--headless=new"])
        yield launched
        await launched.close()


async def test_a_browser_logs_in_changes_the_prefix_the_bot_reads_it_and_another_guild_is_refused(
    pooled_db: Database, settings: Settings, fake_discord: FakeDiscordOAuth, browser: Browser
) -> None:
    guild = await pooled_db.guilds.join(ids(), name="Browser guild")
    other = await pooled_db.guilds.join(ids(), name="Not yours")
    user = fake_discord.user(ids(), "browser-admin")
    user.member_of(guild.guild_id, name="Browser guild", permissions=0x20)
    user.member_of(other.guild_id, name="Not yours", permissions=0)
    bot = await Database(settings).connect()  # the bot's own facade
    try:
        assert (await bot.guild_config.get(guild.guild_id)).prefix == "$"  # warm the bot's caches
        with keys_in_use([KEY]):
            async with serving(pooled_db, fake_discord) as base:
                page = await browser.new_page()
                await page.goto(base + "/")
                await page.click("#login")
                await page.wait_for_url(base + "/")
                await page.click(".guild-link")
                await page.click("text=Settings")
                await page.fill("#prefix", "!")
                await page.click("#save")
                await page.wait_for_url(f"{base}/guilds/{guild.guild_id}/settings")
                assert await page.input_value("#prefix") == "!"
                seen = await bot.guild_config.get(guild.guild_id)
                for _ in range(100):  # the invalidation message reaches the bot's process-local cache
                    if seen.prefix == "!":
                        break
                    await asyncio.sleep(0.05)
                    seen = await bot.guild_config.get(guild.guild_id)
                assert seen.prefix == "!"
                refused = await page.goto(f"{base}/guilds/{other.guild_id}/settings")
                assert refused is not None
                assert refused.status == 403
                assert "403" in await page.inner_text("#error")
    finally:
        await bot.close()
    events = await pooled_db.security.by_guild(other.guild_id)
    assert [(e.kind, e.user_id, e.ip) for e in events] == [
        (SecurityEventKind.DASHBOARD_PERMISSION_DENIED, user.user_id, "127.0.0.1")
    ]
    audit = await pooled_db.audit.for_guild(guild.guild_id)
    assert any(row.after.get("prefix") == "!" and row.actor_id == user.user_id for row in audit)
