"""Premium through the reference bot (R16): entitlement events, status, benefits, keys, gating, reconcile.

Entitlement events go through discord.py's own parsing and dispatch
(``parse_entitlement_*`` → ``on_entitlement_*``); commands through the
harness. What a server would notice is asserted: replies, DMs, and the
subscriptions stored in PostgreSQL.
"""

from datetime import timedelta
from typing import Any

import pytest
from harness import Harness

from guildbase.bot.jobs import BotJobs
from guildbase.db.types import utcnow
from guildbase.models.premium import SubscriptionStatus
from guildbase.testing import ids

pytestmark = pytest.mark.clock  # entitlement ends and key periods are measured from now

SKU = ids()
S = SubscriptionStatus


@pytest.fixture
async def world(harness: Harness) -> Harness:
    db = harness.bot.db
    await db.premium.set_tier("pro", name="Pro", rank=10, features=["custom_embeds"], limits={"max_snippets": 100})
    await db.premium.map_sku(SKU, "pro")
    return harness


def entitlement(world: Harness, entitlement_id: int, *, ends_in: timedelta | None = None) -> dict[str, Any]:
    """An entitlement of the test guild to the test SKU, as the gateway sends it."""
    return {
        "id": str(entitlement_id),
        "sku_id": str(SKU),
        "application_id": str(world.fake.application_id),
        "guild_id": str(world.guild_id),
        "type": 8,
        "deleted": False,
        "starts_at": (utcnow() - timedelta(days=1)).isoformat(),
        "ends_at": None if ends_in is None else (utcnow() + ends_in).isoformat(),
        "consumed": False,
    }


async def guild_subscription(world: Harness) -> Any:
    (sub,) = await world.bot.db.premium.subscriptions("guild", world.guild_id)
    return sub


async def test_entitlement_events_from_the_gateway_grant_end_and_refund_the_servers_premium(world: Harness) -> None:
    db, state = world.bot.db, world.state
    entitlement_id = ids()
    state.parse_entitlement_create(entitlement(world, entitlement_id))
    await world.settle()
    assert (await guild_subscription(world)).status is S.ACTIVE
    assert (await db.premium.benefits(world.guild_id)).tier_id == "pro"

    state.parse_entitlement_create(entitlement(world, entitlement_id))  # delivered again (a RESUME replay)
    await world.settle()
    assert len(await db.premium.subscriptions("guild", world.guild_id)) == 1

    state.parse_entitlement_update(entitlement(world, entitlement_id, ends_in=-timedelta(minutes=1)))
    await world.settle()
    assert (await guild_subscription(world)).status is S.GRACE, "ended: grace keeps the benefits for a while"
    assert (await db.premium.benefits(world.guild_id)).tier_id == "pro"

    state.parse_entitlement_delete(
        entitlement(world, entitlement_id, ends_in=-timedelta(minutes=1)) | {"deleted": True}
    )
    await world.settle()
    assert (await guild_subscription(world)).status is S.CANCELED
    assert (await db.premium.benefits(world.guild_id)).tier_id is None, "a refund takes the benefits at once"


async def test_status_and_benefits_show_the_servers_tier_and_yours(world: Harness) -> None:
    await world.say(world.alice, "$premium")
    assert world.last_reply() == "This server: free\nYou: free"
    await world.bot.db.premium.subscribe("guild", world.guild_id, "pro", period_end=utcnow() + timedelta(days=30))
    await world.say(world.alice, "$premium")
    assert world.last_reply().startswith("This server: pro: active until <t:")
    await world.slash(world.alice, "benefits")
    shown = world.last_reply()
    assert "Tier: pro" in shown
    assert "Features: custom_embeds" in shown
    assert "max snippets: 100" in shown


