"""Privacy on the web: a user exports their own data and erases it (confirmed, CSRF-checked, sessions ended)."""

import json

import httpx
from fake_discord_oauth import FakeDiscordOAuth, FakeUser
from web_harness import log_in

from guildbase import Database
from guildbase.models.privacy import PrivacyRequestKind


async def test_a_user_exports_their_data_as_one_json_document(
    client: httpx.AsyncClient, db: Database, fake_discord: FakeDiscordOAuth, admin: tuple[FakeUser, int]
) -> None:
    user, guild_id = admin
    await db.cases.create(guild_id, user.user_id, user.user_id + 1, "warn", reason="exported reason")
    await log_in(client, fake_discord, user)
    answer = await client.get("/api/me/export")
    assert answer.status_code == 200
    assert str(user.user_id) in answer.headers["content-disposition"]
    document = json.loads(answer.text)
    assert "exported reason" in json.dumps(document)
    assert [r.kind for r in await db.privacy.requests(user.user_id)] == [PrivacyRequestKind.EXPORT]


async def test_erasing_needs_the_phrase_and_csrf_and_then_ends_every_session(
    client: httpx.AsyncClient, db: Database, fake_discord: FakeDiscordOAuth, admin: tuple[FakeUser, int]
) -> None:
    user, _ = admin
    csrf = await log_in(client, fake_discord, user)
    assert (await client.post("/api/me/erase", json={"confirm": "erase my data"})).status_code == 403
    wrong = await client.post("/api/me/erase", json={"confirm": "yes"}, headers={"X-CSRF-Token": csrf})
    assert wrong.status_code == 422
    assert wrong.json()["fields"][0]["field"] == "confirm"
    assert await db.oauth_tokens.get(user.user_id) is not None
    done = await client.post("/api/me/erase", json={"confirm": "erase my data"}, headers={"X-CSRF-Token": csrf})
    assert done.status_code == 200, done.text
    assert done.json()["kind"] == "erase"
    assert await db.oauth_tokens.get(user.user_id) is None
    assert (await client.get("/api/me")).status_code == 401
