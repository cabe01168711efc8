"""Buffered voice states (``record_voice_state``) end exactly as the same changes applied one at a time (R14.3)."""

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from guildbase import Database
from guildbase.testing import ids, shifted_noon

pytestmark = pytest.mark.clock

NOON = shifted_noon()
MEMBERS = 3
CHANNELS = 2

Change = tuple[int, int | None, bool, bool, bool, int, bool]
"""(member, channel index or None, muted, deafened, streaming, minutes after the last change, flush after)."""

changes = st.lists(
    st.tuples(
        st.integers(0, MEMBERS - 1),
        st.one_of(st.none(), st.integers(0, CHANNELS - 1)),
        st.booleans(),
        st.booleans(),
        st.booleans(),
        st.integers(0, 400),  # up to several hours: sessions cross UTC midnight now and then
        st.booleans(),
    ),
    max_size=25,
)


async def _outcome(db: Database, guild: int, users: list[int], channels: list[int]) -> dict[str, Any]:
    """Sessions, transitions and rollup of ``guild``, in terms of member and channel indexes."""
    user_of, channel_of = {u: i for i, u in enumerate(users)}, {c: i for i, c in enumerate(channels)}
    sessions = sorted(
        (
            (
                user_of[s.user_id],
                channel_of[s.channel_id],
                s.started_at,
                s.ended_at,
                s.end_reason,
                s.duration_ms,
                s.muted_ms,
                s.deafened_ms,
                s.streaming_ms,
            )
            for s in await db.events.voice_sessions(guild, limit=500)
        ),
        key=repr,
    )
    await db.events.flush()
    async with db.session() as session:
        events = (
            await session.execute(
                text(
                    "SELECT user_id, kind::text, channel_id, from_channel_id FROM voice_event "
                    "WHERE guild_id = :g ORDER BY user_id, occurred_at, event_id"
                ),
                {"g": guild},
            )
        ).all()
        rollup = (
            await session.execute(
                text("SELECT day, channel_id, user_id, seconds FROM voice_stat_daily WHERE guild_id = :g"),
                {"g": guild},
            )
        ).all()
    return {
        "sessions": sessions,
        "events": [(user_of[u], k, channel_of.get(c), channel_of.get(f)) for u, k, c, f in events],
        "rollup": sorted((d, channel_of[c], user_of[u], s) for d, c, u, s in rollup),
    }


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(sequence=changes)
async def test_batched_voice_states_end_as_one_change_at_a_time(pooled_db: Database, sequence: list[Change]) -> None:
    events = pooled_db.events
    batched, immediate = ids.take(2)
    users, channels = ids.take(MEMBERS), ids.take(CHANNELS)
    for guild in (batched, immediate):
        await pooled_db.guilds.join(guild)
    timeline, at = [], NOON
    for member, channel, muted, deafened, streaming, minutes, flush_after in sequence:
        at += timedelta(minutes=minutes)
        state = {"channel_id": None if channel is None else channels[channel], "occurred_at": at}
        timeline.append((users[member], {**state, "muted": muted, "deafened": deafened, "streaming": streaming}))
        await events.record_voice_state(batched, users[member], **timeline[-1][1])
        if flush_after:  # otherwise the next changes join this batch
            await events.flush()
    await events.flush()
    for user, state in timeline:  # after the batches: voice_update writes what is queued first
        await events.voice_update(immediate, user, **state)
    assert await _outcome(pooled_db, batched, users, channels) == await _outcome(pooled_db, immediate, users, channels)


async def test_queued_voice_states_are_written_at_close(settings: Any) -> None:
    from guildbase import Database as Db  # noqa: PLC0415 - a Database of its own, closed by the test

    guild, user, channel = ids(), ids(), ids()
    db = await Db(settings).connect()
    await db.guilds.join(guild)
    await db.events.record_voice_state(guild, user, channel_id=channel, occurred_at=NOON)
    await db.events.record_voice_state(guild, user, channel_id=None, occurred_at=NOON + timedelta(minutes=5))
    await db.close()
    again = await Db(settings).connect()
    try:
        [session] = await again.events.voice_sessions(guild)
        assert (session.channel_id, session.duration_ms) == (channel, 5 * 60_000)
    finally:
        await again.close()


async def test_an_immediate_update_sees_the_queued_states_before_it(pooled_db: Database) -> None:
    """``voice_update`` writes the queue first: the member who just joined is seen moving, not joining."""
    guild, user, lounge, gaming = ids.take(4)
    await pooled_db.guilds.join(guild)
    await pooled_db.events.record_voice_state(guild, user, channel_id=lounge, occurred_at=NOON)
    moved = await pooled_db.events.voice_update(guild, user, channel_id=gaming, occurred_at=NOON + timedelta(minutes=3))
    assert moved is not None
    assert moved.channel_id == gaming
    first = (await pooled_db.events.voice_sessions(guild))[-1]
    assert (first.channel_id, first.duration_ms) == (lounge, 3 * 60_000)
