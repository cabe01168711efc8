"""Every mutating controller method leaves an audit row, or is on the short exempt list with its reason (R6.3).

Which methods mutate comes from ``test_actor_stamps``: every public coroutine
of every facade controller is classified there, and everything not in its
``READS`` writes something. Here each of those is either ``AUDITED`` (called,
under ``acting_as`` and ``audit_context``, and required to write a row with
its action, the actor, the source and the correlation ID) or exempt, by
domain (``EXEMPT_DOMAINS``) or by method (``EXEMPT_METHODS``). A new mutating
method fails ``test_every_mutating_method_is_audited_or_exempt`` until it is
placed, and one that forgets ``record_audit`` fails the walk.

"Rows it wrote" is exact: each call runs in its own transactions on a pooled
database, so the rows it wrote are those with an ``audit_id`` above the
largest one before the call.
"""

import io
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlmodel import col
from stamp_calls import (
    AUTOMOD_CALLS,
    CHANNEL,
    GUILD,
    MOD,
    PREMIUM_CALLS,
    PREMIUM_SKU,
    READS,
    ROLE,
    USER,
    _first_autoresponder,
    _first_filter,
)
from test_actor_stamps import _facade_methods, _seed

from guildbase import AuditSource, Database, acting_as, audit_context
from guildbase.controllers.base import Controller
from guildbase.db.audit import record_audit
from guildbase.db.types import utcnow
from guildbase.errors import GuildbaseError
from guildbase.models.audit import AuditAction, AuditEntity, AuditLog
from guildbase.models.core import GuildConfig
from guildbase.models.moderation import Case, CaseCreate, CaseType
from guildbase.models.tickets import Ticket

FRESH_GUILD = 1_100_000_000_000_000_003
OTHER_USER = 1_100_000_000_000_000_102
ACTOR = 1_100_000_000_000_000_600  # each call acts as ACTOR + its index

Call = Callable[[Database], Awaitable[Any]]
A = AuditAction


async def _create_in(db: Database) -> Any:
    checked = CaseCreate(guild_id=GUILD, type="WARN", user_id=USER, moderator_id=MOD)
    async with db.session() as session:
        return await db.cases.create_in(session, checked)


async def _mark_expired_in(db: Database) -> Any:
    async with db.session() as session:
        return await db.cases.mark_expired_in(session, GUILD, 3)


async def _mark_processed_in(db: Database) -> Any:
    async with db.session() as session:
        return await db.cases.mark_processed_in(session, GUILD, 5)


async def _ticket_panel(db: Database) -> int:
    return (await db.tickets.panels(GUILD))[0].panel_id


async def _update_ticket_panel(db: Database) -> Any:
    return await db.tickets.update_panel(GUILD, await _ticket_panel(db), open_limit=3)


async def _open_ticket(db: Database) -> Any:
    await db.guild_config.set_feature(GUILD, "tickets", enabled=True)
    return await db.tickets.open(GUILD, await _ticket_panel(db), USER)


async def _close_scheduled_in(db: Database) -> Any:
    await db.tickets.request_close(GUILD, 1, delay=timedelta(hours=1))
    async with db.session() as session:
        await session.execute(
            update(Ticket).where(col(Ticket.guild_id) == GUILD, col(Ticket.number) == 1).values(close_at=func.now())
        )
        return await db.tickets.close_scheduled_in(session, GUILD, 1)


async def _close_idle_in(db: Database) -> Any:
    ticket = await db.tickets.open(GUILD, await _ticket_panel(db), OTHER_USER)
    async with db.session() as session:
        old = func.now() - timedelta(days=1)
        await session.execute(update(Ticket).where(col(Ticket.ticket_id) == ticket.ticket_id).values(opened_at=old))
        return await db.tickets.close_idle_in(session, GUILD, ticket.number)


async def _opener_left(db: Database) -> Any:
    await db.tickets.open(GUILD, await _ticket_panel(db), USER)
    return await db.tickets.opener_left(GUILD, USER)


async def _revoke_newest_key(db: Database) -> Any:
    newest = (await db.api_keys.list(limit=1))[0]
    return await db.api_keys.revoke(newest.key_id)


