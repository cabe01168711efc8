"""Voice sessions: one row per stint in one channel, with durations, closed with a stated reason.

The bot hands over each member's voice state after a change
(``voice_update``); the controller compares it with the member's open
session, under a per-member advisory lock so two updates for one member never
interleave, and in one transaction:

- no session and a channel → a session opens (``join``);
- a session and no channel → it closes, ``left`` (``leave``);
- a session in another channel → it closes, ``moved``, and a new one opens (``move``);
- the same channel → the mute / deafen / stream flags change, and the time
  spent in the old state is added to ``muted_ms`` / ``deafened_ms`` / ``streaming_ms``.

Closing a session adds its seconds to ``voice_stat_daily`` (and its per-member
and per-channel copies, ``event_rollups``), split at UTC
midnight. Sessions the bot can no longer see are closed by
``close_voice_sessions`` (gateway disconnect: ``disconnect``) and by
``resync_voice`` when a guild becomes available again (``restart``): a session
is never left open forever, and its duration ends where the bot's knowledge did.
The transitions themselves go to ``voice_event`` through the buffered writer.
"""

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy import text

from guildbase.controllers.event_rollups import Counts, add_counts
from guildbase.controllers.event_writers import EventWriters
from guildbase.controllers.features import gated
from guildbase.db.partitions import ensure_months, is_missing_partition, month_of
from guildbase.db.validation import (
    flag,
    instances,
    moment,
    optional_snowflake,
    page_limit,
    snowflake,
    snowflakes,
    validate_enum,
)
from guildbase.models.core import Feature
from guildbase.models.events import VoiceEndReason, VoiceEventKind, VoiceSessionRead, VoiceState

__all__ = ["VoiceSessions", "VoiceState"]

MAX_GUILDS = 10_000
_COLUMNS = (
    "session_id, guild_id, user_id, channel_id, started_at, ended_at, end_reason, duration_ms, "
    "is_muted, is_deafened, is_streaming, muted_ms, deafened_ms, streaming_ms, state_at"
)
_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended('voice:' || $1::bigint::text || ':' || $2::bigint::text, 0))"
_OPEN = f"SELECT {_COLUMNS} FROM voice_session WHERE guild_id = $1 AND user_id = $2 AND ended_at IS NULL FOR UPDATE"  # noqa: S608
_OPEN_IN = f"SELECT {_COLUMNS} FROM voice_session WHERE guild_id = ANY($1::bigint[]) AND ended_at IS NULL FOR UPDATE"  # noqa: S608
_INSERT = (
    "INSERT INTO voice_session (started_at, guild_id, user_id, channel_id, is_muted, is_deafened, is_streaming, "
    "state_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $1)"
)
_FLAGS = """
UPDATE voice_session SET is_muted = $3, is_deafened = $4, is_streaming = $5, state_at = $6,
    muted_ms = muted_ms + $7, deafened_ms = deafened_ms + $8, streaming_ms = streaming_ms + $9
WHERE session_id = $1 AND started_at = $2
"""
_CLOSE = """
UPDATE voice_session SET ended_at = $3, end_reason = $4, duration_ms = $5, state_at = $3,
    muted_ms = muted_ms + $6, deafened_ms = deafened_ms + $7, streaming_ms = streaming_ms + $8
WHERE session_id = $1 AND started_at = $2
"""
_SESSIONS = text(f"""
SELECT {_COLUMNS} FROM voice_session
WHERE guild_id = :guild_id AND (CAST(:user_id AS bigint) IS NULL OR user_id = :user_id)
  AND (NOT :open_only OR ended_at IS NULL)
ORDER BY started_at DESC, session_id DESC LIMIT :limit
""")  # noqa: S608 - the column list is a constant


def _ms(start: datetime, end: datetime) -> int:
    return max(int((end - start) / timedelta(milliseconds=1)), 0)


def _by_day(start: datetime, end: datetime) -> list[tuple[Any, int]]:
    """Whole seconds of ``[start, end)`` per UTC day."""
    found = []
    cursor = start.astimezone(UTC)
    end = end.astimezone(UTC)
    while cursor < end:
        midnight = datetime(cursor.year, cursor.month, cursor.day, tzinfo=UTC) + timedelta(days=1)
        stop = min(midnight, end)
        found.append((cursor.date(), int((stop - cursor).total_seconds())))
        cursor = stop
    return found


