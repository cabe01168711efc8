"""The per-event fast paths of ``db.events`` keep every rule of the full path (W9's ingest, docs/events.md).

A call takes the fast path when its arguments are plain and valid and the
guild's feature map is mirrored locally; these tests first make one good call
so that it is, then check that a bad argument, a feature turned off, a
concurrent burst and an ID near the clock's limit behave exactly as the full
path says.
"""

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from guildbase import Database, FeatureDisabledError, Settings, ValidationError
from guildbase.db.types import cached_snowflake_ceiling, snowflake_ceiling, validate_snowflake
from guildbase.models.core import Feature
from guildbase.models.events import EMOJI_MAX_LENGTH
from guildbase.testing import ids

BLOCK = ids.block()
GUILD = BLOCK + 1
CHANNEL = BLOCK + 301
ROLE, OTHER_ROLE = BLOCK + 401, BLOCK + 402
USER = BLOCK + 1001
MESSAGE = BLOCK + 2001
WRITERS = ("reaction_event", "guild_event", "voice_state", "message")

Call = Callable[[Database], Awaitable[Any]]

GOOD: dict[str, Call] = {
    "reaction_event": lambda db: db.events.record_reaction(GUILD, CHANNEL, MESSAGE, USER, "⭐"),
    "guild_event": lambda db: db.events.record_member_update(GUILD, USER, roles_added=[ROLE]),
    "voice_state": lambda db: db.events.record_voice_state(GUILD, USER, channel_id=CHANNEL),
    "message": lambda db: db.events.record_message(GUILD, CHANNEL, USER),
}
"""One good call per hot writer: it mirrors the guild's feature map, so the next calls take the fast path."""

FAR = snowflake_ceiling() + (3_600_000 << 22)  # refused for the next hour: its timestamp is over a year ahead
NAIVE = datetime.now(UTC).replace(tzinfo=None)
BAD: list[tuple[str, str, Call]] = [
    ("reaction_event", "channel_id", lambda db: db.events.record_reaction(GUILD, 0, MESSAGE, USER, "⭐")),
    ("reaction_event", "message_id", lambda db: db.events.record_reaction(GUILD, CHANNEL, -5, USER, "⭐")),
    ("reaction_event", "message_id", lambda db: db.events.record_reaction(GUILD, CHANNEL, FAR, USER, "⭐")),
    ("reaction_event", "user_id", lambda db: db.events.record_reaction(GUILD, CHANNEL, MESSAGE, True, "⭐")),
    ("reaction_event", "user_id", lambda db: db.events.record_reaction(GUILD, CHANNEL, MESSAGE, 1.0, "⭐")),
    ("reaction_event", "user_id", lambda db: db.events.record_reaction(GUILD, CHANNEL, MESSAGE, "12a", "⭐")),
    ("reaction_event", "emoji", lambda db: db.events.record_reaction(GUILD, CHANNEL, MESSAGE, USER, "")),
    ("reaction_event", "emoji", lambda db: db.events.record_reaction(GUILD, CHANNEL, MESSAGE, USER, "a\x00")),
    ("reaction_event", "emoji", lambda db: db.events.record_reaction(GUILD, CHANNEL, MESSAGE, USER, "\ud800")),
    (
        "reaction_event",
        "emoji",
        lambda db: db.events.record_reaction(GUILD, CHANNEL, MESSAGE, USER, "x" * (EMOJI_MAX_LENGTH + 1)),
    ),
    ("reaction_event", "emoji", lambda db: db.events.record_reaction(GUILD, CHANNEL, MESSAGE, USER, ["⭐"])),
    ("reaction_event", "added", lambda db: db.events.record_reaction(GUILD, CHANNEL, MESSAGE, USER, "⭐", added=1)),
    (
        "reaction_event",
        "occurred_at",
        lambda db: db.events.record_reaction(GUILD, CHANNEL, MESSAGE, USER, "⭐", occurred_at=NAIVE),
    ),
    ("guild_event", "user_id", lambda db: db.events.record_member_update(GUILD, 0, roles_added=[ROLE])),
    ("guild_event", "roles_added.1", lambda db: db.events.record_member_update(GUILD, USER, roles_added=[ROLE, 0])),
    ("guild_event", "roles_added", lambda db: db.events.record_member_update(GUILD, USER, roles_added=str(ROLE))),
    (
        "guild_event",
        "roles_removed",
        lambda db: db.events.record_member_update(GUILD, USER, roles_removed=[ROLE] * 251),
    ),
    ("guild_event", "nick_changed", lambda db: db.events.record_member_update(GUILD, USER, nick_changed=1)),
    (
        "guild_event",
        "executor_id",
        lambda db: db.events.record_member_update(GUILD, USER, nick_changed=True, executor_id=FAR),
    ),
    ("guild_event", "reason", lambda db: db.events.record_member_update(GUILD, USER, nick_changed=True, reason="\x00")),
    ("voice_state", "user_id", lambda db: db.events.record_voice_state(GUILD, False, channel_id=CHANNEL)),
    ("voice_state", "channel_id", lambda db: db.events.record_voice_state(GUILD, USER, channel_id=-1)),
    ("voice_state", "muted", lambda db: db.events.record_voice_state(GUILD, USER, channel_id=CHANNEL, muted=None)),
    ("message", "channel_id", lambda db: db.events.record_message(GUILD, FAR, USER)),
    ("message", "guild_id", lambda db: db.events.record_message(0, CHANNEL, USER)),
]


