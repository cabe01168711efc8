"""Sessions (R21.2): cookie flags, rotation at login (fixation), idle and absolute expiry, sign out everywhere, CSRF."""

import httpx
import pytest
from fake_discord_oauth import FakeDiscordOAuth, FakeUser
from fastapi import FastAPI
from web_harness import DASHBOARD, Clock, log_in, settings_for

from guildbase import Database
from guildbase.errors import ConfigurationError
from guildbase.models.security import SecurityEventKind
from guildbase.web.sessions import SESSION_COOKIE


async def test_the_session_cookie_is_httponly_lax_and_secure(
    client: httpx.AsyncClient, fake_discord: FakeDiscordOAuth, admin: tuple[FakeUser, int]
) -> None:
    user, _ = admin
    fake_discord.next_user = user
    start = await client.get("/login")
    async with httpx.AsyncClient() as browser:
        consent = await browser.get(start.headers["location"])
    back = httpx.URL(consent.headers["location"])
    done = await client.get(f"{back.path}?{back.query.decode()}")
    cookie = next(c for c in done.headers.get_list("set-cookie") if c.startswith(f"{SESSION_COOKIE}="))
    flags = {part.strip().lower() for part in cookie.split(";")}
    assert {"httponly", "secure", "samesite=lax", "path=/"} <= flags


def test_secure_may_be_off_only_on_localhost(fake_discord: FakeDiscordOAuth) -> None:
    assert not settings_for(fake_discord, base="http://localhost:8080", secure=False).cookie_secure
    with pytest.raises(ConfigurationError, match="GUILDBASE_WEB_COOKIE_SECURE"):
        settings_for(fake_discord, base="http://dashboard.example.com", secure=False)


async def test_login_rotates_the_session_id_so_a_planted_one_is_worthless(
    client: httpx.AsyncClient, db: Database, fake_discord: FakeDiscordOAuth, admin: tuple[FakeUser, int]
) -> None:
    user, _ = admin
    await log_in(client, fake_discord, user)
    planted = client.cookies[SESSION_COOKIE]  # an attacker's own session, planted in the victim's browser
    await log_in(client, fake_discord, user)
    fresh = client.cookies[SESSION_COOKIE]
    assert fresh != planted
    assert await db.web_sessions.get(planted) is None
    assert await db.web_sessions.get(fresh) is not None


async def test_an_idle_session_expires_and_is_recorded(
    client: httpx.AsyncClient, db: Database, fake_discord: FakeDiscordOAuth, admin: tuple[FakeUser, int], clock: Clock
) -> None:
    user, guild_id = admin
    await log_in(client, fake_discord, user)
    clock.advance(minutes=50)
    assert (await client.get("/api/me")).status_code == 200  # within the idle hour: pushed forward
    clock.advance(minutes=50)
    assert (await client.get("/api/me")).status_code == 200
    clock.advance(minutes=61)
    answer = await client.get(f"/api/guilds/{guild_id}/config")
    assert answer.status_code == 401
    assert answer.json() == {"status": 401, "error": "session expired (idle)", "fields": []}
    events = await db.security.by_ip("127.0.0.1")
    assert any(
        e.kind == SecurityEventKind.ACCESS_DENIED and e.detail["reason"] == "session expired (idle)" for e in events
    )


async def test_a_busy_session_still_ends_at_its_absolute_lifetime(
    client: httpx.AsyncClient, fake_discord: FakeDiscordOAuth, admin: tuple[FakeUser, int], clock: Clock
) -> None:
    user, _ = admin
    await log_in(client, fake_discord, user)
    for _ in range(24):  # 24 x 59 minutes: never idle for an hour, 1416 minutes in all
        clock.advance(minutes=59)
        assert (await client.get("/api/me")).status_code == 200
    clock.advance(minutes=30)  # 1446 minutes: past the day of absolute lifetime
    answer = await client.get("/api/me")
    assert answer.status_code == 401
    assert answer.json()["error"] == "session expired (absolute lifetime)"


async def test_sign_out_everywhere_ends_every_session_of_the_user(
    app: FastAPI, client: httpx.AsyncClient, db: Database, fake_discord: FakeDiscordOAuth, admin: tuple[FakeUser, int]
) -> None:
    user, _ = admin
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=DASHBOARD) as laptop:
        await log_in(laptop, fake_discord, user)
        csrf = await log_in(client, fake_discord, user)
        assert len(await db.web_sessions.list_for_user(user.user_id)) == 2
        assert (await client.post("/logout/everywhere", data={"csrf_token": csrf})).status_code == 303
        assert (await laptop.get("/api/me")).status_code == 401
    assert await db.web_sessions.list_for_user(user.user_id) == []


async def test_every_state_change_needs_the_sessions_csrf_token(
    client: httpx.AsyncClient, db: Database, fake_discord: FakeDiscordOAuth, admin: tuple[FakeUser, int]
) -> None:
    user, guild_id = admin
    csrf = await log_in(client, fake_discord, user)
    attempts = [
        client.patch(f"/api/guilds/{guild_id}/config", json={"prefix": "!"}),
        client.patch(f"/api/guilds/{guild_id}/config", json={"prefix": "!"}, headers={"X-CSRF-Token": "guess"}),
        client.post(f"/guilds/{guild_id}/settings", data={"prefix": "!"}),
        client.post(f"/guilds/{guild_id}/settings", data={"prefix": "!", "csrf_token": csrf[:-1]}),
        client.post("/logout", data={}),
    ]
    for attempt in attempts:
        answer = await attempt
        assert answer.status_code == 403
        assert "CSRF" in answer.text
    assert (await db.guild_config.get(guild_id)).prefix == "$"
    refused = [
        e for e in await db.security.by_user(user.user_id) if e.detail.get("reason") == "missing or wrong CSRF token"
    ]
    assert len(refused) == len(attempts)
    ok = await client.post(f"/guilds/{guild_id}/settings", data={"prefix": "!", "csrf_token": csrf})
    assert ok.status_code == 303
    assert (await db.guild_config.get(guild_id)).prefix == "!"
