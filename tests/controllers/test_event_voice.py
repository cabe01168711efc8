"""Voice sessions: transitions, durations, and sessions the bot lost sight of closed with a reason (R14.3)."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from guildbase import Database, ValidationError
from guildbase.db.types import make_snowflake
from guildbase.models.event_stats import GroupBy, Metric
from guildbase.models.events import VoiceEndReason, VoiceEventKind, VoiceState
from guildbase.testing import shifted_noon

pytestmark = pytest.mark.clock

NOON = shifted_noon()
GUILD = make_snowflake(NOON - timedelta(days=400), 11)
LOUNGE = make_snowflake(NOON - timedelta(days=400), 12)
GAMING = make_snowflake(NOON - timedelta(days=400), 13)
ALICE = make_snowflake(NOON - timedelta(days=300), 14)
BOB = make_snowflake(NOON - timedelta(days=300), 15)


def at(minutes: float) -> datetime:
    return NOON + timedelta(minutes=minutes)


async def test_join_mute_move_and_leave_make_two_sessions_with_durations(pooled_db: Database) -> None:
    voice = pooled_db.events
    opened = await voice.voice_update(GUILD, ALICE, channel_id=LOUNGE, occurred_at=at(0))
    assert opened is not None
    assert opened.channel_id == LOUNGE
    assert opened.ended_at is None
    await voice.voice_update(GUILD, ALICE, channel_id=LOUNGE, muted=True, occurred_at=at(10))
    await voice.voice_update(GUILD, ALICE, channel_id=LOUNGE, muted=False, streaming=True, occurred_at=at(15))
    moved = await voice.voice_update(GUILD, ALICE, channel_id=GAMING, occurred_at=at(30))
    assert moved is not None
    assert moved.channel_id == GAMING
    assert await voice.voice_update(GUILD, ALICE, channel_id=None, occurred_at=at(75)) is None

    second, first = await voice.voice_sessions(GUILD, user_id=ALICE)
    assert (first.channel_id, first.end_reason, first.duration_ms) == (LOUNGE, VoiceEndReason.MOVED, 30 * 60_000)
    assert (first.muted_ms, first.streaming_ms, first.deafened_ms) == (5 * 60_000, 15 * 60_000, 0)
    assert (second.channel_id, second.end_reason, second.duration_ms) == (GAMING, VoiceEndReason.LEFT, 45 * 60_000)
    assert await voice.voice_sessions(GUILD, open_only=True) == []

    minutes = await voice.stats(GUILD, Metric.VOICE_MINUTES, since=NOON, until=NOON, group_by=GroupBy.CHANNEL)
    assert [(row.key, row.value) for row in minutes] == [(GAMING, 45), (LOUNGE, 30)]
    await voice.flush()
    async with pooled_db.session() as session:
        sql = text("SELECT kind::text FROM voice_event WHERE user_id = :user ORDER BY occurred_at, event_id")
        kinds = list((await session.execute(sql, {"user": ALICE})).scalars())
    assert kinds == [
        VoiceEventKind.JOIN,
        VoiceEventKind.MUTE,
        VoiceEventKind.UNMUTE,
        VoiceEventKind.STREAM_START,
        VoiceEventKind.MOVE,
        VoiceEventKind.LEAVE,
    ]


async def test_a_session_survives_a_disconnect_closed_with_its_reason_and_duration(pooled_db: Database) -> None:
    voice = pooled_db.events
    await voice.voice_update(GUILD, BOB, channel_id=LOUNGE, deafened=True, occurred_at=at(0))
    assert await voice.close_voice_sessions([GUILD], reason=VoiceEndReason.DISCONNECT, occurred_at=at(20)) == 1
    [closed] = await voice.voice_sessions(GUILD, user_id=BOB)
    assert (closed.end_reason, closed.duration_ms, closed.deafened_ms) == (
        VoiceEndReason.DISCONNECT,
        20 * 60_000,
        20 * 60_000,
    )

    # Back online: Bob is still in the lounge, so a session opens from now; nothing else was open.
    assert await voice.resync_voice(GUILD, [VoiceState(user_id=BOB, channel_id=LOUNGE)], occurred_at=at(25)) == 0
    [reopened] = await voice.voice_sessions(GUILD, user_id=BOB, open_only=True)
    assert reopened.started_at == at(25)


async def test_a_restart_closes_sessions_of_members_who_left_meanwhile(pooled_db: Database) -> None:
    voice = pooled_db.events
    await voice.voice_update(GUILD, ALICE, channel_id=LOUNGE, occurred_at=at(0))
    await voice.voice_update(GUILD, BOB, channel_id=LOUNGE, occurred_at=at(0))
    closed = await voice.resync_voice(GUILD, [VoiceState(user_id=BOB, channel_id=LOUNGE)], occurred_at=at(40))
    assert closed == 1
    [alice] = await voice.voice_sessions(GUILD, user_id=ALICE)
    assert (alice.end_reason, alice.duration_ms) == (VoiceEndReason.RESTART, 40 * 60_000)
    [bob] = await voice.voice_sessions(GUILD, user_id=BOB)
    assert bob.ended_at is None
    assert bob.started_at == at(0)


async def test_voice_minutes_of_a_session_over_midnight_go_to_both_days(pooled_db: Database) -> None:
    voice = pooled_db.events
    day = NOON.date()
    late = datetime(day.year, day.month, day.day, 23, 30, tzinfo=UTC)
    await voice.voice_update(GUILD, ALICE, channel_id=GAMING, occurred_at=late)
    await voice.voice_update(GUILD, ALICE, channel_id=None, occurred_at=late + timedelta(hours=1))
    rows = await voice.stats(GUILD, Metric.VOICE_MINUTES, since=day, until=day + timedelta(days=1))
    assert [(row.day, row.value) for row in rows] == [(day, 30), (day + timedelta(days=1), 30)]


async def test_bad_voice_states_are_refused_naming_the_field(pooled_db: Database) -> None:
    with pytest.raises(ValidationError) as raised:
        await pooled_db.events.voice_update(GUILD, ALICE, channel_id=LOUNGE, muted="yes")  # type: ignore[arg-type]
    assert raised.value.fields == ["muted"]
    with pytest.raises(ValidationError) as raised:
        await pooled_db.events.resync_voice(GUILD, [{"user_id": ALICE}])  # type: ignore[list-item]
    assert raised.value.fields[0].startswith("states")
    assert await pooled_db.events.voice_sessions(GUILD) == []