async def _mirrored(db: Database) -> None:
    await db.guilds.join(GUILD)
    for call in GOOD.values():
        await call(db)


async def _count(db: Database, sql: str) -> int:
    async with db.session() as session:
        return int((await session.execute(text(sql))).scalar_one() or 0)


@pytest.mark.parametrize(("writer", "field", "call"), BAD, ids=[f"{w}-{f}-{n}" for n, (w, f, _) in enumerate(BAD)])
async def test_a_bad_argument_is_refused_by_name_before_anything_is_queued(
    pooled_db: Database, writer: str, field: str, call: Call
) -> None:
    await _mirrored(pooled_db)
    accepted = {name: pooled_db.events.writer(name).accepted for name in WRITERS}
    with pytest.raises(ValidationError) as raised:
        await call(pooled_db)
    assert raised.value.fields == [field]
    assert {name: pooled_db.events.writer(name).accepted for name in WRITERS} == accepted


async def test_turning_logging_off_stops_every_fast_path_at_once_and_on_again_resumes_it(pooled_db: Database) -> None:
    await _mirrored(pooled_db)
    accepted = {name: pooled_db.events.writer(name).accepted for name in WRITERS}
    await pooled_db.guild_config.set_feature(GUILD, Feature.LOGGING, enabled=False)
    for name, call in GOOD.items():
        with pytest.raises(FeatureDisabledError) as raised:
            await call(pooled_db)
        assert (raised.value.feature, raised.value.guild_id) == ("logging", GUILD), name
    assert {name: pooled_db.events.writer(name).accepted for name in WRITERS} == accepted

    await pooled_db.guild_config.set_feature(GUILD, Feature.LOGGING, enabled=True)
    for call in GOOD.values():
        await call(pooled_db)
    assert {name: pooled_db.events.writer(name).accepted for name in WRITERS} == {
        name: count + 1 for name, count in accepted.items()
    }


