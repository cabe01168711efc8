"""Command usage by period, guild, member and command or group (R13.4)."""

from datetime import timedelta

import pytest

from guildbase import Database, ValidationError
from guildbase.db.types import utcnow
from guildbase.testing import ids

pytestmark = pytest.mark.clock


async def _log(db: Database, guild: int, rows: list[tuple[int, str, bool, int]], *, ago: timedelta) -> None:
    when = utcnow() - ago
    for user, command, success, duration in rows:
        await db.logs.record_command(
            user,
            command,
            guild_id=guild,
            success=success,
            error=None if success else "boom",
            duration_ms=duration,
            created_at=when,
        )


async def test_recent_commands_filter_by_command_or_group_and_period(db: Database) -> None:
    guild, alice, bob = ids.take(3)
    await _log(
        db,
        guild,
        [(alice, "mod ban", True, 5), (bob, "mod warn", True, 5), (alice, "ping", True, 1)],
        ago=timedelta(hours=1),
    )
    await _log(db, guild, [(alice, "moderate", True, 1)], ago=timedelta(hours=2))  # a prefix, not the group
    await _log(db, guild, [(alice, "mod ban", True, 5)], ago=timedelta(days=3))
    await db.logs.flush()
    group = await db.logs.recent_commands(guild_id=guild, command="mod")
    assert sorted(r.command for r in group) == ["mod ban", "mod ban", "mod warn"]
    exact = await db.logs.recent_commands(guild_id=guild, user_id=alice, command="mod  ban")
    assert [r.command for r in exact] == ["mod ban", "mod ban"]
    window = await db.logs.recent_commands(
        guild_id=guild, command="mod", since=utcnow() - timedelta(days=1), until=utcnow()
    )
    assert sorted(r.command for r in window) == ["mod ban", "mod warn"]
    older = await db.logs.recent_commands(
        guild_id=guild, until=utcnow() - timedelta(days=1), since=utcnow() - timedelta(days=5)
    )
    assert [r.command for r in older] == ["mod ban"]


async def test_command_users_rank_members_by_uses_with_failures_and_average_time(db: Database) -> None:
    guild, other, alice, bob, carol = ids.take(5)
    await _log(
        db,
        guild,
        [
            (alice, "ping", True, 10),
            (alice, "mod ban", False, 30),
            (alice, "mod warn", True, 20),
            (bob, "mod ban", True, 4),
            (bob, "mod ban", True, 6),
            (carol, "ping", True, 1),
        ],
        ago=timedelta(hours=3),
    )
    await _log(db, other, [(carol, "ping", True, 1)] * 5, ago=timedelta(hours=3))  # another guild: not counted
    await db.logs.flush()
    ranked = await db.logs.command_users(guild)
    assert [(r.user_id, r.uses, r.failures) for r in ranked] == [(alice, 3, 1), (bob, 2, 0), (carol, 1, 0)]
    assert ranked[0].average_duration_ms == pytest.approx(20.0)
    mods = await db.logs.command_users(guild, command="mod", limit=1)
    assert [(r.user_id, r.uses) for r in mods] == [(alice, 2)]
    assert await db.logs.command_users(guild, since=utcnow() - timedelta(hours=1)) == []


async def test_command_stats_filter_by_command_or_group(db: Database) -> None:
    guild, user = ids.take(2)
    await _log(
        db,
        guild,
        [(user, "mod ban", True, 1), (user, "mod warn", True, 1), (user, "ping", True, 1)],
        ago=timedelta(minutes=5),
    )
    await db.logs.flush()
    stats = await db.logs.command_stats(days=2, guild_id=guild, command="mod")
    assert sorted((s.command, s.uses) for s in stats) == [("mod ban", 1), ("mod warn", 1)]


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda db: db.logs.command_users(ids(), command="   "), "command"),
        (lambda db: db.logs.command_users(ids(), command="x" * 101), "command"),
        (lambda db: db.logs.command_users(ids(), since=utcnow(), until=utcnow() - timedelta(days=1)), "since"),
        (lambda db: db.logs.recent_commands(until=utcnow().replace(tzinfo=None)), "until"),
        (lambda db: db.logs.command_users(-1), "guild_id"),
    ],
)
async def test_bad_query_arguments_are_refused_naming_the_field(db: Database, call: object, field: str) -> None:
    with pytest.raises(ValidationError) as raised:
        await call(db)  # type: ignore[operator]
    assert raised.value.fields == [field]
