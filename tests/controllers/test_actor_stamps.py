"""Every mutating controller method stamps the acting user, whatever path it writes through.

The methods are discovered from the facade (every public coroutine of every
controller), and each must be classified below: run under ``acting_as`` and
checked (``STAMPED``), or listed with the tables it writes, none of which
carries actor columns (``UNSTAMPED``), or a hard delete (``DELETES``), or
read-only (``READS``), or exempt with the reason (``EXEMPT``). A new method fails
``test_every_controller_method_is_classified`` until it is placed.

"Rows it wrote" is exact: each call runs in its own transactions on a pooled
database, and the rows whose ``xmin`` is newer than a transaction id taken
just before the call are the rows the call inserted or updated.
"""

import inspect
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, text, update
from sqlmodel import SQLModel, col
from stamp_calls import (
    ACTOR,
    AUTOMOD_CALLS,
    CHANNEL,
    FRESH_GUILD,
    GUILD,
    MOD,
    PREMIUM_CALLS,
    PREMIUM_TABLES,
    READS,
    ROLE,
    USER,
    Call,
    _close_poll_in,
    _command_rank,
    _create_in,
    _mark_expired_in,
    _mark_processed_in,
    _revoke_newest_key,
    _update_ticket_panel,
)

from guildbase import Database, acting_as
from guildbase.controllers.base import Controller
from guildbase.db.mixins import AuditMixin, SoftDeleteMixin
from guildbase.db.types import utcnow
from guildbase.models.moderation import Case

