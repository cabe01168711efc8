"""Helpers of the dashboard tests: the clock, the settings for the fake Discord, logging in through it."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import httpx
from cryptography.fernet import Fernet
from fake_discord_oauth import BOT_TOKEN, CLIENT_ID, CLIENT_SECRET, FakeDiscordOAuth, FakeUser
from pydantic import SecretStr

from guildbase.db.types import utcnow
from guildbase.web import WebSettings

DASHBOARD = "https://dashboard.test"
KEY = Fernet.generate_key().decode()


@dataclass
class Clock:
    """The dashboard's "now": real time plus whatever a test added."""

    offset: timedelta = field(default_factory=timedelta)

    def __call__(self) -> datetime:
        return utcnow() + self.offset

    def advance(self, **delta: float) -> None:
        self.offset += timedelta(**delta)


def settings_for(fake: FakeDiscordOAuth, *, base: str = DASHBOARD, secure: bool = True) -> WebSettings:
    return WebSettings(
        discord_api_url=f"{fake.base}/api/v10",
        discord_authorize_url=f"{fake.base}/oauth2/authorize",
        client_id=CLIENT_ID,
        client_secret=SecretStr(CLIENT_SECRET),
        redirect_url=f"{base}/callback",
        bot_token=SecretStr(BOT_TOKEN),
        cookie_secure=secure,
        session_idle_seconds=3600,
        session_absolute_seconds=86400,
        guild_cache_seconds=60,
        login_rate_limit="5/minute",
        api_rate_limit="1000/minute",
    )


async def log_in(client: httpx.AsyncClient, fake: FakeDiscordOAuth, user: FakeUser) -> str:
    """Go through /login → the fake's consent → /callback; returns the CSRF token of the new session."""
    fake.next_user = user
    start = await client.get("/login")
    assert start.status_code == 303, start.text
    async with httpx.AsyncClient() as browser:
        consent = await browser.get(start.headers["location"])
    assert consent.status_code == 302, consent.text
    back = urlsplit(consent.headers["location"])
    done = await client.get(f"{back.path}?{back.query}")
    assert done.status_code == 303, done.text
    me = await client.get("/api/me")
    assert me.status_code == 200, me.text
    token: str = me.json()["csrf_token"]
    return token