async def test_a_key_is_redeemed_once_for_yourself_or_for_the_server(world: Harness) -> None:
    db = world.bot.db
    code = await db.premium.create_key("pro", days=30)
    await world.say(world.alice, f"$redeem {code}")
    assert world.last_reply().startswith("You have pro until <t:")
    assert (await db.premium.benefits(None, world.alice.user_id)).tier_id == "pro"
    await world.say(world.bob, f"$redeem {code}")
    assert world.last_reply() == "code: this key was already redeemed"
    other = await db.premium.create_key("pro", days=7)
    await world.slash(world.alice, "redeem", code=other, target="server")
    assert world.last_reply() == "You need the manage guild permission for this."
    await world.slash(world.mod, "redeem", code=other, target="server")
    assert world.last_reply().startswith("This server has pro until <t:")
    assert (await db.premium.benefits(world.guild_id)).tier_id == "pro"


async def test_a_premium_command_is_gated_by_entitlements_or_the_stored_tier(world: Harness) -> None:
    await world.say(world.alice, "$premiumembed Hello")
    assert world.last_reply() == "feature: custom_embeds is a premium feature; it needs the Pro tier (pro)"
    # A slash command whose interaction carries the guild's entitlement to the SKU: discord.py's own list decides.
    payload = world.interaction_payload(world.alice, "premiumembed", {"title": "From Discord"}, kind=2)
    payload["entitlements"] = [entitlement(world, ids())]
    world.state.parse_interaction_create(payload)
    await world.settle()
    assert world.last_reply() == "From Discord"
    await world.bot.db.premium.subscribe("guild", world.guild_id, "pro")
    await world.say(world.alice, "$premiumembed Stored tier")
    assert world.last_reply() == "Stored tier"


async def test_premiumsync_reconciles_against_the_applications_entitlements(world: Harness) -> None:
    db = world.bot.db
    world.fake.entitlements = [entitlement(world, ids())]
    stale = await db.premium.entitlement_created(
        entitlement(world, ids()) | {"guild_id": None, "user_id": str(world.bob.user_id)}
    )
    assert stale is not None
    await world.say(world.alice, "$premiumsync")
    assert world.last_reply() == "Only the bot's owners can do that."
    await world.say(world.mod, "$premiumsync")
    assert world.last_reply() == "Reconciled 1 entitlements: 1 repaired, 1 canceled, 0 unchanged."
    assert (await guild_subscription(world)).status is S.ACTIVE
    assert (await db.premium.get(stale.subscription_id)).status is S.CANCELED  # type: ignore[union-attr]


async def test_the_job_handler_tells_the_owner_by_dm(world: Harness) -> None:
    db = world.bot.db
    sub = await db.premium.subscribe("user", world.alice.user_id, "pro", period_end=utcnow() + timedelta(days=1))
    graced = await db.premium.transition(sub.subscription_id, "grace")
    await BotJobs(world.bot).tell_premium_owner(graced)
    (dm,) = world.fake.texts(world.alice.user_id + 1)  # the fake's DM channel of a user
    assert dm.startswith("Your pro premium period has ended; its benefits stay until <t:")
    expired = await db.premium.transition(sub.subscription_id, "expired")
    await BotJobs(world.bot).tell_premium_owner(expired)
    assert (
        world.fake.texts(world.alice.user_id + 1)[-1]
        == "Your pro premium has expired; its benefits are gone. Renew any time."
    )


async def test_a_servers_expiry_is_told_to_the_servers_owner(world: Harness) -> None:
    db = world.bot.db
    sub = await db.premium.subscribe("guild", world.guild_id, "pro", period_end=utcnow() + timedelta(days=1))
    await db.premium.transition(sub.subscription_id, "grace")
    expired = await db.premium.transition(sub.subscription_id, "expired")
    await BotJobs(world.bot).tell_premium_owner(expired)
    (dm,) = world.fake.texts(world.stranger.user_id + 1)  # the harness's guild is owned by "stranger"
    assert dm == "Server Test Guild: Your pro premium has expired; its benefits are gone. Renew any time."
