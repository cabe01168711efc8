"""The JSON API (R21.5): snowflakes as strings, structured errors naming the field, audited writes the bot sees."""

import httpx
from fake_discord_oauth import FakeDiscordOAuth, FakeUser
from web_harness import log_in

from guildbase import Database
from guildbase.db.context import AuditSource
from guildbase.models.audit import AuditAction
from guildbase.testing import ids


async def test_a_config_change_is_audited_as_the_dashboards_and_read_back_through_the_cache(
    client: httpx.AsyncClient, db: Database, fake_discord: FakeDiscordOAuth, admin: tuple[FakeUser, int]
) -> None:
    user, guild_id = admin
    csrf = await log_in(client, fake_discord, user)
    assert (await db.guild_config.get(guild_id)).prefix == "$"  # cached now, as the bot would hold it
    channel = ids()
    answer = await client.patch(
        f"/api/guilds/{guild_id}/config",
        json={"prefix": "!", "welcome_channel_id": str(channel), "welcome_message": "Hi {user}"},
        headers={"X-CSRF-Token": csrf},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["guild_id"] == str(guild_id)
    assert body["channels"]["welcome_channel_id"] == str(channel)
    config = await db.guild_config.get(guild_id)
    assert (config.prefix, config.welcome_channel_id, config.welcome_message) == ("!", channel, "Hi {user}")
    rows = [row for row in await db.audit.for_guild(guild_id) if row.action == AuditAction.CONFIG_UPDATE]
    assert len(rows) == 1
    assert (rows[0].actor_id, rows[0].source) == (user.user_id, AuditSource.DASHBOARD)
    assert rows[0].after["prefix"] == "!"


async def test_bad_input_is_a_422_naming_the_field_and_nothing_is_written(
    client: httpx.AsyncClient, db: Database, fake_discord: FakeDiscordOAuth, admin: tuple[FakeUser, int]
) -> None:
    user, guild_id = admin
    csrf = await log_in(client, fake_discord, user)
    headers = {"X-CSRF-Token": csrf}
    too_long = await client.patch(f"/api/guilds/{guild_id}/config", json={"prefix": "x" * 11}, headers=headers)
    assert too_long.status_code == 422
    assert [f["field"] for f in too_long.json()["fields"]] == ["prefix"]
    assert "prefix" in too_long.json()["error"]
    unknown = await client.patch(f"/api/guilds/{guild_id}/config", json={"colour": "red"}, headers=headers)
    assert unknown.status_code == 422
    assert [f["field"] for f in unknown.json()["fields"]] == ["colour"]
    not_an_id = await client.patch(f"/api/guilds/{guild_id}/config", json={"welcome_channel_id": 5}, headers=headers)
    assert not_an_id.status_code == 422
    assert not_an_id.json()["fields"][0]["field"] == "welcome_channel_id"
    feature = await client.put(f"/api/guilds/{guild_id}/features", json={"features": {"nope": True}}, headers=headers)
    assert feature.status_code == 422
    assert feature.json()["fields"][0]["field"] == "feature"
    form = await client.post(f"/guilds/{guild_id}/settings", data={"prefix": "", "csrf_token": csrf})
    assert form.status_code == 422
    assert "prefix" in form.text
    assert (await db.guild_config.get(guild_id)).prefix == "$"


async def test_features_cases_and_the_audit_log_come_back_as_json(
    client: httpx.AsyncClient, db: Database, fake_discord: FakeDiscordOAuth, admin: tuple[FakeUser, int]
) -> None:
    user, guild_id = admin
    target = ids()
    await db.cases.create(guild_id, target, user.user_id, "warn", reason="spam links")
    await db.cases.create(guild_id, ids(), user.user_id, "ban", reason="raid")
    csrf = await log_in(client, fake_discord, user)
    toggled = await client.put(
        f"/api/guilds/{guild_id}/features", json={"features": {"tickets": True}}, headers={"X-CSRF-Token": csrf}
    )
    assert toggled.json()["features"]["tickets"] is True
    assert await db.guild_config.is_enabled(guild_id, "tickets")
    everything = (await client.get(f"/api/guilds/{guild_id}/cases")).json()
    assert [c["reason"] for c in everything] == ["raid", "spam links"]
    assert everything[1]["user_id"] == str(target)
    assert [c["number"] for c in (await client.get(f"/api/guilds/{guild_id}/cases?search=SPAM")).json()] == [1]
    assert [c["type"] for c in (await client.get(f"/api/guilds/{guild_id}/cases?type=ban")).json()] == ["BAN"]
    by_user = (await client.get(f"/api/guilds/{guild_id}/cases", params={"user_id": str(target)})).json()
    assert [c["number"] for c in by_user] == [1]
    audit = (await client.get(f"/api/guilds/{guild_id}/audit")).json()
    assert audit[0]["actor_id"] == str(user.user_id)
    assert audit[0]["source"] == "dashboard"
    overview = (await client.get(f"/api/guilds/{guild_id}/overview?days=7")).json()
    assert [s["name"] for s in overview["series"]] == ["members_joined", "messages", "commands", "errors"]
    assert all(len(s["values"]) == 7 for s in overview["series"])


async def test_a_guild_the_bot_left_is_refused_on_the_next_write(
    client: httpx.AsyncClient, db: Database, fake_discord: FakeDiscordOAuth, admin: tuple[FakeUser, int]
) -> None:
    user, guild_id = admin
    csrf = await log_in(client, fake_discord, user)
    assert (await client.get(f"/api/guilds/{guild_id}/config")).status_code == 200
    await db.guilds.leave(guild_id)
    answer = await client.patch(f"/api/guilds/{guild_id}/config", json={"prefix": "?"}, headers={"X-CSRF-Token": csrf})
    assert answer.status_code == 403
    assert answer.json()["error"] == "the bot is not in this guild"
    assert (await client.get("/api/guilds")).json() == []


async def test_the_pages_render_for_an_admin(
    client: httpx.AsyncClient, db: Database, fake_discord: FakeDiscordOAuth, admin: tuple[FakeUser, int]
) -> None:
    user, guild_id = admin
    await db.cases.create(guild_id, ids(), user.user_id, "warn", reason="page case")
    await log_in(client, fake_discord, user)
    expected = {
        "/": "Admin&#39;s guild",
        f"/guilds/{guild_id}": "<svg",
        f"/guilds/{guild_id}/settings": 'name="prefix" value="$"',
        f"/guilds/{guild_id}/cases": "page case",
        f"/guilds/{guild_id}/audit": "Audit log",
    }
    for path, text in expected.items():
        page = await client.get(path)
        assert page.status_code == 200, path
        assert text in page.text, path