async def _close_poll_in(db: Database) -> Any:
    poll = await db.polls.create(GUILD, CHANNEL, USER, "Dinner?", ["soup", "bread"])
    async with db.session() as session:
        return await db.polls.close_in(session, GUILD, poll.number)


async def _command_rank(db: Database) -> Any:
    await db.permissions.register_commands({"ban": "Moderation"})  # rank targets must be known commands
    return await db.permissions.set_command_rank(GUILD, "command", "ban", 3)


async def _remove_rule(db: Database) -> Any:
    rules = await db.permissions.rules(GUILD)
    return await db.permissions.remove_rule(GUILD, rules[0].rule_id)


async def _remove_expired(db: Database) -> Any:
    await db.permissions.add_rule(
        GUILD, "member", OTHER_USER, "all", None, effect="deny", expires_at=utcnow() + timedelta(minutes=5)
    )
    return await db.permissions.remove_expired(now=utcnow() + timedelta(hours=1))


# method → (the call, the action its row records). Ordered: later calls use earlier rows.
AUDITED: dict[str, tuple[Call, AuditAction]] = {
    "guilds.join": (lambda db: db.guilds.join(FRESH_GUILD, name="fresh"), A.GUILD_JOIN),
    "guilds.leave": (lambda db: db.guilds.leave(FRESH_GUILD), A.GUILD_LEAVE),
    "guilds.delete": (lambda db: db.guilds.delete(FRESH_GUILD), A.GUILD_DELETE),
    "guild_config.update": (lambda db: db.guild_config.update(GUILD, locale="fr"), A.CONFIG_UPDATE),
    "guild_config.set_prefix": (lambda db: db.guild_config.set_prefix(GUILD, "!"), A.CONFIG_UPDATE),
    "guild_config.add_prefix": (lambda db: db.guild_config.add_prefix(GUILD, "?"), A.PREFIX_ADD),
    "guild_config.remove_prefix": (lambda db: db.guild_config.remove_prefix(GUILD, "?"), A.PREFIX_REMOVE),
    "guild_config.set_feature": (
        lambda db: db.guild_config.set_feature(GUILD, "levels", enabled=False),
        A.FEATURE_SET,
    ),
    "blacklist.add": (lambda db: db.blacklist.add("user", OTHER_USER, reason="raid"), A.BLACKLIST_ADD),
    "blacklist.remove": (lambda db: db.blacklist.remove("user", USER), A.BLACKLIST_REMOVE),
    "members.set_blacklisted": (
        lambda db: db.members.set_blacklisted(GUILD, USER, blacklisted=True, reason="spam"),
        A.MEMBER_BLACKLIST,
    ),
    "cases.create": (lambda db: db.cases.create(GUILD, USER, MOD, CaseType.WARN), A.CASE_CREATE),
    "cases.create_in": (_create_in, A.CASE_CREATE),
    "cases.update_reason": (lambda db: db.cases.update_reason(GUILD, 2, "spam"), A.CASE_REASON),
    "cases.void": (lambda db: db.cases.void(GUILD, 2), A.CASE_VOID),
    "cases.set_mod_log_message": (lambda db: db.cases.set_mod_log_message(GUILD, 1, CHANNEL), A.CASE_MOD_LOG),
    "cases.mark_expired": (lambda db: db.cases.mark_expired(GUILD, 1), A.CASE_EXPIRE),
    "cases.mark_expired_in": (_mark_expired_in, A.CASE_EXPIRE),
    "cases.mark_processed": (lambda db: db.cases.mark_processed(GUILD, 4), A.CASE_PROCESSED),
    "cases.mark_processed_in": (_mark_processed_in, A.CASE_PROCESSED),
    "notes.create": (lambda db: db.notes.create(GUILD, USER, MOD, "watch them"), A.NOTE_CREATE),
    "notes.edit": (lambda db: db.notes.edit(GUILD, 1, "keep watching"), A.NOTE_EDIT),
    "notes.delete": (lambda db: db.notes.delete(GUILD, 1), A.NOTE_DELETE),
    "levels.set_xp": (lambda db: db.levels.set_xp(GUILD, USER, 500), A.XP_SET),
    "levels.reset": (lambda db: db.levels.reset(GUILD, USER), A.XP_RESET),
    "levels.blacklist": (lambda db: db.levels.blacklist(GUILD, USER), A.XP_BLACKLIST),
    "levels.unblacklist": (lambda db: db.levels.unblacklist(GUILD, USER), A.XP_UNBLACKLIST),
    "levels.configure": (lambda db: db.levels.configure(GUILD, cooldown_seconds=30), A.LEVEL_CONFIG),
    "levels.set_multiplier": (lambda db: db.levels.set_multiplier(GUILD, "role", ROLE, 2.0), A.LEVEL_MULTIPLIER_SET),
    "levels.remove_multiplier": (
        lambda db: db.levels.remove_multiplier(GUILD, "role", ROLE),
        A.LEVEL_MULTIPLIER_REMOVE,
    ),
    "levels.set_level_role": (lambda db: db.levels.set_level_role(GUILD, 5, ROLE), A.LEVEL_ROLE_SET),
    "levels.remove_level_role": (lambda db: db.levels.remove_level_role(GUILD, 5), A.LEVEL_ROLE_REMOVE),
    "starboard.configure": (lambda db: db.starboard.configure(GUILD, channel_id=CHANNEL), A.STARBOARD_CONFIG),
    "mod_settings.configure": (lambda db: db.mod_settings.configure(GUILD, is_user_notified=True), A.MOD_SETTINGS),
    "mod_settings.set_default_duration": (
        lambda db: db.mod_settings.set_default_duration(GUILD, "tempban", timedelta(days=1)),
        A.MOD_SETTINGS,
    ),
    "mod_settings.set_log_channel": (
        lambda db: db.mod_settings.set_log_channel(GUILD, "tempban", CHANNEL),
        A.MOD_SETTINGS,
    ),
    "mod_settings.set_rule": (
        lambda db: db.mod_settings.set_rule(GUILD, 3, within=timedelta(days=7), action="kick"),
        A.MOD_SETTINGS,
    ),
    "mod_settings.remove_rule": (lambda db: db.mod_settings.remove_rule(GUILD, 3), A.MOD_SETTINGS),
    "integrations.create": (
        lambda db: db.integrations.create(
            GUILD, name="news", source="feed", url="https://example.org/feed.xml", channel_id=CHANNEL
        ),
        A.INTEGRATION_CREATE,
    ),
    "integrations.update": (
        lambda db: db.integrations.update(GUILD, "news", interval_seconds=600),
        A.INTEGRATION_UPDATE,
    ),
    "integrations.reset_state": (lambda db: db.integrations.reset_state(GUILD, "news"), A.INTEGRATION_UPDATE),
    "integrations.remove": (lambda db: db.integrations.remove(GUILD, "news"), A.INTEGRATION_DELETE),
    "tickets.create_panel": (
        lambda db: db.tickets.create_panel(GUILD, "Support", close_on_leave=True, inactivity_seconds=3600),
        A.TICKET_PANEL,
    ),
    "tickets.update_panel": (_update_ticket_panel, A.TICKET_PANEL),
    "tickets.open": (_open_ticket, A.TICKET_OPEN),
    "tickets.claim": (lambda db: db.tickets.claim(GUILD, 1, MOD), A.TICKET_CHANGE),
    "tickets.transfer": (lambda db: db.tickets.transfer(GUILD, 1, OTHER_USER), A.TICKET_CHANGE),
    "tickets.unclaim": (lambda db: db.tickets.unclaim(GUILD, 1), A.TICKET_CHANGE),
    "tickets.rename": (lambda db: db.tickets.rename(GUILD, 1, "billing"), A.TICKET_CHANGE),
    "tickets.add_participant": (lambda db: db.tickets.add_participant(GUILD, 1, OTHER_USER), A.TICKET_CHANGE),
    "tickets.remove_participant": (lambda db: db.tickets.remove_participant(GUILD, 1, OTHER_USER), A.TICKET_CHANGE),
    "tickets.request_close": (lambda db: db.tickets.request_close(GUILD, 1, reason="solved?"), A.TICKET_CHANGE),
    "tickets.cancel_close_request": (lambda db: db.tickets.cancel_close_request(GUILD, 1), A.TICKET_CHANGE),
    "tickets.close": (lambda db: db.tickets.close(GUILD, 1, reason="done"), A.TICKET_CLOSE),
    "tickets.rate": (lambda db: db.tickets.rate(GUILD, 1, USER, 5), A.TICKET_RATE),
    "tickets.reopen": (lambda db: db.tickets.reopen(GUILD, 1), A.TICKET_REOPEN),
    "tickets.close_scheduled_in": (_close_scheduled_in, A.TICKET_CLOSE),
    "tickets.close_idle_in": (_close_idle_in, A.TICKET_CLOSE),
    "tickets.opener_left": (_opener_left, A.TICKET_CLOSE),
    "api_keys.create": (
        lambda db: db.api_keys.create("ci", guild_ids=[GUILD], actions=["cases:read"]),
        A.API_KEY_CREATE,
    ),
    "api_keys.revoke": (_revoke_newest_key, A.API_KEY_REVOKE),
    **{
        name: (PREMIUM_CALLS[name], action)
        for name, action in (
            ("premium.set_tier", A.PREMIUM_TIER_SET),
            ("premium.subscribe", A.SUBSCRIPTION_CREATE),
            ("premium.transition", A.SUBSCRIPTION_STATUS),
            ("premium.start_trial", A.TRIAL_START),
            ("premium.expire_due", A.SUBSCRIPTION_STATUS),
            ("premium.expire_in", A.SUBSCRIPTION_STATUS),
            ("premium.entitlement_created", A.SUBSCRIPTION_CREATE),
            ("premium.entitlement_updated", A.SUBSCRIPTION_SYNC),
            ("premium.entitlement_deleted", A.SUBSCRIPTION_STATUS),
            ("premium.reconcile", A.SUBSCRIPTION_CREATE),
            ("premium.create_key", A.PREMIUM_KEY_CREATE),
            ("premium.redeem_key", A.PREMIUM_KEY_REDEEM),
        )
    },
    "premium.map_sku": (lambda db: db.premium.map_sku(PREMIUM_SKU + 1, "pro"), A.PREMIUM_SKU_SET),
    "premium.record_payment": (
        lambda db: db.premium.record_payment(
            "guild", GUILD, provider="stripe", provider_ref="pi_audit", amount_minor=500, currency="EUR"
        ),
        A.PAYMENT_RECORD,
    ),
    "premium.refund": (lambda db: db.premium.refund("stripe", "pi_audit", amount_minor=100), A.PAYMENT_REFUND),
    "snippets.create": (
        lambda db: db.snippets.create(GUILD, "faq", "Read the pins.", author_id=USER),
        A.SNIPPET_CREATE,
    ),
    "snippets.edit": (lambda db: db.snippets.edit(GUILD, "faq", "Pinned.", editor_id=USER), A.SNIPPET_EDIT),
    "snippets.set_locked": (lambda db: db.snippets.set_locked(GUILD, "faq", locked=True), A.SNIPPET_EDIT),
    "snippets.add_alias": (lambda db: db.snippets.add_alias(GUILD, "faq", "help", editor_id=USER), A.SNIPPET_ALIAS),
    "snippets.remove_alias": (lambda db: db.snippets.remove_alias(GUILD, "help", editor_id=USER), A.SNIPPET_ALIAS),
    "snippets.delete": (lambda db: db.snippets.delete(GUILD, "faq", editor_id=USER), A.SNIPPET_DELETE),
    "custom_commands.create": (
        lambda db: db.custom_commands.create(GUILD, "greet", "Hi {1}", author_id=USER),
        A.CUSTOM_COMMAND_CREATE,
    ),
    "custom_commands.edit": (
        lambda db: db.custom_commands.edit(GUILD, "greet", cooldown_seconds=5),
        A.CUSTOM_COMMAND_EDIT,
    ),
    "custom_commands.delete": (lambda db: db.custom_commands.delete(GUILD, "greet"), A.CUSTOM_COMMAND_DELETE),
    "polls.create": (lambda db: db.polls.create(GUILD, CHANNEL, USER, "Lunch?", ["pizza", "sushi"]), A.POLL_CREATE),
    "polls.close": (lambda db: db.polls.close(GUILD, 1), A.POLL_CLOSE),
    "polls.close_in": (_close_poll_in, A.POLL_CLOSE),
    "polls.delete": (lambda db: db.polls.delete(GUILD, 1), A.POLL_DELETE),
    "permissions.set_rank_name": (lambda db: db.permissions.set_rank_name(GUILD, 3, "Helper"), A.PERMISSION_RANKS),
    "permissions.set_role_rank": (lambda db: db.permissions.set_role_rank(GUILD, ROLE, 3), A.PERMISSION_RANKS),
    "permissions.set_role_ranks": (lambda db: db.permissions.set_role_ranks(GUILD, {ROLE: 4}), A.PERMISSION_RANKS),
    "permissions.set_command_rank": (_command_rank, A.PERMISSION_RANKS),
    "permissions.set_unconfigured_allowed": (
        lambda db: db.permissions.set_unconfigured_allowed(GUILD, False),
        A.PERMISSION_RANKS,
    ),
    "permissions.add_rule": (
        lambda db: db.permissions.add_rule(GUILD, "role", ROLE, "all", None, effect="deny", reason="muted"),
        A.PERMISSION_RULE_ADD,
    ),
    "permissions.remove_rule": (_remove_rule, A.PERMISSION_RULE_REMOVE),
    "permissions.remove_expired": (_remove_expired, A.PERMISSION_RULE_EXPIRE),
    "privacy.export_to": (lambda db: db.privacy.export_to(io.StringIO(), USER, requested_by=MOD), A.PRIVACY_EXPORT),
    "privacy.erase": (lambda db: db.privacy.erase(USER, requested_by=MOD), A.PRIVACY_ERASE),  # last: USER is gone
}
_AUTOMOD_ACTIONS = {
    "autoresponders.create": A.AUTORESPONDER_CREATE,
    "autoresponders.update": A.AUTORESPONDER_UPDATE,
    "autoresponders.set_responses": A.AUTORESPONDER_UPDATE,
    "autoresponders.set_scope": A.AUTORESPONDER_UPDATE,
    "filters.add_words": A.FILTER_CREATE,
    "filters.add_regex": A.FILTER_CREATE,
    "filters.add_invites": A.FILTER_CREATE,
    "filters.add_domains": A.FILTER_CREATE,
    "filters.add_mentions": A.FILTER_CREATE,
    "filters.add_caps": A.FILTER_CREATE,
    "filters.update": A.FILTER_UPDATE,
    "filters.set_exemptions": A.FILTER_UPDATE,
    "channel_settings.set_slowmode": A.CHANNEL_SLOWMODE,
    "channel_settings.lock": A.CHANNEL_LOCK,
    "channel_settings.unlock": A.CHANNEL_UNLOCK,
    "channel_settings.end_lockdown_in": A.CHANNEL_UNLOCK,
}
AUDITED.update({name: (AUTOMOD_CALLS[name][0], action) for name, action in _AUTOMOD_ACTIONS.items()})