class VoiceSessions(EventWriters):
    """The voice part of ``db.events``."""

    @gated(Feature.LOGGING)
    async def voice_update(
        self,
        guild_id: int,
        user_id: int,
        *,
        channel_id: int | None,
        muted: bool = False,
        deafened: bool = False,
        streaming: bool = False,
        occurred_at: datetime | None = None,
    ) -> VoiceSessionRead | None:
        """Apply a member's new voice state (``channel_id`` None: not in voice); returns the open session."""
        at = moment("occurred_at", occurred_at)
        guild, user = snowflake("guild_id", guild_id), snowflake("user_id", user_id)
        channel = optional_snowflake("channel_id", channel_id)
        state = VoiceState.model_construct(
            user_id=user,
            channel_id=channel or 0,
            muted=flag("muted", muted),
            deafened=flag("deafened", deafened),
            streaming=flag("streaming", streaming),
        )
        events: list[tuple[Any, ...]] = []
        async with self._fast() as unit:
            await unit.connection.execute(_LOCK, guild, user)
            opened = await unit.connection.fetch(_OPEN, guild, user)
            current = await self._apply(unit.connection, guild, state if channel else None, opened, at, events)
        for event in events:
            await self._queue("voice_event", event)
        return current

    async def close_voice_sessions(
        self, guild_ids: list[int], *, reason: VoiceEndReason, occurred_at: datetime | None = None
    ) -> int:
        """Close every open session in ``guild_ids`` (the bot lost sight of them); returns how many."""
        at = moment("occurred_at", occurred_at)
        guilds = snowflakes("guild_ids", guild_ids, max_items=MAX_GUILDS)
        why = validate_enum("reason", VoiceEndReason, reason)
        async with self._fast() as unit:
            opened = await unit.connection.fetch(_OPEN_IN, guilds)
            await self._close(unit.connection, opened, at, why)
        return len(opened)

    async def resync_voice(
        self, guild_id: int, states: Sequence[VoiceState], *, occurred_at: datetime | None = None
    ) -> int:
        """Make the open sessions of a guild match who is in voice now; returns how many were closed.

        Called when a guild becomes available (start, reconnect): sessions whose
        member is gone or elsewhere close with ``restart``; members in voice
        without a session get one from now.
        """
        at = moment("occurred_at", occurred_at)
        guild = snowflake("guild_id", guild_id)
        present = {state.user_id: state for state in instances("states", states, VoiceState)}
        events: list[tuple[Any, ...]] = []
        async with self._fast() as unit:
            opened = await unit.connection.fetch(_OPEN_IN, [guild])
            stale = [
                row for row in opened if row["channel_id"] != getattr(present.get(row["user_id"]), "channel_id", 0)
            ]
            await self._close(unit.connection, stale, at, VoiceEndReason.RESTART)
            kept = {row["user_id"] for row in opened} - {row["user_id"] for row in stale}
            for state in present.values():
                if state.user_id not in kept:
                    await self._open(unit.connection, guild, state, at)
                    events.append((at, guild, state.user_id, VoiceEventKind.JOIN.value, state.channel_id, None))
        for event in events:
            await self._queue("voice_event", event)
        return len(stale)

    async def voice_sessions(
        self, guild_id: int, *, user_id: int | None = None, open_only: bool = False, limit: int = 50
    ) -> list[VoiceSessionRead]:
        """A guild's (or a member's) voice sessions, newest first."""
        params = {
            "guild_id": snowflake("guild_id", guild_id),
            "user_id": optional_snowflake("user_id", user_id),
            "open_only": flag("open_only", open_only),
            "limit": page_limit(limit, 500),
        }
        async with self._read() as session:
            rows = (await session.execute(_SESSIONS, params)).mappings().all()
        return [_as_read(dict(row)) for row in rows]

    # -- the rules ----------------------------------------------------------------------------
    async def _apply(  # noqa: PLR0917 - private: one call site, every argument needed
        self,
        connection: asyncpg.Connection,
        guild: int,
        state: VoiceState | None,
        opened: list[asyncpg.Record],
        at: datetime,
        events: list[tuple[Any, ...]],
    ) -> VoiceSessionRead | None:
        user = opened[0]["user_id"] if opened else getattr(state, "user_id", None)
        current = opened[0] if opened else None
        if len(opened) > 1:  # never expected; a restart mid-update could leave two: keep the newest
            await self._close(connection, opened[1:], at, VoiceEndReason.RESTART)
        if current is None and state is None:
            return None
        if current is None and state is not None:
            events.append((at, guild, state.user_id, VoiceEventKind.JOIN.value, state.channel_id, None))
            return await self._open(connection, guild, state, at)
        assert current is not None  # noqa: S101 - both None handled above
        if state is None or state.channel_id != current["channel_id"]:
            moved = state is not None
            await self._close(connection, [current], at, VoiceEndReason.MOVED if moved else VoiceEndReason.LEFT)
            kind = VoiceEventKind.MOVE if moved else VoiceEventKind.LEAVE
            events.append((at, guild, user, kind.value, getattr(state, "channel_id", None), current["channel_id"]))
            return None if state is None else await self._open(connection, guild, state, at)
        changes = [
            (current["is_muted"], state.muted, VoiceEventKind.MUTE, VoiceEventKind.UNMUTE),
            (current["is_deafened"], state.deafened, VoiceEventKind.DEAFEN, VoiceEventKind.UNDEAFEN),
            (current["is_streaming"], state.streaming, VoiceEventKind.STREAM_START, VoiceEventKind.STREAM_END),
        ]
        for was, now, on, off in changes:
            if was != now:
                events.append((at, guild, user, (on if now else off).value, state.channel_id, None))
        elapsed = _ms(current["state_at"], at)
        totals = [elapsed if current[name] else 0 for name in ("is_muted", "is_deafened", "is_streaming")]
        flags = (state.muted, state.deafened, state.streaming)
        stamp = max(at, current["state_at"])
        await connection.execute(_FLAGS, current["session_id"], current["started_at"], *flags, stamp, *totals)
        row = await connection.fetchrow(
            f"SELECT {_COLUMNS} FROM voice_session WHERE session_id = $1 AND started_at = $2",  # noqa: S608
            current["session_id"],
            current["started_at"],
        )
        return None if row is None else _as_read(row)

    async def _open(
        self, connection: asyncpg.Connection, guild: int, state: VoiceState, at: datetime
    ) -> VoiceSessionRead:
        values = (at, guild, state.user_id, state.channel_id, state.muted, state.deafened, state.streaming)
        try:
            async with connection.transaction():  # a savepoint: a missing partition must not end the unit
                await connection.execute(_INSERT, *values)
        except asyncpg.PostgresError as error:
            if not is_missing_partition(error):
                raise
            await ensure_months(connection, "voice_session", [month_of(at)])
            await connection.execute(_INSERT, *values)
        row = await connection.fetchrow(_OPEN, guild, state.user_id)
        assert row is not None  # noqa: S101 - inserted just above, under the member's lock
        return _as_read(row)

    async def _close(
        self, connection: asyncpg.Connection, rows: Sequence[asyncpg.Record], at: datetime, reason: VoiceEndReason
    ) -> None:
        rollup: Counts = {}
        for row in rows:
            end = max(at, row["started_at"])
            elapsed = _ms(row["state_at"], end)
            totals = [elapsed if row[name] else 0 for name in ("is_muted", "is_deafened", "is_streaming")]
            duration = _ms(row["started_at"], end)
            await connection.execute(_CLOSE, row["session_id"], row["started_at"], end, reason.value, duration, *totals)
            for day, seconds in _by_day(row["started_at"], end):
                key = (row["guild_id"], day, row["channel_id"], row["user_id"])
                rollup[key] = rollup.get(key, 0) + seconds
        await add_counts(connection, "seconds", rollup)


def _as_read(row: Mapping[str, Any]) -> VoiceSessionRead:
    return VoiceSessionRead.model_validate({k: v for k, v in dict(row).items() if k != "state_at"})
