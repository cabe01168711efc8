"""Notes on the moderation page: listed per member, added and edited (audited), by admins and by moderators
whose rank reaches the dashboard's moderator rank."""

import httpx
from fake_discord_oauth import FakeDiscordOAuth, FakeUser
from web_harness import log_in

from guildbase import Database
from guildbase.db.context import AuditSource
from guildbase.models.audit import AuditAction
from guildbase.testing import ids


async def test_notes_are_listed_added_and_edited_through_the_api(
    client: httpx.AsyncClient, db: Database, fake_discord: FakeDiscordOAuth, admin: tuple[FakeUser, int]
) -> None:
    user, guild_id = admin
    member = ids()
    await db.notes.create(guild_id, member, user.user_id, "first warning given verbally")
    csrf = await log_in(client, fake_discord, user)
    headers = {"X-CSRF-Token": csrf}
    url = f"/api/guilds/{guild_id}/notes"
    assert (await client.post(url, json={"user_id": str(member), "content": "x"})).status_code == 403
    added = await client.post(url, json={"user_id": str(member), "content": "asked to calm down"}, headers=headers)
    assert added.status_code == 201, added.text
    assert added.json()["moderator_id"] == str(user.user_id)
    empty = await client.post(url, json={"user_id": str(member), "content": ""}, headers=headers)
    assert empty.status_code == 422
    assert empty.json()["fields"][0]["field"] == "content"
    listed = (await client.get(url, params={"user_id": str(member)})).json()
    assert [n["content"] for n in listed] == ["asked to calm down", "first warning given verbally"]
    number = added.json()["number"]
    edited = await client.patch(f"{url}/{number}", json={"content": "asked twice to calm down"}, headers=headers)
    assert edited.status_code == 200, edited.text
    note = await db.notes.get(guild_id, number)
    assert note is not None
    assert note.content == "asked twice to calm down"
    assert (await client.patch(f"{url}/{number + 50}", json={"content": "y"}, headers=headers)).status_code == 404
    edits = [row for row in await db.audit.for_guild(guild_id) if row.action == AuditAction.NOTE_EDIT]
    assert [(row.actor_id, row.source) for row in edits] == [(user.user_id, AuditSource.DASHBOARD)]


async def test_a_moderator_by_rank_writes_notes_from_the_moderation_page(
    client: httpx.AsyncClient, db: Database, fake_discord: FakeDiscordOAuth, admin: tuple[FakeUser, int]
) -> None:
    _, guild_id = admin
    role, member = ids(), ids()
    await db.permissions.set_role_rank(guild_id, role, 3)
    moderator = fake_discord.user(ids(), "moderator")
    moderator.member_of(guild_id, permissions=0)
    moderator.roles[guild_id] = [role]
    csrf = await log_in(client, fake_discord, moderator)
    base = f"/guilds/{guild_id}"
    added = await client.post(f"{base}/notes", data={"user_id": str(member), "content": "watch", "csrf_token": csrf})
    assert added.status_code == 303
    assert added.headers["location"] == f"{base}/cases?notes_user={member}"
    [note] = await db.notes.list_for_user(guild_id, member)
    assert (note.moderator_id, note.content) == (moderator.user_id, "watch")
    page = await client.get(f"{base}/cases", params={"notes_user": str(member)})
    assert page.status_code == 200
    assert 'value="watch"' in page.text
    saved = await client.post(f"{base}/notes/{note.number}", data={"content": "watch closely", "csrf_token": csrf})
    assert saved.status_code == 303
    assert [n.content for n in await db.notes.list_for_user(guild_id, member)] == ["watch closely"]
    assert (
        await client.post(f"{base}/notes", data={"user_id": "12", "content": "x", "csrf_token": csrf})
    ).status_code == 422
    moderator.roles[guild_id] = []  # rank taken away: the next write is refused
    refused = await client.post(f"{base}/notes", data={"user_id": str(member), "content": "x", "csrf_token": csrf})
    assert refused.status_code == 403
