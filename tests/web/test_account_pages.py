"""The permissions page (ranks, rules, the explain tool) and the privacy page (export, erase) in HTML."""

import httpx
from fake_discord_oauth import FakeDiscordOAuth, FakeUser
from web_harness import log_in

from guildbase import Database
from guildbase.testing import ids


async def test_the_permissions_page_shows_ranks_and_rules_and_explains_a_decision(
    client: httpx.AsyncClient, db: Database, fake_discord: FakeDiscordOAuth, admin: tuple[FakeUser, int]
) -> None:
    user, guild_id = admin
    moderators, member = ids(), ids()
    await db.permissions.set_role_rank(guild_id, moderators, 3)
    await db.permissions.register_commands({"ban": "moderation", "kick": "moderation"})
    await db.permissions.set_command_rank(guild_id, "command", "ban", 3)
    rule = await db.permissions.add_rule(guild_id, "member", member, "command", "kick", effect="deny")
    await log_in(client, fake_discord, user)
    url = f"/guilds/{guild_id}/permissions"
    page = await client.get(url)
    assert page.status_code == 200
    assert str(moderators) in page.text
    assert rule.describe() in page.text.replace("&#39;", "'").replace("&#34;", '"')
    assert 'id="answer"' not in page.text
    denied = await client.get(url, params={"user_id": str(member), "command": "kick"})
    assert "Refused" in denied.text
    assert f"rule #{rule.rule_id}" in denied.text
    allowed = await client.get(url, params={"user_id": str(ids()), "command": "ban", "role_ids": str(moderators)})
    assert "<strong>Allowed</strong>" in allowed.text
    bad = await client.get(url, params={"user_id": "12", "command": "ban"})
    assert bad.status_code == 422
    assert "user_id" in bad.text


async def test_the_permissions_page_is_for_admins_only(
    client: httpx.AsyncClient, db: Database, fake_discord: FakeDiscordOAuth, admin: tuple[FakeUser, int]
) -> None:
    _, guild_id = admin
    role = ids()
    await db.permissions.set_role_rank(guild_id, role, 5)
    moderator = fake_discord.user(ids(), "moderator")
    moderator.member_of(guild_id, permissions=0)
    moderator.roles[guild_id] = [role]
    await log_in(client, fake_discord, moderator)
    assert (await client.get(f"/guilds/{guild_id}/permissions")).status_code == 403


async def test_the_privacy_page_links_the_export_and_erases_with_the_phrase_and_csrf(
    client: httpx.AsyncClient, db: Database, fake_discord: FakeDiscordOAuth, admin: tuple[FakeUser, int]
) -> None:
    user, _ = admin
    assert (await client.get("/privacy")).status_code == 303  # not logged in: to the login page
    csrf = await log_in(client, fake_discord, user)
    page = await client.get("/privacy")
    assert page.status_code == 200
    assert 'href="/api/me/export"' in page.text
    assert "erase my data" in page.text
    assert (await client.post("/privacy/erase", data={"confirm": "erase my data"})).status_code == 403
    wrong = await client.post("/privacy/erase", data={"confirm": "yes", "csrf_token": csrf})
    assert wrong.status_code == 422
    assert "confirm" in wrong.text
    assert await db.oauth_tokens.get(user.user_id) is not None
    done = await client.post("/privacy/erase", data={"confirm": "erase my data", "csrf_token": csrf})
    assert done.status_code == 303
    assert await db.oauth_tokens.get(user.user_id) is None
    assert (await client.get("/api/me")).status_code == 401
