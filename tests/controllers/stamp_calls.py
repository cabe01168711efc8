"""The calls and IDs the actor-stamp and audit-coverage tests drive: one setup per mutating facade method.

Kept apart from ``test_actor_stamps.py`` so the classification tables there stay readable; the calls
here set up what each method needs (a panel, a key, an autoresponder …) under the acting user.
"""

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from guildbase import Database
from guildbase.db.types import utcnow
from guildbase.models.moderation import CaseCreate
from guildbase.testing import ids

BLOCK = ids.block()  # this module's IDs: fixed offsets from a clock-derived base
GUILD = BLOCK + 1
FRESH_GUILD = BLOCK + 2
USER = BLOCK + 101
MOD = BLOCK + 201
CHANNEL = BLOCK + 301
ROLE = BLOCK + 401
ACTOR = BLOCK + 500  # each call acts as ACTOR + its index, so no stamp is inherited

Call = Callable[[Database], Awaitable[Any]]


async def _command_rank(db: Database) -> Any:
    await db.permissions.register_commands({"ban": "Moderation"})  # rank targets must be known commands
    return await db.permissions.set_command_rank(GUILD, "command", "ban", 3)


async def _create_in(db: Database) -> Any:
    checked = CaseCreate(guild_id=GUILD, type="WARN", user_id=USER, moderator_id=MOD)
    async with db.session() as session:
        return await db.cases.create_in(session, checked)


async def _mark_expired_in(db: Database) -> Any:
    async with db.session() as session:
        return await db.cases.mark_expired_in(session, GUILD, 3, actor_id=None)


async def _mark_processed_in(db: Database) -> Any:
    async with db.session() as session:
        return await db.cases.mark_processed_in(session, GUILD, 5)


async def _ticket_panel_id(db: Database) -> int:
    return (await db.tickets.panels(GUILD))[0].panel_id


async def _update_ticket_panel(db: Database) -> Any:
    return await db.tickets.update_panel(GUILD, await _ticket_panel_id(db), open_limit=3)


async def _revoke_newest_key(db: Database) -> Any:
    newest = (await db.api_keys.list(limit=1))[0]
    return await db.api_keys.revoke(newest.key_id)


# -- premium: each call sets up what it needs, under the same actor -------------------------------
PREMIUM_SKU = BLOCK + 601
ENTITLEMENT = BLOCK + 701
RECONCILED = BLOCK + 702


def _entitlement(entitlement_id: int, **fields: Any) -> dict[str, Any]:
    return {"id": str(entitlement_id), "sku_id": str(PREMIUM_SKU), "guild_id": str(GUILD)} | fields


async def _premium_transition(db: Database) -> Any:
    sub = await db.premium.subscribe("user", USER, "pro")
    return await db.premium.transition(sub.subscription_id, "grace")


async def _premium_expire_due(db: Database) -> Any:
    await db.premium.subscribe("user", USER + 1, "pro", period_end=utcnow() + timedelta(hours=1))
    return await db.premium.expire_due(utcnow() + timedelta(hours=2))


async def _premium_expire_in(db: Database) -> Any:
    end = utcnow() + timedelta(hours=1)
    sub = await db.premium.subscribe("user", USER + 2, "pro", period_end=end)
    async with db.session() as session:
        return await db.premium.expire_in(session, sub.subscription_id, "active", end)


async def _premium_entitlement(db: Database) -> Any:
    await db.premium.map_sku(PREMIUM_SKU, "pro")
    return await db.premium.entitlement_created(_entitlement(ENTITLEMENT))


async def _premium_redeem(db: Database) -> Any:
    code = await db.premium.create_key("pro", days=7)
    return await db.premium.redeem_key(code, owner_type="user", owner_id=USER + 3)