async def _delete_first_autoresponder(db: Database) -> bool:
    return await db.autoresponders.delete(GUILD, await _first_autoresponder(db))


async def _delete_first_filter(db: Database) -> bool:
    return await db.filters.delete(GUILD, await _first_filter(db))


AUDITED["autoresponders.delete"] = (_delete_first_autoresponder, A.AUTORESPONDER_DELETE)
AUDITED["filters.delete"] = (_delete_first_filter, A.FILTER_DELETE)

EXEMPT_DOMAINS: dict[str, str] = {
    "logs": "log writes are the record themselves (command and error log); auditing them would log the log",
    "jobs": "job bookkeeping (claims, leases, retries): the job table is its own trail; the domain work a job "
    "does is audited with source 'job'",
    "afk": "a member's own status, set and cleared by them or by its expiry; no one else's settings change",
    "reminders": "a member's own reminders and their delivery state; private, and not configuration",
    "bookmarks": "a member's own saved messages; private, and not configuration",
    "leaderboards": "Redis only, rebuilt from PostgreSQL: nothing durable changes",
    "events": "the Discord event trail records what happened on Discord, not a change made through guildbase; "
    "it is a trail itself (its retention drops whole partitions by policy)",
    "security": "the security event trail is a trail itself (append-only; its retention drops whole partitions)",
    "oauth_tokens": "a user's own login tokens, not configuration; the login itself is a security event",
    "encryption": "key rotation rewrites ciphertext, never a value; each run is recorded as a key_rotation event",
    "runtime_metrics": "a process's own measurements (latency, pool, lag), sampled; no one changes anything",
}
"""Whole domains whose writes are not audited, and why (docs/audit.md repeats this list)."""

