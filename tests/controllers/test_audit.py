"""The audit log (R6.3, R10.4): changed fields only, queries by entity, actor and guild over a period."""

from datetime import timedelta

import pytest

from guildbase import (
    AuditAction,
    AuditEntity,
    AuditSource,
    CaseType,
    Database,
    ValidationError,
    acting_as,
    audit_context,
)
from guildbase.models.moderation import CaseCreate

GUILD = 1_100_000_000_000_000_001
OTHER_GUILD = 1_100_000_000_000_000_002
USER = 1_100_000_000_000_000_101
MOD = 1_100_000_000_000_000_201
ADMIN = 1_100_000_000_000_000_202


async def test_a_change_records_only_the_fields_that_changed_and_a_repeat_records_nothing(db: Database) -> None:
    await db.guilds.join(GUILD)
    with acting_as(ADMIN), audit_context(AuditSource.DASHBOARD, correlation_id="req-1") as correlation:
        await db.guild_config.update(GUILD, prefix="!", locale="en-US")  # locale unchanged: not recorded
        await db.guild_config.update(GUILD, prefix="!")  # nothing changes: no row
    [row] = await db.audit.for_entity(AuditEntity.GUILD_CONFIG, GUILD)
    assert (row.action, row.before, row.after) == (AuditAction.CONFIG_UPDATE, {"prefix": "$"}, {"prefix": "!"})
    assert (row.actor_id, row.source, row.correlation_id, row.guild_id) == (ADMIN, "dashboard", correlation, GUILD)


async def test_an_insert_has_no_before_and_a_delete_no_after(db: Database) -> None:
    await db.guilds.join(GUILD)
    await db.levels.set_level_role(GUILD, 5, USER)
    await db.levels.remove_level_role(GUILD, 5)
    removed, added = await db.audit.for_entity("level_role", 5)
    assert (added.before, added.after) == ({}, {"role_id": USER})
    assert (removed.before, removed.after) == ({"role_id": USER}, {})


async def test_a_case_created_on_the_hot_path_and_in_a_session_is_recorded_alike(db: Database) -> None:
    await db.guilds.join(GUILD)
    with acting_as(MOD), audit_context(AuditSource.BOT, correlation_id="msg-1"):
        fast = await db.cases.create(GUILD, USER, MOD, CaseType.WARN, reason="spam")  # one statement
        banned = await db.cases.create(GUILD, USER, MOD, CaseType.BAN, role_ids=[USER])
        async with db.session() as session:
            composed = await db.cases.create_in(
                session, CaseCreate(guild_id=GUILD, user_id=USER, moderator_id=MOD, type="KICK")
            )
    rows = {row.entity_id: row for row in await db.audit.by_actor(MOD)}
    for case, expected in [
        (fast, {"number": 1, "type": "WARN", "reason": "spam", "role_ids": []}),
        (banned, {"number": 2, "type": "BAN", "role_ids": [USER]}),
        (composed, {"number": 3, "type": "KICK", "role_ids": []}),
    ]:
        row = rows[str(case.case_id)]
        assert (row.action, row.source, row.correlation_id, row.before) == (AuditAction.CASE_CREATE, "bot", "msg-1", {})
        assert row.after == expected | {"user_id": USER, "moderator_id": MOD, "details": {}}
    assert await db.cases.changes(GUILD, 1) == []  # the creation is the case itself, not a change to it


async def test_a_deleted_guild_keeps_its_trail_with_who_deleted_it(db: Database) -> None:
    await db.guilds.join(OTHER_GUILD, name="gone soon")
    with acting_as(ADMIN):
        assert await db.guilds.delete(OTHER_GUILD)
    deleted, joined = await db.audit.for_guild(OTHER_GUILD)
    assert (joined.action, joined.after["name"]) == (AuditAction.GUILD_JOIN, "gone soon")
    assert (deleted.action, deleted.actor_id, deleted.before["name"]) == (AuditAction.GUILD_DELETE, ADMIN, "gone soon")


async def test_queries_by_actor_and_by_guild_over_a_period_page_newest_first(db: Database) -> None:
    await db.guilds.join(GUILD)
    await db.guilds.join(OTHER_GUILD)
    with acting_as(MOD):
        for number in range(3):
            await db.notes.create(GUILD, USER, MOD, f"note {number}")
        await db.guild_config.set_feature(OTHER_GUILD, "levels", enabled=False)
    with acting_as(ADMIN):
        await db.blacklist.add("user", USER, reason="raid")  # global: no guild

    mine = await db.audit.by_actor(MOD)
    assert [r.action for r in mine] == [AuditAction.FEATURE_SET] + [AuditAction.NOTE_CREATE] * 3
    first = await db.audit.for_guild(GUILD, limit=2)
    rest = await db.audit.for_guild(GUILD, limit=2, before=first[-1].audit_id)
    assert [r.after.get("content") for r in first + rest] == ["note 2", "note 1", "note 0", None]
    assert rest[-1].action == AuditAction.GUILD_JOIN

    [listed] = await db.audit.by_actor(ADMIN)
    assert (listed.guild_id, listed.entity_id, listed.reason) == (None, f"user:{USER}", "raid")
    assert await db.audit.for_entity("global_blacklist", f"USER:{USER}") == [listed]  # text keys are checked too
    [toggle] = await db.audit.for_entity("guild_feature", "Levels")
    assert (toggle.before, toggle.after) == ({"is_enabled": True}, {"is_enabled": False})
    moment = listed.created_at
    assert len(await db.audit.for_guild(GUILD, since=moment, until=moment + timedelta(seconds=1))) == 4
    assert await db.audit.for_guild(GUILD, until=moment) == []
    assert await db.audit.by_actor(MOD, since=moment + timedelta(seconds=1)) == []


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda db: db.audit.for_entity("spaceship", 1), "entity_type"),
        (lambda db: db.audit.for_entity("case", True), "entity_id"),
        (lambda db: db.audit.for_entity("case", ""), "entity_id"),
        (lambda db: db.audit.for_entity("case", "12"), "entity_id"),
        (lambda db: db.audit.for_entity("guild_feature", "telepathy"), "entity_id"),
        (lambda db: db.audit.for_entity("global_blacklist", "moon:1"), "entity_id"),
        (lambda db: db.audit.for_entity("level_multiplier", "role:0"), "entity_id"),
        (lambda db: db.audit.by_actor(0), "actor_id"),
        (lambda db: db.audit.for_guild(GUILD, limit=0), "limit"),
        (lambda db: db.audit.for_guild(GUILD, before=-1), "before"),
        (lambda db: db.audit.for_guild(GUILD, since="yesterday"), "since"),
    ],
)
async def test_bad_query_arguments_are_refused_by_name(db: Database, call: object, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        await call(db)  # type: ignore[operator]
    assert [e.field for e in caught.value.errors] == [field]


def test_an_unknown_source_or_an_overlong_correlation_id_is_refused() -> None:
    with pytest.raises(ValueError, match="telepathy"), audit_context("telepathy"):
        pass
    with pytest.raises(ValueError, match="correlation_id"), audit_context("bot", correlation_id="x" * 65):
        pass