PREMIUM_CALLS: dict[str, Call] = {
    "premium.set_tier": lambda db: db.premium.set_tier("pro", name="Pro", rank=10, features=["custom_embeds"]),
    "premium.subscribe": lambda db: db.premium.subscribe(
        "guild", GUILD, "pro", period_end=utcnow() + timedelta(hours=1)
    ),
    "premium.transition": _premium_transition,
    "premium.start_trial": lambda db: db.premium.start_trial("user", USER, "pro", days=7),
    "premium.expire_due": _premium_expire_due,
    "premium.expire_in": _premium_expire_in,
    "premium.entitlement_created": _premium_entitlement,
    "premium.entitlement_updated": lambda db: db.premium.entitlement_updated(
        _entitlement(ENTITLEMENT, ends_at=(utcnow() - timedelta(minutes=1)).isoformat())
    ),
    "premium.entitlement_deleted": lambda db: db.premium.entitlement_deleted(_entitlement(ENTITLEMENT)),
    "premium.reconcile": lambda db: db.premium.reconcile([_entitlement(RECONCILED)]),
    "premium.create_key": lambda db: db.premium.create_key("pro", days=30),
    "premium.redeem_key": _premium_redeem,
}
"""The premium writes, in an order that works (the SKU is mapped by an unstamped call before the events)."""
PREMIUM_TABLES = {"premium.set_tier": {"premium_tier"}, "premium.create_key": {"premium_key"}}
PREMIUM_TABLES["premium.redeem_key"] = {"premium_key", "subscription"}


async def _close_poll_in(db: Database) -> Any:
    poll = await db.polls.create(GUILD, CHANNEL, USER, "Dinner?", ["soup", "bread"])
    async with db.session() as session:
        return await db.polls.close_in(session, GUILD, poll.number)


async def _first_autoresponder(db: Database) -> int:
    return (await db.autoresponders.list_for(GUILD))[0].autoresponder_id


async def _first_filter(db: Database) -> int:
    return (await db.filters.list_for(GUILD))[0].filter_id


async def _update_autoresponder(db: Database) -> Any:
    return await db.autoresponders.update(GUILD, await _first_autoresponder(db), is_enabled=False)


async def _autoresponder_responses(db: Database) -> Any:
    return await db.autoresponders.set_responses(GUILD, await _first_autoresponder(db), ["stamped"])


async def _autoresponder_scope(db: Database) -> Any:
    return await db.autoresponders.set_scope(GUILD, await _first_autoresponder(db), channel_ids=[CHANNEL])


async def _filter_exemptions(db: Database) -> Any:
    return await db.filters.set_exemptions(GUILD, await _first_filter(db), role_ids=[ROLE])


async def _update_filter(db: Database) -> Any:
    return await db.filters.update(GUILD, await _first_filter(db), action="log")


OVERWRITES = [{"id": GUILD, "type": 0, "allow": 0, "deny": 2048}]


async def _lock_then_end(db: Database) -> Any:
    lock = await db.channel_settings.lock(GUILD, CHANNEL, OVERWRITES)
    async with db.session() as session:
        assert lock.locked_at is not None
        return await db.channel_settings.end_lockdown_in(session, GUILD, CHANNEL, locked_at=lock.locked_at)


AUTOMOD_CALLS: dict[str, tuple[Call, set[str]]] = {
    "autoresponders.create": (lambda db: db.autoresponders.create(GUILD, "stamp", ["x"]), {"autoresponder"}),
    "autoresponders.update": (_update_autoresponder, {"autoresponder"}),
    "autoresponders.set_responses": (_autoresponder_responses, {"autoresponder"}),
    "autoresponders.set_scope": (_autoresponder_scope, {"autoresponder"}),
    "filters.add_words": (lambda db: db.filters.add_words(GUILD, ["stamp"], "delete"), {"message_filter"}),
    "filters.add_regex": (lambda db: db.filters.add_regex(GUILD, "st+amp", "delete"), {"message_filter"}),
    "filters.add_invites": (lambda db: db.filters.add_invites(GUILD, "delete"), {"message_filter"}),
    "filters.add_domains": (lambda db: db.filters.add_domains(GUILD, ["stamp.com"], "log"), {"message_filter"}),
    "filters.add_mentions": (lambda db: db.filters.add_mentions(GUILD, 5, "warn"), {"message_filter"}),
    "filters.add_caps": (lambda db: db.filters.add_caps(GUILD, 80, "timeout"), {"message_filter"}),
    "filters.update": (_update_filter, {"message_filter"}),
    "filters.set_exemptions": (_filter_exemptions, {"message_filter"}),
    "channel_settings.set_slowmode": (
        lambda db: db.channel_settings.set_slowmode(GUILD, CHANNEL, 10),
        {"channel_setting"},
    ),
    "channel_settings.lock": (lambda db: db.channel_settings.lock(GUILD, CHANNEL, OVERWRITES), {"channel_setting"}),
    "channel_settings.unlock": (lambda db: db.channel_settings.unlock(GUILD, CHANNEL), {"channel_setting"}),
    "channel_settings.end_lockdown_in": (_lock_then_end, {"channel_setting"}),
}
"""Automod's writes (R15.2, R15.4), in order: updates find the rows the creations made."""