EXEMPT_METHODS: dict[str, str] = {
    "levels.award_message_xp": "per-message XP, the hot path: one row per message would dwarf the trail; "
    "hand edits of XP are audited (set_xp, reset)",
    "starboard.add_star": "star counts: a reaction, recorded as the starboard_star row itself",
    "starboard.remove_star": "star counts: a reaction removed, as above",
    "starboard.set_posted_message": "star bookkeeping: which board message the bot posted",
    "members.ensure": "mirrors Discord's membership (a gateway event), decided by no one here",
    "members.leave": "mirrors Discord's membership, as above",
    "integrations.fetch": "a feed's fetch state and seen items, kept by its job; the configuration it follows "
    "is audited (create, update, remove)",
    "tickets.can": "an access check; a refusal is logged to the ticket's own trail (ticket_event), not a change",
    "tickets.set_channel": "bookkeeping: which channel or thread the bot made for the ticket",
    "tickets.record_message": "a message posted in a ticket: the transcript row is its own record (and the "
    "close request it cancels is audited through the same path as cancel_close_request)",
    "tickets.record_edit": "a message edited on Discord: archived in the transcript's edits",
    "tickets.erase_author": "the privacy erase: an audit row keeping what was erased would defeat it",
    "api_keys.verify": "a key's use (last_used_at): recorded as an api_key_used or api_key_refused security event",
    "snippets.use": "a use is counted (uses + 1), nothing is changed; the count is its own record",
    "custom_commands.invoke": "a run is counted (uses + 1, the member's cooldown), nothing is configured",
    "polls.vote": "a member's own vote: the poll_vote row is its record, like a star",
    "polls.retract": "a member's own vote taken back, as above",
    "polls.set_message": "poll bookkeeping: which message the bot posted it as",
    "autoresponders.respond": "the message path: hit counts and cooldowns only, no configuration changes",
    "autoresponders.flush_hits": "hit counts written out in a batch: statistics, not configuration",
    "filters.check": "the message path: hit counts only, no configuration changes",
    "filters.flush_hits": "hit counts written out in a batch: statistics, not configuration",
    "permissions.register_commands": "the bot's own command tree at startup, not a guild's configuration",
    "permissions.check": "a check is recorded in the permission_check log (R22.5), the trail of checks itself",
    "permissions.write_checks": "the check log's batch write, as above",
    "permissions.flush": "the check log's buffer written out, as above",
    "permissions.close": "the check log's buffer written out at shutdown, as above",
    "partitions.maintain": "partitions created ahead and dropped past retention: DDL by policy, not configuration",
}
"""Single methods whose writes are not audited, and why."""