# method → (the call, the stamped tables it must write). Ordered: later calls use earlier rows.
STAMPED: dict[str, tuple[Call, set[str]]] = {
    "guilds.join": (lambda db: db.guilds.join(FRESH_GUILD), {"guild_config"}),
    "guild_config.update": (lambda db: db.guild_config.update(GUILD, locale="fr"), {"guild_config"}),
    "guild_config.set_prefix": (lambda db: db.guild_config.set_prefix(GUILD, "!"), {"guild_config"}),
    "guild_config.add_prefix": (lambda db: db.guild_config.add_prefix(GUILD, "?"), {"guild_config"}),
    "guild_config.remove_prefix": (lambda db: db.guild_config.remove_prefix(GUILD, "?"), {"guild_config"}),
    "guild_config.set_feature": (
        lambda db: db.guild_config.set_feature(GUILD, "levels", enabled=False),
        {"guild_feature"},
    ),
    "cases.create": (
        lambda db: db.cases.create(GUILD, USER, MOD, "TEMPBAN", expires_at=utcnow() + timedelta(hours=1)),
        {"mod_case"},
    ),
    "cases.create_in": (_create_in, {"mod_case"}),
    "cases.update_reason": (lambda db: db.cases.update_reason(GUILD, 2, "spam"), {"mod_case"}),
    "cases.void": (lambda db: db.cases.void(GUILD, 2), {"mod_case"}),
    "cases.set_mod_log_message": (lambda db: db.cases.set_mod_log_message(GUILD, 1, CHANNEL), {"mod_case"}),
    "cases.mark_expired": (lambda db: db.cases.mark_expired(GUILD, 1), {"mod_case"}),
    "cases.mark_expired_in": (_mark_expired_in, {"mod_case"}),
    "cases.mark_processed": (lambda db: db.cases.mark_processed(GUILD, 4), {"mod_case"}),
    "cases.mark_processed_in": (_mark_processed_in, {"mod_case"}),
    "notes.create": (lambda db: db.notes.create(GUILD, USER, MOD, "watch them"), {"note"}),
    "notes.edit": (lambda db: db.notes.edit(GUILD, 1, "keep watching"), {"note"}),
    "notes.delete": (lambda db: db.notes.delete(GUILD, 1), {"note"}),
    "blacklist.remove": (lambda db: db.blacklist.remove("user", USER), {"global_blacklist"}),
    "levels.set_xp": (lambda db: db.levels.set_xp(GUILD, USER, 500), {"member_level"}),
    "levels.reset": (lambda db: db.levels.reset(GUILD, USER), {"member_level"}),
    "levels.blacklist": (lambda db: db.levels.blacklist(GUILD, USER), {"member_level"}),
    "levels.unblacklist": (lambda db: db.levels.unblacklist(GUILD, USER), {"member_level"}),
    "levels.configure": (lambda db: db.levels.configure(GUILD, cooldown_seconds=30), {"level_config"}),
    "levels.set_level_role": (lambda db: db.levels.set_level_role(GUILD, 5, ROLE), {"level_role"}),
    "starboard.configure": (lambda db: db.starboard.configure(GUILD, channel_id=CHANNEL), {"starboard"}),
    "mod_settings.configure": (lambda db: db.mod_settings.configure(GUILD, is_user_notified=True), {"mod_config"}),
    "mod_settings.set_default_duration": (
        lambda db: db.mod_settings.set_default_duration(GUILD, "tempban", timedelta(days=1)),
        {"mod_action_config"},
    ),
    "mod_settings.set_log_channel": (
        lambda db: db.mod_settings.set_log_channel(GUILD, "tempban", CHANNEL),
        {"mod_action_config"},
    ),
    "mod_settings.set_rule": (
        lambda db: db.mod_settings.set_rule(GUILD, 3, within=timedelta(days=7), action="kick"),
        {"mod_escalation_rule"},
    ),
    "integrations.create": (
        lambda db: db.integrations.create(
            GUILD, name="news", source="feed", url="https://example.org/feed.xml", channel_id=CHANNEL
        ),
        {"integration"},
    ),
    "integrations.update": (lambda db: db.integrations.update(GUILD, "news", interval_seconds=600), {"integration"}),
    "integrations.reset_state": (lambda db: db.integrations.reset_state(GUILD, "news"), {"integration"}),
    "tickets.create_panel": (
        lambda db: db.tickets.create_panel(GUILD, "Support", staff_role_ids=[ROLE]),
        {"ticket_panel"},
    ),
    "tickets.update_panel": (_update_ticket_panel, {"ticket_panel"}),
    "api_keys.create": (lambda db: db.api_keys.create("ci", guild_ids=[GUILD], actions=["cases:read"]), {"api_key"}),
    "api_keys.revoke": (_revoke_newest_key, {"api_key"}),
    **{name: (call, PREMIUM_TABLES.get(name, {"subscription"})) for name, call in PREMIUM_CALLS.items()},
    "snippets.create": (lambda db: db.snippets.create(GUILD, "faq", "Read the pins.", author_id=USER), {"snippet"}),
    "snippets.edit": (lambda db: db.snippets.edit(GUILD, "faq", "Pinned.", editor_id=USER), {"snippet"}),
    "snippets.set_locked": (lambda db: db.snippets.set_locked(GUILD, "faq", locked=True), {"snippet"}),
    "custom_commands.create": (
        lambda db: db.custom_commands.create(GUILD, "greet", "Hi {1}", author_id=USER),
        {"custom_command"},
    ),
    "custom_commands.edit": (
        lambda db: db.custom_commands.edit(GUILD, "greet", cooldown_seconds=5),
        {"custom_command"},
    ),
    "polls.create": (lambda db: db.polls.create(GUILD, CHANNEL, USER, "Lunch?", ["pizza", "sushi"]), {"poll"}),
    "polls.set_message": (lambda db: db.polls.set_message(GUILD, 1, CHANNEL), {"poll"}),
    "polls.close": (lambda db: db.polls.close(GUILD, 1), {"poll"}),
    "polls.close_in": (_close_poll_in, {"poll"}),
    "polls.delete": (lambda db: db.polls.delete(GUILD, 1), {"poll"}),
    "permissions.set_rank_name": (lambda db: db.permissions.set_rank_name(GUILD, 3, "Helper"), {"permission_rank"}),
    "permissions.set_role_rank": (lambda db: db.permissions.set_role_rank(GUILD, ROLE, 3), {"permission_role_rank"}),
    "permissions.set_role_ranks": (
        lambda db: db.permissions.set_role_ranks(GUILD, {ROLE: 4}),
        {"permission_role_rank"},
    ),
    "permissions.set_command_rank": (_command_rank, {"permission_command_rank"}),
    "permissions.set_unconfigured_allowed": (
        lambda db: db.permissions.set_unconfigured_allowed(GUILD, False),
        {"permission_config"},
    ),
    "permissions.add_rule": (
        lambda db: db.permissions.add_rule(GUILD, "role", ROLE, "all", None, effect="deny"),
        {"permission_rule"},
    ),
}
STAMPED.update(AUTOMOD_CALLS)

