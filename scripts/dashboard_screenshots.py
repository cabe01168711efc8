"""Regenerate the dashboard screenshots in ``docs/images/``: ``python scripts/dashboard_screenshots.py`` (under uv).

Why a script: the pictures in docs/dashboard.md must show the dashboard as it
is now, so they are taken from the real app, not drawn. It creates a scratch
database on the local PostgreSQL (dropped afterwards), seeds one guild with
cases and activity, serves the dashboard with uvicorn, logs in through the
tests' fake Discord (``tests/web/fake_discord_oauth.py``) with Debian's
Chromium driven by Playwright, and saves one PNG per main page.
"""

import asyncio
import socket
import sys
from datetime import timedelta
from pathlib import Path

import uvicorn
from cryptography.fernet import Fernet
from playwright.async_api import async_playwright
from pydantic import SecretStr

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "web"))

from fake_discord_oauth import BOT_TOKEN, CLIENT_ID, CLIENT_SECRET, FakeDiscordOAuth  # noqa: E402

from guildbase import Database, Settings  # noqa: E402
from guildbase.db.types import utcnow  # noqa: E402
from guildbase.testing import LOCAL_REDIS, LOCAL_SERVER, create_database, drop_database  # noqa: E402
from guildbase.web import WebSettings, create_app  # noqa: E402

GUILD = 1_100_000_000_000_000_001
USER = 1_200_000_000_000_000_001
OUT = ROOT / "docs" / "images"
PAGES = {
    "overview": "",
    "settings": "/settings",
    "cases": "/cases",
    "levels": "/levels",
    "content": "/content",
    "tickets": "/tickets",
    "permissions": "/permissions",
    "premium": "/premium",
    "audit": "/audit",
}


async def seed(db: Database) -> None:
    """One guild with a configured prefix, a few cases and two weeks of activity."""
    await db.guilds.join(GUILD, name="Demo guild")
    await db.guild_config.update(GUILD, prefix="!", welcome_message="Welcome, {user}!")
    for number, (kind, reason) in enumerate(
        [("warn", "spam links"), ("kick", "flooding #general"), ("ban", "raid account"), ("warn", "slurs")]
    ):
        await db.cases.create(GUILD, USER + 10 + number, USER, kind, reason=reason)
    today = utcnow()
    rows = [
        (today - timedelta(days=day), GUILD, 1_300_000_000_000_000_001, USER + 20 + count % 5)
        for day in range(14)
        for count in range((day * 7) % 11 + 2)
    ]
    await db.events.write_messages(rows)
    await seed_domains(db)


async def seed_domains(db: Database) -> None:
    """Levels, a reward, a snippet, an autoresponder, a filter and two tickets, for their pages."""
    for rank in range(8):
        await db.levels.set_xp(GUILD, USER + 30 + rank, 9000 // (rank + 1))
    await db.levels.set_level_role(GUILD, 10, 1_400_000_000_000_000_001)
    await db.snippets.create(GUILD, "rules", "Be kind; no spam; English in #general.", author_id=USER)
    await db.autoresponders.create(GUILD, "when is the event", ["Saturday 18:00 UTC, see #events."])
    await db.filters.add_words(GUILD, ["cheapcoins", "free-nitro"], "delete")
    await db.guild_config.set_feature(GUILD, "tickets", enabled=True)
    panel = await db.tickets.create_panel(GUILD, "Support")
    done = await db.tickets.open(GUILD, panel.panel_id, USER + 40, subject="Cannot verify")
    await db.tickets.open(GUILD, panel.panel_id, USER + 41, subject="Appeal my mute")
    await db.tickets.close(GUILD, done.number, reason="verified")
    await db.permissions.set_role_rank(GUILD, 1_400_000_000_000_000_002, 3)
    await db.permissions.register_commands({"ban": "moderation", "kick": "moderation"})
    await db.permissions.set_command_rank(GUILD, "command", "ban", 3)
    await db.permissions.add_rule(GUILD, "member", USER + 12, "command", "kick", effect="deny")


async def main() -> None:
    """Seed, serve, log in, and save the screenshots."""
    url = await asyncio.to_thread(create_database, LOCAL_SERVER, "guildbase_screenshots")
    fake = FakeDiscordOAuth()
    await fake.start()
    key = Fernet.generate_key().decode()
    db = Database(
        Settings(
            database_url=url.render_as_string(hide_password=False),
            redis_url=LOCAL_REDIS.rsplit("/", 1)[0] + "/14",
            encryption_keys=[key],
        )
    )
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{listener.getsockname()[1]}"
    try:
        await db.connect(migrate=True)
        await seed(db)
        user = fake.user(USER, "demo-admin")
        user.member_of(GUILD, name="Demo guild", owner=True)
        web = WebSettings(
            discord_api_url=f"{fake.base}/api/v10",
            discord_authorize_url=f"{fake.base}/oauth2/authorize",
            client_id=CLIENT_ID,
            client_secret=SecretStr(CLIENT_SECRET),
            bot_token=SecretStr(BOT_TOKEN),
            redirect_url=f"{base}/callback",
            cookie_secure=False,
        )
        server = uvicorn.Server(uvicorn.Config(create_app(db, web), log_level="warning", lifespan="off"))
        task = asyncio.create_task(server.serve(sockets=[listener]))
        for _ in range(500):
            if server.started:
                break
            await asyncio.sleep(0.02)
        OUT.mkdir(parents=True, exist_ok=True)
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path="/usr/bin/chromium")
            page = await browser.new_page(viewport={"width": 1100, "height": 720})
            await page.goto(base + "/login")
            await page.wait_for_url(base + "/")
            for name, suffix in PAGES.items():
                await page.goto(f"{base}/guilds/{GUILD}{suffix}")
                await page.screenshot(path=str(OUT / f"dashboard-{name}.png"), full_page=True)
                print(f"wrote docs/images/dashboard-{name}.png")
            await browser.close()
        server.should_exit = True
        await task
    finally:
        await db.close()
        await fake.close()
        listener.close()
        await asyncio.to_thread(drop_database, url)


if __name__ == "__main__":
    asyncio.run(main())
