"""Discord OAuth2 login (R21.1): state, PKCE S256, encrypted tokens, refresh, logout revoking both."""

import httpx
from fake_discord_oauth import FakeDiscordOAuth, FakeUser
from sqlalchemy import text
from web_harness import Clock, log_in

from guildbase import Database
from guildbase.models.security import SecurityEventKind
from guildbase.web.sessions import SESSION_COOKIE


async def test_login_stores_the_token_encrypted_and_opens_a_session(
    client: httpx.AsyncClient, db: Database, fake_discord: FakeDiscordOAuth, admin: tuple[FakeUser, int]
) -> None:
    user, guild_id = admin
    await log_in(client, fake_discord, user)
    stored = await db.oauth_tokens.get(user.user_id)
    assert stored is not None
    assert stored.scopes == ["guilds", "identify"]
    assert stored.access_token.get_secret_value() in fake_discord.tokens
    async with db.session() as session:
        raw = await session.scalar(text("SELECT access_token FROM oauth_token WHERE user_id = :u"), {"u": user.user_id})
    assert raw is not None
    assert stored.access_token.get_secret_value() not in raw
    guilds = (await client.get("/api/guilds")).json()
    assert guilds == [{"guild_id": str(guild_id), "name": "Admin's guild", "is_admin": True}]
    events = await db.security.by_user(user.user_id)
    assert [event.kind for event in events] == [SecurityEventKind.LOGIN]


async def test_authorize_url_carries_state_and_an_s256_challenge(client: httpx.AsyncClient) -> None:
    start = await client.get("/login")
    query = httpx.URL(start.headers["location"]).params
    assert query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) == 43
    assert len(query["state"]) >= 32
    assert query["scope"] == "identify guilds"


async def test_a_replayed_or_forged_state_is_refused(
    client: httpx.AsyncClient, db: Database, fake_discord: FakeDiscordOAuth, admin: tuple[FakeUser, int]
) -> None:
    user, _ = admin
    fake_discord.next_user = user
    start = await client.get("/login")
    async with httpx.AsyncClient() as browser:
        consent = await browser.get(start.headers["location"])
    callback = httpx.URL(consent.headers["location"])
    forged = await client.get("/callback", params={"code": callback.params["code"], "state": "forged-state"})
    assert forged.status_code == 400
    assert SESSION_COOKIE not in client.cookies
    first = await client.get(f"{callback.path}?{callback.query.decode()}")
    assert first.status_code == 303
    replay = await client.get(f"{callback.path}?{callback.query.decode()}")
    assert replay.status_code == 400
    failures = [e for e in await db.security.by_ip("127.0.0.1") if e.kind == SecurityEventKind.LOGIN_FAILED]
    assert len(failures) == 2


async def test_a_callback_in_another_browser_is_refused(
    client: httpx.AsyncClient, app: object, fake_discord: FakeDiscordOAuth, admin: tuple[FakeUser, int]
) -> None:
    user, _ = admin
    fake_discord.next_user = user
    start = await client.get("/login")
    async with httpx.AsyncClient() as browser:
        consent = await browser.get(start.headers["location"])
    callback = httpx.URL(consent.headers["location"])
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="https://dashboard.test") as other:
        answer = await other.get(f"{callback.path}?{callback.query.decode()}")
    assert answer.status_code == 400
    assert "another browser" in answer.text


async def test_an_expired_access_token_is_refreshed_and_stored_again(
    client: httpx.AsyncClient, db: Database, fake_discord: FakeDiscordOAuth, admin: tuple[FakeUser, int], clock: Clock
) -> None:
    user, guild_id = admin
    fake_discord.expires_in = 120
    await log_in(client, fake_discord, user)
    before = await db.oauth_tokens.get(user.user_id)
    assert before is not None
    clock.advance(seconds=300)  # past the token's expiry and the guild cache, within the session's idle time
    assert (await client.get(f"/api/guilds/{guild_id}/config")).status_code == 200
    assert (
        await client.patch(f"/api/guilds/{guild_id}/config", json={}, headers={"X-CSRF-Token": "x"})
    ).status_code == 403
    csrf = (await client.get("/api/me")).json()["csrf_token"]
    assert (
        await client.patch(f"/api/guilds/{guild_id}/config", json={}, headers={"X-CSRF-Token": csrf})
    ).status_code == 200
    after = await db.oauth_tokens.get(user.user_id)
    assert after is not None
    assert fake_discord.refreshes >= 1
    assert after.access_token.get_secret_value() != before.access_token.get_secret_value()


async def test_logout_revokes_the_token_and_the_session(
    client: httpx.AsyncClient, db: Database, fake_discord: FakeDiscordOAuth, admin: tuple[FakeUser, int]
) -> None:
    user, _ = admin
    csrf = await log_in(client, fake_discord, user)
    token = await db.oauth_tokens.get(user.user_id)
    assert token is not None
    cookie = client.cookies[SESSION_COOKIE]
    answer = await client.post("/logout", data={"csrf_token": csrf})
    assert answer.status_code == 303
    assert fake_discord.revoked == [token.access_token.get_secret_value()]
    assert await db.oauth_tokens.get(user.user_id) is None
    assert await db.web_sessions.get(cookie) is None
    client.cookies.set(SESSION_COOKIE, cookie, domain="dashboard.test")
    assert (await client.get("/api/me")).status_code == 401
