"""Who may manage what (R21.3) and denials (R21.4): 401/403 with no data, a security event, rate limits."""

import httpx
from fake_discord_oauth import FakeDiscordOAuth, FakeUser
from web_harness import Clock, log_in

from guildbase import Database
from guildbase.models.security import ApiAction, SecurityEventKind
from guildbase.testing import ids


async def test_another_guilds_page_is_refused_without_data_and_recorded(
    client: httpx.AsyncClient, db: Database, fake_discord: FakeDiscordOAuth, admin: tuple[FakeUser, int]
) -> None:
    user, _ = admin
    other = await db.guilds.join(ids(), name="Someone else's guild")
    await db.guild_config.update(other.guild_id, prefix="secret")
    user.member_of(other.guild_id, name="Someone else's guild", permissions=0x400)  # VIEW_CHANNEL only
    await log_in(client, fake_discord, user)
    for path in (f"/guilds/{other.guild_id}/settings", f"/api/guilds/{other.guild_id}/config"):
        answer = await client.get(path)
        assert answer.status_code == 403
        assert "secret" not in answer.text
    events = await db.security.by_guild(other.guild_id)
    assert len(events) == 2
    assert {e.kind for e in events} == {SecurityEventKind.DASHBOARD_PERMISSION_DENIED}
    assert all(e.user_id == user.user_id and e.ip == "127.0.0.1" for e in events)
    assert {e.detail["path"] for e in events} == {
        f"/guilds/{other.guild_id}/settings",
        f"/api/guilds/{other.guild_id}/config",
    }


async def test_owner_manage_guild_and_administrator_each_grant_access(
    client: httpx.AsyncClient, db: Database, fake_discord: FakeDiscordOAuth
) -> None:
    user = fake_discord.user(ids(), "manager")
    grants = {"owner": (True, 0), "manage_guild": (False, 0x20), "administrator": (False, 0x8), "none": (False, 0x10)}
    guild_of = {}
    for name, (owner, permissions) in grants.items():
        guild_of[name] = (await db.guilds.join(ids(), name=name)).guild_id
        user.member_of(guild_of[name], name=name, owner=owner, permissions=permissions)
    absent = ids()  # an admin there, but the bot is not in it
    user.member_of(absent, name="no bot", permissions=0x8)
    await log_in(client, fake_discord, user)
    listed = {g["name"] for g in (await client.get("/api/guilds")).json()}
    assert listed == {"owner", "manage_guild", "administrator"}
    statuses = {name: (await client.get(f"/api/guilds/{gid}/config")).status_code for name, gid in guild_of.items()}
    assert statuses == {"owner": 200, "manage_guild": 200, "administrator": 200, "none": 403}
    assert (await client.get(f"/api/guilds/{absent}/config")).status_code == 403


async def test_a_write_asks_discord_again_so_a_demoted_admin_is_refused(
    client: httpx.AsyncClient, db: Database, fake_discord: FakeDiscordOAuth, admin: tuple[FakeUser, int]
) -> None:
    user, guild_id = admin
    csrf = await log_in(client, fake_discord, user)
    user.guilds[0]["permissions"] = "0"  # demoted on Discord; the session's copy is still young
    assert (await client.get(f"/api/guilds/{guild_id}/config")).status_code == 200
    answer = await client.patch(f"/api/guilds/{guild_id}/config", json={"prefix": "?"}, headers={"X-CSRF-Token": csrf})
    assert answer.status_code == 403
    assert (await db.guild_config.get(guild_id)).prefix == "$"
    assert (await client.get(f"/api/guilds/{guild_id}/config")).status_code == 403  # the fresh list was kept


async def test_the_guild_list_is_cached_briefly_then_asked_again(
    client: httpx.AsyncClient, fake_discord: FakeDiscordOAuth, admin: tuple[FakeUser, int], clock: Clock
) -> None:
    user, guild_id = admin
    await log_in(client, fake_discord, user)
    asked = fake_discord.requests.count(("GET", "/users/@me/guilds"))
    for _ in range(3):
        assert (await client.get(f"/api/guilds/{guild_id}/config")).status_code == 200
    assert fake_discord.requests.count(("GET", "/users/@me/guilds")) == asked
    clock.advance(seconds=61)
    assert (await client.get(f"/api/guilds/{guild_id}/config")).status_code == 200
    assert fake_discord.requests.count(("GET", "/users/@me/guilds")) == asked + 1