async def test_a_concurrent_burst_is_stored_whole_with_exact_rollups_and_sessions(
    settings: Settings, pooled_db: Database
) -> None:
    """16 tasks, several batches per writer (so the per-batch yields run), every count checked after close."""
    await pooled_db.guilds.join(GUILD)
    events = pooled_db.events
    members, tasks, per_task = 40, 16, 500  # 8,000 events: 4,800 reactions, more than two batches of 2,000

    async def burst(task: int) -> None:
        for n in range(per_task):
            i = task * per_task + n
            user = USER + i % members
            slot = i % 10
            if slot < 6:
                await events.record_reaction(
                    GUILD, CHANNEL, MESSAGE + i, user, "⭐" if i % 2 else "🔥", added=i % 3 > 0
                )
            elif slot < 8:
                await events.record_member_update(GUILD, user, roles_added=[ROLE], roles_removed=[OTHER_ROLE])
            elif slot < 9:
                await events.record_member_update(GUILD, user, nick_changed=True)
            else:
                await events.record_voice_state(GUILD, user, channel_id=CHANNEL if (i // members) % 2 == 0 else None)

    await asyncio.gather(*(burst(t) for t in range(tasks)))
    total = tasks * per_task
    assert events.writer("voice_state").accepted == total // 10
    await pooled_db.close()  # nothing flushed by hand

    db = await Database(settings).connect()
    try:
        assert await _count(db, f"SELECT count(*) FROM reaction_event WHERE guild_id = {GUILD}") == total * 6 // 10
        assert await _count(db, f"SELECT count(*) FROM guild_event WHERE guild_id = {GUILD}") == total * 3 // 10
        roles = f"FROM role_stat_daily WHERE guild_id = {GUILD} AND role_id = "
        assert await _count(db, f"SELECT sum(added) {roles}{ROLE}") == total * 2 // 10
        assert await _count(db, f"SELECT sum(removed) {roles}{OTHER_ROLE}") == total * 2 // 10
        nick = f"SELECT count(*) FROM guild_event WHERE guild_id = {GUILD} AND after = '{{\"nick\": true}}'::jsonb"
        assert await _count(db, nick) == total // 10
        voice = f"SELECT count(*) FROM voice_event WHERE guild_id = {GUILD} AND kind = "
        sessions = await db.events.voice_sessions(GUILD, limit=500)
        assert len(sessions) == await _count(db, voice + "'join'") > 0
        closed = [s for s in sessions if s.ended_at is not None]
        assert len(closed) == await _count(db, voice + "'leave'") > 0
        open_members = [s.user_id for s in sessions if s.ended_at is None]
        assert len(open_members) == len(set(open_members))  # never two open sessions for one member
        for session in closed:
            assert session.ended_at is not None
            assert session.duration_ms == int((session.ended_at - session.started_at) / timedelta(milliseconds=1))
    finally:
        await db.close()


async def test_the_fast_and_the_full_path_queue_the_same_rows(pooled_db: Database) -> None:
    """String IDs take the full path; the stored events (JSON included) are the same as the fast path's."""
    await _mirrored(pooled_db)
    events = pooled_db.events
    await events.flush()
    for user in (USER + 1, str(USER + 2)):
        await events.record_member_update(
            GUILD,
            user,
            roles_added=[ROLE, OTHER_ROLE],
            roles_removed=(OTHER_ROLE,),
            nick_changed=True,
            timeout_changed=True,
        )
        await events.record_reaction(GUILD, CHANNEL, MESSAGE + 1, user, "🔥", added=False)
    await events.flush()
    rows = await events.guild_events(GUILD, user_id=USER + 1) + await events.guild_events(GUILD, user_id=USER + 2)
    assert [(r.before, r.after) for r in rows] == [
        ({"roles": [OTHER_ROLE]}, {"roles": [ROLE, OTHER_ROLE], "nick": True, "timed_out_until": None})
    ] * 2
    reactions = await events.reactions(GUILD, MESSAGE + 1)
    assert sorted((r.user_id, r.emoji, r.is_added) for r in reactions) == [
        (USER + 1, "🔥", False),
        (USER + 2, "🔥", False),
    ]
    until = datetime.now(UTC) + timedelta(hours=1)
    await events.record_member_update(GUILD, USER + 3, timeout_changed=True, timed_out_until=until)
    await events.flush()
    [timeout] = await events.guild_events(GUILD, user_id=USER + 3)
    assert json.dumps(timeout.after) == json.dumps({"timed_out_until": until.isoformat()})


def test_the_snowflake_ceiling_is_the_exact_edge_of_the_full_check() -> None:
    while True:  # the edge moves with the clock: retry until one reading spans the check
        ceiling = snowflake_ceiling()
        try:
            validate_snowflake(ceiling)
            refused = False
        except ValueError:
            refused = True
        if snowflake_ceiling() == ceiling:
            break
    assert refused
    assert validate_snowflake(ceiling - 1) == ceiling - 1
    assert cached_snowflake_ceiling() < ceiling


async def test_an_id_above_the_kept_ceiling_but_valid_is_accepted_through_the_full_path(pooled_db: Database) -> None:
    await _mirrored(pooled_db)
    near_edge = cached_snowflake_ceiling() + 5  # valid: below the exact ceiling by almost a day
    await pooled_db.events.record_reaction(GUILD, CHANNEL, near_edge, USER, "⭐")
    await pooled_db.events.flush()
    assert [r.message_id for r in await pooled_db.events.reactions(GUILD, near_edge)] == [near_edge]
