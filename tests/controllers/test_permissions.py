"""Permissions through the facade (R3.3, R4.5, R22): ranks, rules, expiry, caching across processes, audit, check log.

The precedence itself is proven in ``test_permission_eval.py``; here every
path ``db.permissions.check`` takes is run against PostgreSQL and Redis: the
stored rules and ranks decide, a cache hit runs no SQL, an expiry applies at
its moment without a restart, another process sees a change within a second,
every change has its audit row, and every check reaches the log, even at
shutdown.
"""

import asyncio
import time
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from sqlalchemy import func, select, text
from sqlmodel import col
from test_permission_eval import MODULE as REF_MODULE
from test_permission_eval import Use, reference, rule_sets, uses

from guildbase import Database, Settings
from guildbase.controllers import permissions as permissions_module
from guildbase.db.context import acting_as
from guildbase.db.types import utcnow
from guildbase.errors import ConflictError, ValidationError
from guildbase.models.audit import AuditAction, AuditLog
from guildbase.models.permissions import (
    DecidedBy,
    PermissionCheck,
    PermissionRule,
    PermissionSetRead,
    legacy_role_ranks,
)
from guildbase.testing import ids, statements_on

pytestmark = pytest.mark.clock  # expiries are measured from now

BLOCK = ids.block()
GUILD = BLOCK + 1
USER = BLOCK + 101
OTHER_USER = BLOCK + 102
HELPER_ROLE = BLOCK + 201
MOD_ROLE = BLOCK + 202
MUTED_ROLE = BLOCK + 203
CHANNEL = BLOCK + 301
BOTS_CHANNEL = BLOCK + 302
ADMIN = BLOCK + 401
TREE = {"ban": "Moderation", "warn": "Moderation", "mod": "Moderation", "mod ban": "Moderation", "ping": "Config"}


async def setup(db: Database) -> None:
    await db.guilds.join(GUILD)
    await db.permissions.register_commands(TREE)


async def check(db: Database, command: str = "ban", *, user_id: int = USER, **use: Any) -> Any:
    context = {"role_ids": (), "channel_id": CHANNEL, "module": TREE.get(command)} | use
    return await db.permissions.check(GUILD, user_id, command=command, **context)


@pytest.fixture
async def db(pooled_db: Database) -> Database:
    """A pooled database: checks hand rows to the check log's writer, whose flush runs in a task of its own."""
    return pooled_db


@pytest.fixture
async def guild(db: Database) -> int:
    await setup(db)
    return GUILD


# -- ranks --------------------------------------------------------------------------------------
async def test_ranks_decide_by_the_members_highest_role_with_parent_and_module_fallback(
    db: Database, guild: int
) -> None:
    await db.permissions.set_rank_name(guild, 5, "Moderator")
    await db.permissions.set_role_ranks(guild, {HELPER_ROLE: 2, MOD_ROLE: 5})
    await db.permissions.set_command_rank(guild, "module", "Moderation", 5)
    await db.permissions.set_command_rank(guild, "command", "warn", 2)
    await db.permissions.set_command_rank(guild, "command", "mod", 3)
    helper, mod = (HELPER_ROLE,), (MOD_ROLE,)
    assert (await check(db, "ban", role_ids=(HELPER_ROLE,))).allowed is False  # module rank 5
    assert (await check(db, "ban", role_ids=(HELPER_ROLE, MOD_ROLE))).allowed is True  # the highest rank counts
    assert (await check(db, "warn", role_ids=helper)).allowed is True  # its own rank 2
    sub = await check(db, "mod ban", role_ids=helper)
    assert (sub.allowed, sub.required_rank, sub.target) == (False, 3, "command:mod")  # the parent's rank
    assert (await check(db, "mod ban", role_ids=mod)).allowed is True
    decision = await check(db, "ban")
    assert decision.reason() == "denied: module:Moderation needs rank 5 (Moderator), the member has rank 0"
    assert (await check(db, "ping")).decided_by is DecidedBy.DEFAULT