READS = {
    "permissions.known_commands",
    "permissions.get",
    "permissions.rules",
    "permissions.explain",
    "permissions.recent_checks",
    "audit.by_actor",
    "audit.for_entity",
    "audit.for_guild",
    "guilds.get",
    "guild_config.features",
    "guild_config.get",
    "guild_config.get_prefixes",
    "guild_config.is_enabled",
    "members.count",
    "members.get",
    "members.is_blacklisted",
    "blacklist.history",
    "blacklist.is_blacklisted",
    "blacklist.list_active",
    "afk.count",
    "afk.due",
    "afk.get",
    "afk.get_many",
    "levels.get",
    "levels.get_config",
    "levels.leaderboard",
    "levels.level_roles",
    "levels.multipliers",
    "levels.rank",
    "leaderboards.around",
    "leaderboards.rank",
    "leaderboards.tied_rank",
    "leaderboards.top",
    "leaderboards.top_with_rank",
    "starboard.get_config",
    "starboard.get_entry",
    "starboard.star_count",
    "reminders.get",
    "reminders.list_for_user",
    "bookmarks.list_for_user",
    "cases.by_moderator",
    "cases.by_type",
    "cases.changes",
    "cases.counts",
    "cases.get",
    "cases.history",
    "cases.is_jailed",
    "cases.is_poll_banned",
    "cases.is_snippet_banned",
    "cases.jail_roles",
    "cases.overview",
    "cases.recent",
    "cases.restrictions",
    "cases.search",
    "cases.summary",
    "notes.changes",
    "notes.get",
    "notes.list_for_user",
    "jobs.failed",
    "jobs.get",
    "jobs.seconds_until_due",
    "jobs.status",
    "logs.command_stats",
    "logs.command_users",
    "logs.partitions",
    "logs.recent_commands",
    "events.daily_totals",
    "events.export",  # writes a file, not the database
    "events.export_count",
    "events.export_report",
    "events.guild_events",
    "events.invite_uses",
    "events.partitions",
    "events.reactions",
    "events.stats",
    "events.voice_sessions",
    "logs.recent_errors",
    "logs.top_errors",
    "mod_settings.escalation_of",
    "mod_settings.get",
    "integrations.get",
    "integrations.list",
    "tickets.panel",
    "tickets.panels",
    "tickets.get",
    "tickets.by_channel",
    "tickets.list_open",
    "tickets.browse",
    "tickets.events",
    "tickets.participants",
    "tickets.transcript",
    "tickets.export_json",
    "tickets.export_html",
    "tickets.metrics",
    "security.by_user",
    "security.by_ip",
    "security.by_guild",
    "security.between",
    "api_keys.list",
    "oauth_tokens.get",
    "premium.benefits",
    "premium.conversion_report",
    "premium.get",
    "premium.ledger",
    "premium.limit",
    "premium.require",
    "premium.subscriptions",
    "premium.tiers",
    "snippets.get",
    "snippets.suggest",
    "snippets.list_for_guild",
    "snippets.count",
    "custom_commands.get",
    "custom_commands.list_for_guild",
    "polls.get",
    "polls.open_polls",
    "polls.tally",
    "autoresponders.get",
    "autoresponders.list_for",
    "autoresponders.matcher",
    "filters.list_for",
    "filters.matcher",
    "channel_settings.get",
    "channel_settings.locked",
    "runtime_metrics.command_error_rates",
    "runtime_metrics.partitions",
    "partitions.list",
    "runtime_metrics.series",
    "privacy.locate",
    "privacy.requests",
}
