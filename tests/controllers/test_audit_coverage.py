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
from test_actor_stamps import CHANNEL, GUILD, MOD, READS, ROLE, USER, _facade_methods, _seed

from guildbase import AuditSource, Database, acting_as, audit_context
from guildbase.controllers.base import Controller
from guildbase.db.audit import record_audit
from guildbase.db.types import utcnow
from guildbase.errors import GuildbaseError
from guildbase.models.audit import AuditAction, AuditEntity, AuditLog
from guildbase.models.core import GuildConfig
from guildbase.models.moderation import Case, CaseCreate, CaseType

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
    "privacy.export_to": (lambda db: db.privacy.export_to(io.StringIO(), USER, requested_by=MOD), A.PRIVACY_EXPORT),
    "privacy.erase": (lambda db: db.privacy.erase(USER, requested_by=MOD), A.PRIVACY_ERASE),  # last: USER is gone
}

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