async def test_owners_pass_and_the_unconfigured_default_is_per_guild(db: Database, guild: int) -> None:
    await db.permissions.set_unconfigured_allowed(guild, False)
    assert (await check(db, "ping")).allowed is False
    for owner in ({"is_guild_owner": True}, {"is_bot_owner": True}):
        assert (await check(db, "ping", **owner)).decided_by is DecidedBy.OWNER
    await db.permissions.set_unconfigured_allowed(guild, True)
    assert (await check(db, "ping")).allowed is True


async def test_legacy_perm_levels_become_role_ranks(db: Database, guild: int) -> None:
    legacy = {f"perm_level_{n}_role_id": None for n in range(8)} | {
        "perm_level_2_role_id": HELPER_ROLE,
        "perm_level_7_role_id": MOD_ROLE,
        "perm_level_3_role_id": HELPER_ROLE,  # one role on two levels keeps the higher
    }
    assert legacy_role_ranks(legacy) == {HELPER_ROLE: 3, MOD_ROLE: 7}
    ranks = await db.permissions.set_role_ranks(guild, legacy_role_ranks(legacy))
    assert ranks.role_ranks == {HELPER_ROLE: 3, MOD_ROLE: 7}
    await db.permissions.set_role_rank(guild, HELPER_ROLE, None)
    assert (await db.permissions.get(guild)).role_ranks == {MOD_ROLE: 7}


# -- rules -----------------------------------------------------------------------------------
async def test_a_rule_decides_and_the_decision_names_it(db: Database, guild: int) -> None:
    muted = await db.permissions.add_rule(
        guild, "role", MUTED_ROLE, "module", "Moderation", effect="deny", reason="muted", author_id=ADMIN
    )
    helper = await db.permissions.add_rule(guild, "role", HELPER_ROLE, "command", "ban", effect="allow")
    denied = await check(db, "warn", role_ids=(MUTED_ROLE,))
    assert (denied.allowed, denied.rule, denied.level) == (False, muted, "role")
    assert f"rule #{muted.rule_id}" in denied.reason()
    allowed = await check(db, "ban", role_ids=(HELPER_ROLE, MUTED_ROLE))
    assert (allowed.allowed, allowed.rule) == (True, helper)  # the command's rule beats the module's
    assert (muted.reason, muted.author_id) == ("muted", ADMIN)


async def test_adding_the_same_subject_and_target_replaces_the_rule(db: Database, guild: int) -> None:
    first = await db.permissions.add_rule(guild, "channel", CHANNEL, "all", None, effect="deny")
    again = await db.permissions.add_rule(guild, "channel", CHANNEL, "all", None, effect="allow", reason="open")
    assert again.rule_id == first.rule_id
    assert [(r.effect.value, r.reason) for r in await db.permissions.rules(guild)] == [("allow", "open")]
    assert await db.permissions.remove_rule(guild, first.rule_id) is True
    assert await db.permissions.remove_rule(guild, first.rule_id) is False
    assert await db.permissions.rules(guild) == []