def _mutating(db: Database) -> set[str]:
    return _facade_methods(db) - READS


def _exempt(name: str) -> bool:
    return name in EXEMPT_METHODS or name.partition(".")[0] in EXEMPT_DOMAINS


def test_every_mutating_method_is_audited_or_exempt(settings: Any) -> None:
    mutating = _mutating(Database(settings))
    assert set(AUDITED) & set(EXEMPT_METHODS) == set(), "a method is both audited and exempt"
    assert not [name for name in AUDITED if name.partition(".")[0] in EXEMPT_DOMAINS], "audited in an exempt domain"
    unplaced = {name for name in mutating if name not in AUDITED and not _exempt(name)}
    assert unplaced == set(), "audit the new method with db.audit.record_audit, or exempt it here with the reason"
    assert (set(AUDITED) | set(EXEMPT_METHODS)) - mutating == set(), "a listed method no longer exists or mutates"


async def _last_audit_id(db: Database) -> int:
    async with db.session() as session:
        return int((await session.execute(select(func.coalesce(func.max(AuditLog.audit_id), 0)))).scalar_one())


async def assert_audited(db: Database, call: Call, action: AuditAction, actor: int, correlation: str) -> None:
    """Run ``call`` as ``actor`` from the dashboard; it must write a row of ``action``, and every row names them."""
    since = await _last_audit_id(db)
    with acting_as(actor), audit_context(AuditSource.DASHBOARD, correlation_id=correlation):
        await call(db)
    async with db.session() as session:
        rows = (await session.scalars(select(AuditLog).where(col(AuditLog.audit_id) > since))).all()
    assert action in [row.action for row in rows], f"no {action} row; it wrote {[row.action for row in rows]}"
    for row in rows:
        assert (row.actor_id, row.source, row.correlation_id) == (actor, AuditSource.DASHBOARD, correlation), row