async def test_a_moderator_by_rank_may_edit_cases_but_not_settings(
    client: httpx.AsyncClient, db: Database, fake_discord: FakeDiscordOAuth, admin: tuple[FakeUser, int]
) -> None:
    _, guild_id = admin
    role = ids()
    await db.permissions.set_role_rank(guild_id, role, 3)
    moderator = fake_discord.user(ids(), "moderator")
    moderator.member_of(guild_id, permissions=0)
    moderator.roles[guild_id] = [role]
    case = await db.cases.create(guild_id, ids(), moderator.user_id, "warn", reason="spam")
    csrf = await log_in(client, fake_discord, moderator)
    listed = await client.get(f"/api/guilds/{guild_id}/cases")
    assert [c["reason"] for c in listed.json()] == ["spam"]
    edit = await client.patch(
        f"/api/guilds/{guild_id}/cases/{case.number}", json={"reason": "spam links"}, headers={"X-CSRF-Token": csrf}
    )
    assert edit.status_code == 200, edit.text
    assert edit.json()["reason"] == "spam links"
    assert (await client.get(f"/api/guilds/{guild_id}/config")).status_code == 403
    assert (await client.get(f"/guilds/{guild_id}/settings")).status_code == 403
    moderator.roles[guild_id] = []  # the role taken away: no access to cases either
    assert (await client.get(f"/api/guilds/{guild_id}/cases")).status_code == 403


async def test_api_keys_are_checked_for_guild_and_action_and_refusals_recorded(
    client: httpx.AsyncClient, db: Database, admin: tuple[FakeUser, int]
) -> None:
    _, guild_id = admin
    other = (await db.guilds.join(ids())).guild_id
    created = await db.api_keys.create("reader", guild_ids=[guild_id], actions=[ApiAction.CONFIG_READ])
    bearer = {"Authorization": f"Bearer {created.token.get_secret_value()}"}
    read = await client.get(f"/api/guilds/{guild_id}/config", headers=bearer)
    assert read.status_code == 200
    assert read.json()["guild_id"] == str(guild_id)
    refusals = {
        "action out of scope": client.patch(f"/api/guilds/{guild_id}/config", json={"prefix": "!"}, headers=bearer),
        "guild out of scope": client.get(f"/api/guilds/{other}/config", headers=bearer),
        "malformed": client.get(f"/api/guilds/{guild_id}/config", headers={"Authorization": "Bearer nonsense"}),
    }
    overlong = await client.get(f"/api/guilds/{guild_id}/config", headers={"Authorization": "Bearer " + "g" * 500})
    assert overlong.status_code == 401
    assert overlong.json()["error"] == "API key refused (malformed)"
    for reason, attempt in refusals.items():
        answer = await attempt
        assert answer.status_code == 401
        assert answer.json() == {"status": 401, "error": f"API key refused ({reason})", "fields": []}
    refused = [e for e in await db.security.by_ip("127.0.0.1") if e.kind == SecurityEventKind.API_KEY_REFUSED]
    assert sorted(e.detail["reason"] for e in refused) == sorted(refusals)
    denied = [e for e in await db.security.by_guild(guild_id) if e.kind == SecurityEventKind.ACCESS_DENIED]
    assert [e.detail["reason"] for e in denied] == ["API key refused (malformed)"]
    assert (await db.guild_config.get(guild_id)).prefix == "$"


async def test_login_attempts_are_rate_limited_per_ip(client: httpx.AsyncClient) -> None:
    statuses = [(await client.get("/login")).status_code for _ in range(6)]
    assert statuses == [303] * 5 + [429]
    limited = await client.get("/login")
    assert int(limited.headers["retry-after"]) >= 1


async def test_no_session_means_401_on_the_api_and_a_login_link_on_pages(
    client: httpx.AsyncClient, db: Database, admin: tuple[FakeUser, int]
) -> None:
    _, guild_id = admin
    api = await client.get(f"/api/guilds/{guild_id}/config")
    assert api.status_code == 401
    assert api.json() == {"status": 401, "error": "no session", "fields": []}
    page = await client.get(f"/guilds/{guild_id}/cases")
    assert page.status_code == 401
    assert 'href="/login"' in page.text
    assert len([e for e in await db.security.by_ip("127.0.0.1") if e.kind == SecurityEventKind.ACCESS_DENIED]) == 2