async def test_whitelist_and_blacklist_modes(db: Database, guild: int) -> None:
    await db.permissions.add_rule(guild, "channel", BOTS_CHANNEL, "command", "ping", effect="allow", is_whitelist=True)
    await db.permissions.add_rule(guild, "member", OTHER_USER, "command", "warn", effect="deny")  # blacklist
    assert (await check(db, "ping", channel_id=BOTS_CHANNEL)).allowed is True
    elsewhere = await check(db, "ping", channel_id=CHANNEL)
    assert (elsewhere.allowed, elsewhere.decided_by) == (False, DecidedBy.WHITELIST)
    assert (await check(db, "warn", user_id=OTHER_USER)).allowed is False
    assert (await check(db, "warn")).allowed is True


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (
            lambda db: db.permissions.add_rule(GUILD, "role", MUTED_ROLE, "command", "nuke", effect="deny"),
            "target_name",
        ),
        (lambda db: db.permissions.add_rule(GUILD, "role", MUTED_ROLE, "module", "Nope", effect="deny"), "target_name"),
        (
            lambda db: db.permissions.add_rule(GUILD, "role", MUTED_ROLE, "feature", "nope", effect="deny"),
            "target_name",
        ),
        (
            lambda db: db.permissions.add_rule(
                GUILD, "role", MUTED_ROLE, "all", None, effect="deny", expires_at=utcnow() - timedelta(seconds=1)
            ),
            "expires_at",
        ),
        (lambda db: db.permissions.add_rule(GUILD, "role", None, "all", None, effect="deny"), "subject_id"),
        (
            lambda db: db.permissions.add_rule(
                GUILD, "role", MUTED_ROLE, "all", None, effect="deny", is_whitelist=True
            ),
            "is_whitelist",
        ),
        (lambda db: db.permissions.set_role_rank(GUILD, HELPER_ROLE, 11), "rank_value"),
        (lambda db: db.permissions.set_role_rank(GUILD, HELPER_ROLE, -1), "rank_value"),
        (lambda db: db.permissions.set_rank_name(GUILD, 11, "God"), "rank_value"),
        (lambda db: db.permissions.set_command_rank(GUILD, "command", "nuke", 3), "target_name"),
        (lambda db: db.permissions.set_command_rank(GUILD, "feature", "levels", 3), "target_kind"),
        (lambda db: db.permissions.check(GUILD, USER, command=""), "command"),
    ],
    ids=[
        "unknown command",
        "unknown module",
        "unknown feature",
        "expiry in the past",
        "role without an ID",
        "whitelist deny",
        "rank 11",
        "rank -1",
        "name of rank 11",
        "rank for an unknown command",
        "rank for a feature",
        "empty command",
    ],
)
async def test_bad_rules_and_ranks_are_refused_by_name_and_write_nothing(
    db: Database, guild: int, call: Any, field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        await call(db)
    assert [e.field for e in caught.value.errors] == [field]
    assert await db.permissions.rules(guild) == []
    assert (await db.permissions.get(guild)).role_ranks == {}


async def test_a_guild_has_at_most_its_rule_budget(db: Database, guild: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(permissions_module, "MAX_RULES_PER_GUILD", 2)
    await db.permissions.add_rule(guild, "member", USER, "all", None, effect="deny")
    await db.permissions.add_rule(guild, "member", OTHER_USER, "all", None, effect="deny")
    with pytest.raises(ConflictError, match="already has 2 rules"):
        await db.permissions.add_rule(guild, "role", HELPER_ROLE, "all", None, effect="deny")
    await db.permissions.add_rule(guild, "member", USER, "all", None, effect="allow")  # a replacement fits


# -- caching, expiry, other processes -------------------------------------------------------------
async def test_a_cache_hit_runs_no_sql(pooled_db: Database) -> None:
    await setup(pooled_db)
    await pooled_db.permissions.add_rule(GUILD, "role", MUTED_ROLE, "all", None, effect="deny")
    assert (await check(pooled_db, role_ids=(MUTED_ROLE,))).allowed is False  # loads and compiles
    async with statements_on(pooled_db.engine) as statements:
        for _ in range(20):
            assert (await check(pooled_db, role_ids=(MUTED_ROLE,))).allowed is False
    assert statements == []


async def test_an_expiring_rule_stops_applying_at_its_expiry_without_a_restart(
    pooled_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    await setup(pooled_db)
    rule = await pooled_db.permissions.add_rule(
        GUILD, "member", USER, "command", "ban", effect="deny", expires_at=utcnow() + timedelta(hours=1)
    )
    assert (await check(pooled_db)).rule == rule
    real = time.time
    monkeypatch.setattr(permissions_module, "time", lambda: real() + 3601)  # the clock moves past the expiry
    async with statements_on(pooled_db.engine) as statements:
        decision = await check(pooled_db)
    assert (decision.allowed, decision.decided_by, statements) == (True, DecidedBy.DEFAULT, [])
    assert await pooled_db.permissions.rules(GUILD) == []
    removed = await pooled_db.permissions.remove_expired(now=utcnow() + timedelta(hours=2))  # what the job does
    assert removed == 1
    async with pooled_db.session() as session:
        left = await session.scalar(select(func.count()).select_from(PermissionRule))
        trail = (await session.scalars(select(AuditLog.action).where(col(AuditLog.guild_id) == GUILD))).all()
    assert left == 0
    assert AuditAction.PERMISSION_RULE_EXPIRE in trail


async def test_a_rule_change_in_one_process_applies_in_another_within_a_second(
    pooled_db: Database, settings: Settings
) -> None:
    if settings.redis_url is None:
        pytest.skip("needs a Redis server shared between processes")
    await setup(pooled_db)
    other = await Database(settings.model_copy(update={"local_cache_ttl_seconds": 600})).connect()
    try:
        assert (await check(other)).allowed is True  # compiled and kept for 10 minutes locally
        await pooled_db.permissions.add_rule(GUILD, "member", USER, "command", "ban", effect="deny")
        started = time.monotonic()
        while (await check(other)).allowed:
            assert time.monotonic() - started < 1.0, "the other process still allows after 1 s"
            await asyncio.sleep(0.005)
        await pooled_db.permissions.set_unconfigured_allowed(GUILD, False)
        while (await check(other, "ping")).allowed:
            assert time.monotonic() - started < 2.0, "the other process missed the second change"
            await asyncio.sleep(0.005)
    finally:
        await other.close()


# -- audit and the check log ----------------------------------------------------------------------
async def test_every_rank_and_rule_change_is_audited(db: Database, guild: int) -> None:
    with acting_as(ADMIN):
        await db.permissions.set_rank_name(guild, 3, "Helper")
        await db.permissions.set_role_rank(guild, HELPER_ROLE, 3)
        await db.permissions.set_command_rank(guild, "command", "ban", 3)
        await db.permissions.set_unconfigured_allowed(guild, False)
        rule = await db.permissions.add_rule(guild, "role", MUTED_ROLE, "all", None, effect="deny", reason="muted")
        await db.permissions.remove_rule(guild, rule.rule_id)
    async with db.session() as session:
        rows = (
            await session.scalars(select(AuditLog).where(col(AuditLog.guild_id) == guild).order_by(AuditLog.audit_id))
        ).all()
    changes = [(r.action, r.before, r.after, r.actor_id) for r in rows if r.action.value.startswith("permission")]
    assert changes[:4] == [
        (AuditAction.PERMISSION_RANKS, {}, {"rank.3": "Helper"}, ADMIN),
        (AuditAction.PERMISSION_RANKS, {}, {f"role.{HELPER_ROLE}": 3}, ADMIN),
        (AuditAction.PERMISSION_RANKS, {}, {"command:ban": 3}, ADMIN),
        (AuditAction.PERMISSION_RANKS, {"is_unconfigured_allowed": True}, {"is_unconfigured_allowed": False}, ADMIN),
    ]
    added, removed = changes[4:]
    assert (added[0], added[1], added[2]["effect"], added[2]["reason"]) == (
        AuditAction.PERMISSION_RULE_ADD, {}, "deny", "muted"
    )  # fmt: skip
    assert (removed[0], removed[1]["subject_id"], removed[2]) == (
        AuditAction.PERMISSION_RULE_REMOVE,
        str(MUTED_ROLE),
        {},
    )


async def test_checks_are_logged_with_the_deciding_rule_and_allows_are_sampled(db: Database, guild: int) -> None:
    rule = await db.permissions.add_rule(guild, "member", OTHER_USER, "all", None, effect="deny")
    await check(db, "ban", user_id=OTHER_USER)
    await check(db, "ping")
    await db.permissions.flush()
    logged = await db.permissions.recent_checks(guild)
    assert [(c.user_id, c.command, c.is_allowed, c.decided_by, c.rule_id) for c in logged] == [
        (USER, "ping", True, DecidedBy.DEFAULT, None),
        (OTHER_USER, "ban", False, DecidedBy.RULE, rule.rule_id),
    ]
    sampled = await Database(db.settings.model_copy(update={"permission_log_allow_rate": 0.0})).connect()
    try:  # allows at a rate of 0: none logged; denials still all
        await check(sampled, "ping", user_id=OTHER_USER + 1)
        await check(sampled, "warn", user_id=OTHER_USER)
        await sampled.permissions.flush()
    finally:
        await sampled.close()
    logged = await db.permissions.recent_checks(guild)
    assert [(c.user_id, c.command) for c in logged][:1] == [(OTHER_USER, "warn")]
    assert len(logged) == 3


async def test_no_check_is_lost_at_shutdown(settings: Settings, pooled_db: Database) -> None:
    await setup(pooled_db)
    database = await Database(settings.model_copy(update={"log_flush_seconds": 60})).connect()
    await database.permissions.add_rule(GUILD, "member", OTHER_USER, "all", None, effect="deny")
    for index in range(500):
        await check(database, "ban", user_id=OTHER_USER if index % 2 else USER)
    accepted = database.permissions.check_writer.accepted
    await database.close()  # nothing was flushed yet (60 s interval): close writes it all
    async with pooled_db.session() as session:
        stored = await session.scalar(select(func.count()).select_from(PermissionCheck))
        denied = await session.scalar(text("SELECT count(*) FROM permission_check WHERE NOT is_allowed"))
    assert (accepted, stored, denied) == (500, 500, 250)


async def test_the_expiry_job_kind_is_registered_as_maintenance() -> None:
    from guildbase.jobs import JobRegistry, register_maintenance  # noqa: PLC0415
    from guildbase.jobs.handlers import MAINTENANCE_KINDS  # noqa: PLC0415

    registry = JobRegistry()
    register_maintenance(registry)
    assert "permissions.expire" in MAINTENANCE_KINDS
    assert "permissions.expire" in registry.kinds


# -- the documented order, through the whole path -----------------------------------------------------
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(source=rule_sets(), use=uses())
async def test_check_agrees_with_the_reference_evaluator_on_stored_rules(
    db: Database, source: PermissionSetRead, use: Use
) -> None:
    """Generated rule sets stored through the facade; ``check`` answers like the brute-force reference."""
    guild = ids()
    await db.guilds.join(guild)
    await db.permissions.register_commands({"mod ban": REF_MODULE, "mod": REF_MODULE, "ping": REF_MODULE})
    for rule in source.rules:
        is_guild = rule.subject_kind.value == "guild"
        await db.permissions.add_rule(
            guild,
            rule.subject_kind,
            None if is_guild else rule.subject_id,
            rule.target_kind,
            None if rule.target_kind.value == "all" else rule.target_name,
            effect=rule.effect,
            is_whitelist=rule.is_whitelist,
        )
    await db.permissions.set_role_ranks(guild, source.role_ranks)
    for key, level in source.command_ranks.items():
        kind, _, name = key.partition(":")
        await db.permissions.set_command_rank(guild, kind, name, level)
    await db.permissions.set_unconfigured_allowed(guild, source.is_unconfigured_allowed)
    stored = await db.permissions.get(guild)
    decision = await db.permissions.check(
        guild,
        use.user_id,
        command=use.command,
        module=use.module,
        feature=use.feature,
        role_ids=use.role_ids,
        channel_id=use.channel_id,
        parent_id=use.parent_id,
        category_id=use.category_id,
        voice_channel_id=use.voice_channel_id,
        is_guild_owner=use.owner is not None,
    )
    expected = reference(stored, use, time.time())
    assert (decision.allowed, decision.decided_by, None if decision.rule is None else decision.rule.rule_id) == expected