# method → the tables it writes; none of them has actor columns (checked below).
VOICE = {"voice_session", "voice_stat_daily", "voice_stat_user_daily", "voice_stat_channel_daily"}
"""What a voice change writes (besides its ``voice_event`` row), and so what the voice-state writer adds to a flush."""
UNSTAMPED: dict[str, set[str]] = {
    "guilds.leave": {"guild"},
    "members.ensure": {"discord_user", "member"},
    "members.leave": {"member"},
    "members.set_blacklisted": {"discord_user", "member"},
    "blacklist.add": {"global_blacklist"},  # who added it is ``author_id``, given by the caller
    "afk.set": {"afk"},
    "afk.clear": {"afk"},
    "afk.clear_expired_in": {"afk"},
    "levels.set_multiplier": {"level_multiplier"},
    "levels.remove_multiplier": {"level_multiplier"},
    "leaderboards.rebuild": set(),  # Redis only
    "leaderboards.record": set(),
    "leaderboards.forget_member": set(),
    "leaderboards.invalidate": set(),
    "starboard.add_star": {"starboard_entry", "starboard_star"},
    "starboard.remove_star": {"starboard_entry", "starboard_star"},
    "starboard.set_posted_message": {"starboard_entry"},
    "reminders.create": {"reminder"},
    "reminders.cancel": {"reminder"},
    "reminders.mark_delivered_in": {"reminder"},
    "reminders.mark_given_up_in": {"reminder"},
    "bookmarks.add": {"bookmark"},
    "bookmarks.delete": {"bookmark"},
    "jobs.enqueue": {"job"},
    "jobs.schedule": {"job"},
    "jobs.enqueue_in": {"job"},
    "jobs.cancel_in": {"job"},
    "jobs.claim": {"job"},
    "jobs.complete_in": {"job"},
    "jobs.fail": {"job"},
    "jobs.fail_in": {"job"},
    "jobs.release": {"job"},
    "jobs.renew": {"job"},
    "jobs.retry": {"job"},
    "jobs.purge": {"job"},
    "logs.record_command": {"command_log", "command_stat_daily"},
    "logs.record_error": {"error_group", "error_group_daily", "error_log"},
    "logs.write_errors": {"error_group", "error_group_daily", "error_log"},
    "logs.write_commands": {"command_log", "command_stat_daily"},
    "logs.replay_spilled": {"command_log", "command_stat_daily"},
    "logs.flush": {"command_log", "command_stat_daily", "error_group", "error_group_daily", "error_log"},
    "logs.close": {"command_log", "command_stat_daily", "error_group", "error_group_daily", "error_log"},
    "logs.ensure_partitions": set(),  # DDL
    "logs.drop_partitions_before": set(),
    "events.record_guild_event": {"guild_event", "member_stat_daily"},
    "events.record_member_update": {"guild_event", "role_stat_daily"},
    "events.record_reaction": {"reaction_event"},
    "events.record_message": {"message_stat_daily", "message_stat_user_daily", "message_stat_channel_daily"},
    "events.write_guild_events": {"guild_event", "member_stat_daily", "role_stat_daily"},
    "events.write_reactions": {"reaction_event"},
    "events.write_voice_events": {"voice_event"},
    "events.write_messages": {"message_stat_daily", "message_stat_user_daily", "message_stat_channel_daily"},
    "events.write_voice_states": {*VOICE, "voice_event"},
    "events.flush": {"guild_event", "member_stat_daily", "role_stat_daily", "reaction_event", "voice_event", *VOICE},
    "events.close": {"guild_event", "member_stat_daily", "role_stat_daily", "reaction_event", "voice_event", *VOICE},
    "events.voice_update": {*VOICE, "voice_event"},
    "events.record_voice_state": {*VOICE, "voice_event"},
    "events.close_voice_sessions": VOICE,
    "events.resync_voice": {*VOICE, "voice_event"},
    "events.invite_created": {"invite", "guild_event"},
    "events.invite_deleted": {"invite", "guild_event"},
    "events.sync_invites": {"invite", "invite_tally"},
    "events.member_joined": {"invite", "invite_tally", "invite_use", "guild_event", "member_stat_daily"},
    "events.maintain_partitions": set(),  # DDL
    # tickets: the ticket row has no actor columns; each change's ticket_event row names its actor
    "tickets.open": {"ticket", "ticket_event", "ticket_daily"},
    "tickets.can": {"ticket_event"},  # a refusal is logged
    "tickets.set_channel": {"ticket", "job"},
    "tickets.claim": {"ticket", "ticket_event", "job"},
    "tickets.unclaim": {"ticket", "ticket_event"},
    "tickets.transfer": {"ticket", "ticket_event"},
    "tickets.rename": {"ticket", "ticket_event"},
    "tickets.add_participant": {"ticket_participant", "ticket_event"},
    "tickets.remove_participant": {"ticket_participant", "ticket_event"},
    "tickets.request_close": {"ticket", "ticket_event", "job"},
    "tickets.cancel_close_request": {"ticket", "ticket_event", "job"},
    "tickets.close": {"ticket", "ticket_event", "ticket_daily", "ticket_daily_duration", "job"},
    "tickets.reopen": {"ticket", "ticket_event", "ticket_daily", "job"},
    "tickets.rate": {"ticket", "ticket_event", "ticket_daily"},
    "tickets.close_scheduled_in": {"ticket", "ticket_event", "ticket_daily", "ticket_daily_duration", "job"},
    "tickets.close_idle_in": {"ticket", "ticket_event", "ticket_daily", "ticket_daily_duration", "job"},
    "tickets.opener_left": {"ticket", "ticket_event", "ticket_daily", "ticket_daily_duration", "job"},
    "tickets.record_message": {
        "ticket_message",
        "ticket",
        "ticket_event",
        "ticket_daily",
        "ticket_daily_duration",
        "job",
    },
    "tickets.record_edit": {"ticket_message"},
    "tickets.erase_author": {"ticket_message"},
    "security.record": {"security_event"},
    "security.maintain_partitions": set(),  # DDL
    "oauth_tokens.store": {"discord_user", "oauth_token"},
    "oauth_tokens.refresh": {"oauth_token"},
    "encryption.rotate": {"oauth_token", "security_event"},
    "premium.map_sku": {"premium_sku"},
    "premium.record_payment": {"payment_transaction"},
    "premium.refund": {"payment_transaction"},
    "snippets.add_alias": {"snippet_name"},
    "polls.vote": {"poll_vote", "poll_option"},
    "polls.retract": {"poll_vote", "poll_option"},
    "permissions.register_commands": {"bot_command"},
    "permissions.check": {"permission_check"},
    "permissions.write_checks": {"permission_check"},
    "permissions.flush": {"permission_check"},
    "permissions.close": {"permission_check"},
    "runtime_metrics.record_samples": {"runtime_metric_sample"},
    "runtime_metrics.maintain_partitions": set(),  # DDL
    "partitions.maintain": set(),  # DDL
    "privacy.export_to": {"privacy_request", "audit_log"},
}

