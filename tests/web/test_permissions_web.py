"""The permissions page's API: ranks and rules as JSON, and "explain" answering as the bot's check would."""

import httpx
from fake_discord_oauth import FakeDiscordOAuth, FakeUser
from web_harness import log_in

from guildbase import Database
from guildbase.testing import ids


async def test_ranks_rules_and_explain(
    client: httpx.AsyncClient, db: Database, fake_discord: FakeDiscordOAuth, admin: tuple[FakeUser, int]
) -> None:
    user, guild_id = admin
    moderators, member = ids(), ids()
    await db.permissions.set_role_rank(guild_id, moderators, 3)
    await db.permissions.register_commands({"ban": "moderation", "kick": "moderation"})
    await db.permissions.set_command_rank(guild_id, "command", "ban", 3)
    rule = await db.permissions.add_rule(guild_id, "member", member, "command", "kick", effect="deny")
    await log_in(client, fake_discord, user)
    listed = (await client.get(f"/api/guilds/{guild_id}/permissions")).json()
    assert listed["role_ranks"] == {str(moderators): 3}
    assert [r["rule_id"] for r in listed["rules"]] == [rule.rule_id]
    assert listed["rules"][0]["subject_id"] == str(member)
    explain = f"/api/guilds/{guild_id}/permissions/explain"
    denied = (await client.get(explain, params={"user_id": str(member), "command": "kick"})).json()
    assert denied["allowed"] is False
    assert f"rule #{rule.rule_id}" in denied["reason"]
    ranked = await client.get(explain, params={"user_id": str(ids()), "command": "ban", "role_ids": str(moderators)})
    assert ranked.json()["allowed"] is True
    assert "rank 3" in ranked.json()["reason"]
    unranked = (await client.get(explain, params={"user_id": str(ids()), "command": "ban"})).json()
    assert unranked["allowed"] is False