async def test_every_audited_method_writes_its_row_with_actor_source_and_correlation(pooled_db: Database) -> None:
    await _seed(pooled_db)
    for index, (name, (call, action)) in enumerate(AUDITED.items()):
        try:
            await assert_audited(pooled_db, call, action, ACTOR + index, f"test:{name}")
        except AssertionError as error:
            pytest.fail(f"{name}: {error}")


class _Forgetful(Controller):
    """A throwaway controller method that changes configuration and forgets ``record_audit``."""

    async def set_locale(self, guild_id: int, locale: str) -> None:
        async with self._write() as session:
            await session.execute(
                update(GuildConfig).where(col(GuildConfig.guild_id) == guild_id).values(locale=locale)
            )


async def test_a_method_that_forgets_the_audit_helper_is_caught(pooled_db: Database) -> None:
    await _seed(pooled_db)
    forgetful = _Forgetful(pooled_db)
    with pytest.raises(AssertionError, match="no config_update row"):
        await assert_audited(pooled_db, lambda _db: forgetful.set_locale(GUILD, "de"), A.CONFIG_UPDATE, ACTOR, "t")
    good = AUDITED["guild_config.update"][0]
    await assert_audited(pooled_db, good, A.CONFIG_UPDATE, ACTOR, "t")


async def _counts(db: Database) -> tuple[int, int]:
    async with db.session() as session:
        audits = (await session.execute(select(func.count()).select_from(AuditLog))).scalar_one()
        cases = (await session.execute(select(func.count()).select_from(Case))).scalar_one()
    return int(audits), int(cases)


