"""Snippets, autoresponders and filters on the web: created, edited and deleted through the controllers
(audited, CSRF-checked), refused naming the field, and seen by the bot's next lookup."""

import httpx
from fake_discord_oauth import FakeDiscordOAuth, FakeUser
from web_harness import log_in

from guildbase import Database
from guildbase.db.context import AuditSource
from guildbase.models.audit import AuditAction
from guildbase.testing import ids


async def test_snippets_are_created_edited_and_deleted_and_the_bot_reads_the_change(
    client: httpx.AsyncClient, db: Database, fake_discord: FakeDiscordOAuth, admin: tuple[FakeUser, int]
) -> None:
    user, guild_id = admin
    csrf = await log_in(client, fake_discord, user)
    headers = {"X-CSRF-Token": csrf}
    url = f"/api/guilds/{guild_id}/snippets"
    assert (await client.post(url, json={"name": "rules", "content": "Be kind."})).status_code == 403
    created = await client.post(url, json={"name": "rules", "content": "Be kind."}, headers=headers)
    assert created.status_code == 201, created.text
    assert created.json()["author_id"] == str(user.user_id)
    again = await client.post(url, json={"name": "RULES", "content": "twice"}, headers=headers)
    assert again.status_code == 409
    empty = await client.post(url, json={"name": "faq", "content": ""}, headers=headers)
    assert empty.status_code == 422
    assert empty.json()["fields"][0]["field"] == "content"
    edited = await client.patch(f"{url}/rules", json={"content": "Be kind, always."}, headers=headers)
    assert edited.status_code == 200, edited.text
    bot_view = await db.snippets.get(guild_id, "rules")
    assert bot_view is not None
    assert bot_view.content == "Be kind, always."
    assert [s["name"] for s in (await client.get(url)).json()] == ["rules"]
    assert (await client.delete(f"{url}/rules", headers=headers)).status_code == 204
    assert (await client.delete(f"{url}/rules", headers=headers)).status_code == 404
    assert await db.snippets.get(guild_id, "rules") is None
    actions = {
        row.action for row in await db.audit.for_guild(guild_id)
        if row.source == AuditSource.DASHBOARD and row.actor_id == user.user_id
    }  # fmt: skip
    assert {AuditAction.SNIPPET_CREATE, AuditAction.SNIPPET_EDIT, AuditAction.SNIPPET_DELETE} <= actions


async def test_an_autoresponder_added_on_the_web_answers_the_bot_and_stops_when_turned_off(
    client: httpx.AsyncClient, db: Database, fake_discord: FakeDiscordOAuth, admin: tuple[FakeUser, int]
) -> None:
    user, guild_id = admin
    channel = ids()
    assert await db.autoresponders.respond(guild_id, channel, ids(), "hello there") is None  # compiled and cached
    csrf = await log_in(client, fake_discord, user)
    headers = {"X-CSRF-Token": csrf}
    url = f"/api/guilds/{guild_id}/autoresponders"
    bad = await client.post(
        url, json={"pattern": "(unclosed", "responses": ["x"], "match_type": "regex"}, headers=headers
    )
    assert bad.status_code == 422
    assert bad.json()["fields"][0]["field"] == "pattern"
    created = await client.post(url, json={"pattern": "hello", "responses": ["Hi!"]}, headers=headers)
    assert created.status_code == 201, created.text
    rule_id = created.json()["autoresponder_id"]
    answer = await db.autoresponders.respond(guild_id, channel, ids(), "hello there")
    assert answer is not None
    assert answer.text == "Hi!"
    off = await client.patch(f"{url}/{rule_id}", json={"is_enabled": False, "responses": ["Hey"]}, headers=headers)
    assert off.status_code == 200, off.text
    assert (off.json()["is_enabled"], off.json()["responses"]) == (False, ["Hey"])
    assert await db.autoresponders.respond(guild_id, channel, ids(), "hello there") is None
    assert (
        await client.patch(f"{url}/{rule_id + 1000}", json={"is_enabled": True}, headers=headers)
    ).status_code == 404
    assert (await client.delete(f"{url}/{rule_id}", headers=headers)).status_code == 204
    assert await db.autoresponders.list_for(guild_id) == []


