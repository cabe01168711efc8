"""Tickets on the web: the list by status, the transcript (JSON with string IDs, and the archived HTML page),
the metrics; and the guild's premium status."""

import httpx
from fake_discord_oauth import FakeDiscordOAuth, FakeUser
from web_harness import log_in

from guildbase import Database
from guildbase.testing import ids

HOSTILE = "<script>alert(1)</script>"


async def _tickets(db: Database, guild_id: int) -> tuple[int, int, int]:
    """Three tickets: #1 closed, #2 and #3 open; #2 has a message (``HOSTILE``) in its transcript."""
    await db.guild_config.set_feature(guild_id, "tickets", enabled=True)
    panel = await db.tickets.create_panel(guild_id, "Support")
    opener, channel = ids(), ids()
    first = await db.tickets.open(guild_id, panel.panel_id, opener, subject="first")
    second = await db.tickets.open(guild_id, panel.panel_id, ids(), subject="second")
    third = await db.tickets.open(guild_id, panel.panel_id, ids(), subject="third")
    await db.tickets.close(guild_id, first.number, reason="solved")
    await db.tickets.set_channel(guild_id, second.number, channel)
    await db.tickets.record_message(guild_id, channel, ids(), second.opener_id, HOSTILE)
    return first.number, second.number, third.number


async def test_tickets_are_listed_newest_first_and_filtered_by_status(
    client: httpx.AsyncClient, db: Database, fake_discord: FakeDiscordOAuth, admin: tuple[FakeUser, int]
) -> None:
    user, guild_id = admin
    first, second, third = await _tickets(db, guild_id)
    await log_in(client, fake_discord, user)
    url = f"/api/guilds/{guild_id}/tickets"
    assert [t["number"] for t in (await client.get(url)).json()] == [third, second, first]
    assert [t["number"] for t in (await client.get(url, params={"status": "closed"})).json()] == [first]
    assert [t["number"] for t in (await client.get(url, params={"status": "open"})).json()] == [third, second]
    assert [t["number"] for t in (await client.get(url, params={"before": third, "limit": 1})).json()] == [second]
    unknown = await client.get(url, params={"status": "lost"})
    assert unknown.status_code == 422
    assert unknown.json()["fields"][0]["field"] == "status"
    one = (await client.get(f"{url}/{second}")).json()
    assert (one["subject"], one["status"]) == ("second", "open")
    assert isinstance(one["opener_id"], str)
    assert (await client.get(f"{url}/{third + 10}")).status_code == 404
    page = await client.get(f"/guilds/{guild_id}/tickets?status=closed")
    assert page.status_code == 200
    assert ">first<" in page.text
    assert ">second<" not in page.text
    bad_page = await client.get(f"/guilds/{guild_id}/tickets?status=lost")
    assert bad_page.status_code == 422
    assert "status" in bad_page.text


async def test_the_transcript_comes_as_json_and_as_the_archived_page_escaped(
    client: httpx.AsyncClient, db: Database, fake_discord: FakeDiscordOAuth, admin: tuple[FakeUser, int]
) -> None:
    user, guild_id = admin
    _, second, _ = await _tickets(db, guild_id)
    await log_in(client, fake_discord, user)
    transcript = (await client.get(f"/api/guilds/{guild_id}/tickets/{second}/transcript")).json()
    [message] = transcript["messages"]
    assert message["content"] == HOSTILE
    assert isinstance(message["author_id"], str)
    assert (await client.get(f"/api/guilds/{guild_id}/tickets/{second + 10}/transcript")).status_code == 404
    page = await client.get(f"/guilds/{guild_id}/tickets/{second}/transcript")
    assert page.status_code == 200
    assert page.text == await db.tickets.export_html(guild_id, second)
    assert HOSTILE not in page.text
    assert (await client.get(f"/guilds/{guild_id}/tickets/{second + 10}/transcript")).status_code == 404


async def test_metrics_count_the_period_and_a_moderator_by_rank_is_refused_tickets(
    client: httpx.AsyncClient, db: Database, fake_discord: FakeDiscordOAuth, admin: tuple[FakeUser, int]
) -> None:
    user, guild_id = admin
    await _tickets(db, guild_id)
    await log_in(client, fake_discord, user)
    metrics = (await client.get(f"/api/guilds/{guild_id}/tickets/metrics?days=7")).json()
    assert (metrics["opened"], metrics["closed"], metrics["backlog"]) == (3, 1, 2)
    assert "Backlog" in (await client.get(f"/guilds/{guild_id}/tickets")).text
    role = ids()
    await db.permissions.set_role_rank(guild_id, role, 5)
    moderator = fake_discord.user(ids(), "moderator")
    moderator.member_of(guild_id, permissions=0)
    moderator.roles[guild_id] = [role]
    await log_in(client, fake_discord, moderator)
    assert (await client.get(f"/api/guilds/{guild_id}/tickets")).status_code == 403
    assert (await client.get(f"/api/guilds/{guild_id}/premium")).status_code == 403


async def test_premium_status_shows_the_tier_its_benefits_and_each_subscriptions_state(
    client: httpx.AsyncClient, db: Database, fake_discord: FakeDiscordOAuth, admin: tuple[FakeUser, int]
) -> None:
    user, guild_id = admin
    await log_in(client, fake_discord, user)
    free = (await client.get(f"/api/guilds/{guild_id}/premium")).json()
    assert (free["tier_id"], free["features"], free["subscriptions"]) == (None, [], [])
    tier = f"webpro{ids() % 100_000}"
    await db.premium.set_tier(tier, name="Web Pro", rank=10, features=["custom_embeds"], limits={"max_snippets": 99})
    sub = await db.premium.subscribe("guild", guild_id, tier)
    status = (await client.get(f"/api/guilds/{guild_id}/premium")).json()
    assert status["tier_id"] == tier
    assert status["features"] == ["custom_embeds"]
    assert status["limits"]["max_snippets"] == 99
    assert [(s["subscription_id"], s["status"]) for s in status["subscriptions"]] == [(sub.subscription_id, "active")]
    page = await client.get(f"/guilds/{guild_id}/premium")
    assert page.status_code == 200
    assert tier in page.text
    assert "active" in page.text