# Hard deletes: no row is left to carry a stamp (their audit_log row names who did it).
DELETES = {
    "guilds.delete",
    "levels.remove_level_role",
    "mod_settings.remove_rule",
    "integrations.remove",
    "oauth_tokens.revoke",
    "snippets.remove_alias",
    "snippets.delete",
    "custom_commands.delete",
    "autoresponders.delete",
    "filters.delete",
    "permissions.remove_rule",
    "permissions.remove_expired",
}

EXEMPT: dict[str, str] = {
    "levels.award_message_xp": "per-message XP: updated_by records who set or reset XP by hand (models/levels.py)",
    "integrations.fetch": "fetch state written by the feed's job with nobody acting; who configured it is kept",
    "api_keys.verify": "a key's use sets last_used_at only: the key is the one acting, recorded as a security event",
    "snippets.use": "a use only counts (uses + 1): updated_by records the last editor of the snippet",
    "custom_commands.invoke": "a run only counts (uses + 1, the member's cooldown row): updated_by is the last editor",
    "autoresponders.respond": "the message path: only hit counts change; updated_by names who edited the trigger",
    "autoresponders.flush_hits": "hit counts, as above",
    "filters.check": "the message path: only hit counts change; updated_by names who edited the rule",
    "filters.flush_hits": "hit counts, as above",
    "privacy.erase": "rewrites the erased user's actor stamps to the tombstone on purpose (R10.2); privacy_request "
    "and its audit row record who asked",
}


def _table_models(mixin: type[SQLModel]) -> dict[str, type[SQLModel]]:
    found: dict[str, type[SQLModel]] = {}
    pending = list(mixin.__subclasses__())
    while pending:
        model = pending.pop()
        pending.extend(model.__subclasses__())
        table = getattr(model, "__table__", None)
        if table is not None:
            found[table.name] = model
    return found


AUDITED = _table_models(AuditMixin)
SOFT_DELETED = _table_models(SoftDeleteMixin)
STAMPED_TABLES = sorted(AUDITED.keys() | SOFT_DELETED.keys())


def _facade_methods(db: Database) -> set[str]:
    return {
        f"{attr}.{name}"
        for attr, controller in vars(db).items()
        if isinstance(controller, Controller)
        for name, _ in inspect.getmembers(type(controller), inspect.iscoroutinefunction)
        if not name.startswith("_")
    }