async def test_filters_need_the_field_of_their_kind_and_the_bot_applies_them_at_once(
    client: httpx.AsyncClient, db: Database, fake_discord: FakeDiscordOAuth, admin: tuple[FakeUser, int]
) -> None:
    user, guild_id = admin
    channel = ids()
    assert not (await db.filters.check(guild_id, channel, "buy cheapcoins now")).hits
    csrf = await log_in(client, fake_discord, user)
    headers = {"X-CSRF-Token": csrf}
    url = f"/api/guilds/{guild_id}/filters"
    missing = await client.post(url, json={"kind": "words", "action": "delete"}, headers=headers)
    assert missing.status_code == 422
    assert missing.json()["fields"][0]["field"] == "words"
    no_threshold = await client.post(url, json={"kind": "caps", "action": "log"}, headers=headers)
    assert no_threshold.json()["fields"][0]["field"] == "threshold"
    created = await client.post(
        url, json={"kind": "words", "action": "delete", "words": ["cheapcoins"]}, headers=headers
    )
    assert created.status_code == 201, created.text
    filter_id = created.json()["filter_id"]
    assert (await db.filters.check(guild_id, channel, "buy cheapcoins now")).hits
    warn = await client.patch(f"{url}/{filter_id}", json={"action": "warn"}, headers=headers)
    assert warn.json()["action"] == "warn"
    off = await client.patch(f"{url}/{filter_id}", json={"is_enabled": False}, headers=headers)
    assert off.json()["is_enabled"] is False
    assert not (await db.filters.check(guild_id, channel, "buy cheapcoins now")).hits
    assert (await client.delete(f"{url}/{filter_id}", headers=headers)).status_code == 204
    assert (await client.delete(f"{url}/{filter_id}", headers=headers)).status_code == 404
    audited = [row for row in await db.audit.for_guild(guild_id) if row.action == AuditAction.FILTER_CREATE]
    assert [(row.actor_id, row.source) for row in audited] == [(user.user_id, AuditSource.DASHBOARD)]


async def test_the_content_page_lists_everything_and_its_forms_write(
    client: httpx.AsyncClient, db: Database, fake_discord: FakeDiscordOAuth, admin: tuple[FakeUser, int]
) -> None:
    user, guild_id = admin
    csrf = await log_in(client, fake_discord, user)
    base = f"/guilds/{guild_id}"
    posts = {
        f"{base}/snippets": {"name": "faq", "content": "Read the pins."},
        f"{base}/autoresponders": {"pattern": "ping", "responses": "pong\nPONG", "match_type": "exact"},
        f"{base}/filters": {"kind": "regex", "action": "log", "pattern": "free\\s+nitro"},
    }
    for path, form in posts.items():
        answer = await client.post(path, data={**form, "csrf_token": csrf})
        assert answer.status_code == 303, (path, answer.text)
    [responder] = await db.autoresponders.list_for(guild_id)
    assert responder.responses == ["pong", "PONG"]
    [rule] = await db.filters.list_for(guild_id)
    page = await client.get(f"{base}/content")
    assert page.status_code == 200
    for text in ("Read the pins.", "ping", "free\\s+nitro"):
        assert text in page.text
    edits = {
        f"{base}/snippets/faq": {"content": "Read the pins, please."},
        f"{base}/autoresponders/{responder.autoresponder_id}": {"enabled": "off"},
        f"{base}/filters/{rule.filter_id}": {"enabled": "off"},
    }
    for path, form in edits.items():
        assert (await client.post(path, data={**form, "csrf_token": csrf})).status_code == 303, path
    snippet = await db.snippets.get(guild_id, "faq")
    assert snippet is not None
    assert snippet.content == "Read the pins, please."
    assert not (await db.autoresponders.list_for(guild_id))[0].is_enabled
    assert not (await db.filters.list_for(guild_id))[0].is_enabled
    missing = await client.post(f"{base}/filters", data={"kind": "mentions", "action": "warn", "csrf_token": csrf})
    assert missing.status_code == 422
    assert "threshold" in missing.text
    assert (await client.post(f"{base}/snippets/faq/delete", data={})).status_code == 403  # no CSRF token
    for path in (
        f"{base}/snippets/faq/delete",
        f"{base}/autoresponders/{responder.autoresponder_id}/delete",
        f"{base}/filters/{rule.filter_id}/delete",
    ):
        assert (await client.post(path, data={"csrf_token": csrf})).status_code == 303, path
    assert await db.snippets.list_for_guild(guild_id) == []
    assert await db.autoresponders.list_for(guild_id) == []
    assert await db.filters.list_for(guild_id) == []