async def test_a_failed_write_leaves_no_audit_row(pooled_db: Database) -> None:
    await pooled_db.guilds.join(GUILD)
    before = await _counts(pooled_db)
    checked = CaseCreate(guild_id=GUILD, type="WARN", user_id=USER, moderator_id=MOD)
    with pytest.raises(RuntimeError):
        async with pooled_db.session() as session:  # the case and its audit row, then the caller fails
            await pooled_db.cases.create_in(session, checked)
            raise RuntimeError
    assert await _counts(pooled_db) == before
    with pytest.raises(GuildbaseError):  # a bad expiry fails inside the method: nothing is left either
        await pooled_db.cases.create(GUILD, USER, MOD, CaseType.WARN, expires_at=utcnow() + timedelta(hours=1))
    assert await _counts(pooled_db) == before
    assert (await pooled_db.cases.create(GUILD, USER, MOD, CaseType.WARN)).number == 1


async def test_an_audit_row_that_cannot_be_written_undoes_the_change_on_both_paths(pooled_db: Database) -> None:
    await pooled_db.guilds.join(GUILD)
    before = await _counts(pooled_db)
    too_long = "x" * 101  # breaks ck_audit_log_entity_id_length
    with pytest.raises(GuildbaseError):
        async with pooled_db.session() as session:
            await session.execute(update(GuildConfig).where(col(GuildConfig.guild_id) == GUILD).values(locale="de"))
            await record_audit(
                session, A.CONFIG_UPDATE, AuditEntity.GUILD_CONFIG, too_long, guild_id=GUILD, after={"a": 1}
            )
    with pytest.raises(GuildbaseError):
        async with pooled_db._driver() as unit:  # the hot path's unit, with its transaction
            await unit.connection.execute(
                "INSERT INTO guild_counter (guild_id, kind, last_value) VALUES ($1, 'case', 7)", GUILD
            )
            await record_audit(unit, A.CASE_CREATE, AuditEntity.CASE, too_long, guild_id=GUILD, after={"a": 1})
    assert await _counts(pooled_db) == before
    assert (await pooled_db.guild_config.get(GUILD)).locale != "de"
    assert (await pooled_db.cases.create(GUILD, USER, MOD, CaseType.WARN)).number == 1
