"""The levels page and API: the leaderboard in XP order, and level rewards added and removed (audited, CSRF)."""

import httpx
from fake_discord_oauth import FakeDiscordOAuth, FakeUser
from web_harness import log_in

from guildbase import Database
from guildbase.db.context import AuditSource
from guildbase.models.audit import AuditAction
from guildbase.testing import ids


async def test_the_leaderboard_ranks_members_by_xp_with_ids_as_strings(
    client: httpx.AsyncClient, db: Database, fake_discord: FakeDiscordOAuth, admin: tuple[FakeUser, int]
) -> None:
    user, guild_id = admin
    low, high, middle = ids(), ids(), ids()
    for member, xp in ((low, 50), (high, 5000), (middle, 700)):
        await db.levels.set_xp(guild_id, member, xp)
    await log_in(client, fake_discord, user)
    board = (await client.get(f"/api/guilds/{guild_id}/levels/leaderboard")).json()
    assert [(entry["rank"], entry["user_id"]) for entry in board] == [(1, str(high)), (2, str(middle)), (3, str(low))]
    assert board[0]["level"] > board[2]["level"]
    assert [e["user_id"] for e in (await client.get(f"/api/guilds/{guild_id}/levels/leaderboard?limit=1")).json()] == [
        str(high)
    ]
    page = await client.get(f"/guilds/{guild_id}/levels")
    assert page.status_code == 200
    assert page.text.index(str(high)) < page.text.index(str(middle)) < page.text.index(str(low))
    await db.guild_config.set_feature(guild_id, "levels", enabled=False)
    off = await client.get(f"/api/guilds/{guild_id}/levels/leaderboard")
    assert off.status_code == 400
    assert "levels" in off.json()["error"]
    assert 'id="levels-off"' in (await client.get(f"/guilds/{guild_id}/levels")).text


async def test_rewards_are_added_refused_when_taken_and_removed_audited_as_the_dashboards(
    client: httpx.AsyncClient, db: Database, fake_discord: FakeDiscordOAuth, admin: tuple[FakeUser, int]
) -> None:
    user, guild_id = admin
    csrf = await log_in(client, fake_discord, user)
    headers = {"X-CSRF-Token": csrf}
    rewards = f"/api/guilds/{guild_id}/levels/rewards"
    role, other = ids(), ids()
    assert (await client.post(rewards, json={"level": 5, "role_id": str(role)})).status_code == 403  # no CSRF
    added = await client.post(rewards, json={"level": 5, "role_id": str(role)}, headers=headers)
    assert added.status_code == 200, added.text
    assert added.json() == {"level": 5, "role_id": str(role)}
    assert [(r.level, r.role_id) for r in await db.levels.level_roles(guild_id)] == [(5, role)]
    taken = await client.post(rewards, json={"level": 10, "role_id": str(role)}, headers=headers)
    assert taken.status_code == 409
    bad = await client.post(rewards, json={"level": 0, "role_id": str(other)}, headers=headers)
    assert bad.status_code == 422
    assert bad.json()["fields"][0]["field"] == "level"
    form = await client.post(
        f"/guilds/{guild_id}/levels/rewards", data={"level": "10", "role_id": str(other), "csrf_token": csrf}
    )
    assert form.status_code == 303
    assert [r["level"] for r in (await client.get(rewards)).json()] == [5, 10]
    assert str(other) in (await client.get(f"/guilds/{guild_id}/levels")).text
    assert (await client.delete(f"{rewards}/5", headers=headers)).status_code == 204
    assert (await client.delete(f"{rewards}/5", headers=headers)).status_code == 404
    removed = await client.post(f"/guilds/{guild_id}/levels/rewards/10/delete", data={"csrf_token": csrf})
    assert removed.status_code == 303
    assert await db.levels.level_roles(guild_id) == []
    audited = [
        row for row in await db.audit.for_guild(guild_id)
        if row.action in {AuditAction.LEVEL_ROLE_SET, AuditAction.LEVEL_ROLE_REMOVE}
    ]  # fmt: skip
    assert len(audited) == 4
    assert {(row.actor_id, row.source) for row in audited} == {(user.user_id, AuditSource.DASHBOARD)}


async def test_a_moderator_by_rank_may_not_see_levels(
    client: httpx.AsyncClient, db: Database, fake_discord: FakeDiscordOAuth, admin: tuple[FakeUser, int]
) -> None:
    _, guild_id = admin
    role = ids()
    await db.permissions.set_role_rank(guild_id, role, 5)
    moderator = fake_discord.user(ids(), "moderator")
    moderator.member_of(guild_id, permissions=0)
    moderator.roles[guild_id] = [role]
    await log_in(client, fake_discord, moderator)
    assert (await client.get(f"/api/guilds/{guild_id}/levels/rewards")).status_code == 403
    assert (await client.get(f"/guilds/{guild_id}/levels")).status_code == 403
    assert (await client.get(f"/api/guilds/{guild_id}/cases")).status_code == 200