def test_every_controller_method_is_classified(settings: Any) -> None:
    groups = [set(STAMPED), set(UNSTAMPED), DELETES, set(EXEMPT), READS]
    assert sum(len(group) for group in groups) == len(set().union(*groups)), "a method is listed twice"
    discovered = _facade_methods(Database(settings))
    assert discovered - set().union(*groups) == set(), "classify the new method in this module"
    assert set().union(*groups) - discovered == set(), "a listed method no longer exists"


def test_tables_said_to_carry_no_stamp_really_have_no_audit_columns() -> None:
    written = set().union(*UNSTAMPED.values())
    assert written & AUDITED.keys() == set(), "this table is audited: move its writers to STAMPED"
    assert set().union(*(tables for _, tables in STAMPED.values())) <= set(STAMPED_TABLES)


async def _position(db: Database) -> tuple[int, Any]:
    async with db.session() as session:
        row = (await session.execute(text("SELECT txid_current() % 4294967296, clock_timestamp()"))).one()
    return int(row[0]), row[1]


async def _written(db: Database, since_xid: int) -> dict[str, list[dict[str, Any]]]:
    """Every row of a stamped table inserted or updated by a transaction newer than ``since_xid``."""
    written: dict[str, list[dict[str, Any]]] = {}
    async with db.session() as session:
        for table in STAMPED_TABLES:
            result = await session.execute(
                text(f"SELECT * FROM {table} WHERE xmin::text::bigint > :xid"),  # table names from the metadata
                {"xid": since_xid},
            )
            rows = [dict(row) for row in result.mappings()]
            if rows:
                written[table] = rows
    return written


async def assert_stamped(db: Database, call: Call, tables: set[str], actor: int) -> None:
    """Run ``call`` as ``actor``; every row it wrote in a stamped table carries ``actor``."""
    xid, started = await _position(db)
    with acting_as(actor):
        await call(db)
    written = await _written(db, xid)
    assert tables <= written.keys(), f"expected writes to {sorted(tables)}, found {sorted(written)}"
    for table, rows in written.items():
        for row in rows:
            if table in AUDITED:
                assert row["updated_by"] == actor, f"{table}: updated_by={row['updated_by']} for {row}"
                if row["created_at"] >= started:
                    assert row["created_by"] == actor, f"{table}: created_by={row['created_by']} for {row}"
            if table in SOFT_DELETED and row["deleted_at"] is not None and row["deleted_at"] >= started:
                assert row["deleted_by"] == actor, f"{table}: deleted_by={row['deleted_by']} for {row}"


async def _seed(db: Database) -> None:
    await db.guilds.join(GUILD)
    later = utcnow() + timedelta(hours=1)
    await db.cases.create(GUILD, USER, MOD, "TEMPBAN", expires_at=later)  # 1: claimed, then expired
    await db.cases.create(GUILD, USER, MOD, "WARN")  # 2: reason, void
    await db.cases.create(GUILD, USER, MOD, "TEMPBAN", expires_at=later)  # 3: expired in a transaction
    await db.cases.create(GUILD, USER, MOD, "WARN")  # 4, 5: processed
    await db.cases.create(GUILD, USER, MOD, "WARN")
    await db.blacklist.add("user", USER, reason="raid")


async def test_every_mutating_method_stamps_the_acting_user(pooled_db: Database) -> None:
    await _seed(pooled_db)
    for index, (name, (call, tables)) in enumerate(STAMPED.items()):
        try:
            await assert_stamped(pooled_db, call, tables, ACTOR + index)
        except AssertionError as error:
            pytest.fail(f"{name}: {error}")


async def test_a_write_that_skips_the_actor_helper_is_caught(pooled_db: Database) -> None:
    await _seed(pooled_db)

    async def forgets_the_helper(db: Database) -> None:
        async with db.session() as session:  # Core, by hand: no actor_columns(Case, "update")
            await session.execute(
                update(Case)
                .where(col(Case.guild_id) == GUILD, col(Case.number) == 2)
                .values(reason="edited", updated_at=func.now())
            )

    with pytest.raises(AssertionError, match=f"mod_case: updated_by=(?!{ACTOR})"):
        await assert_stamped(pooled_db, forgets_the_helper, {"mod_case"}, ACTOR)
    await assert_stamped(pooled_db, lambda db: db.cases.update_reason(GUILD, 2, "edited"), {"mod_case"}, ACTOR)
