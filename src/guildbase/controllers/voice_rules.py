"""The voice-session rules as pure functions: one member's next state from their open session and new voice state.

Both write paths of ``event_voice`` use these, so they cannot disagree: the
immediate ``voice_update`` (one member, one transaction, returns the session)
and the buffered ``record_voice_state`` (many members and changes per
transaction, for the gateway's stream of updates). The database is read once
(the members' open sessions, locked) and written once per batch; everything in
between happens here, in memory, in the order the changes arrived.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from guildbase.models.events import VoiceEndReason, VoiceEventKind, VoiceState

__all__ = ["Session", "VoiceChange", "by_day", "close", "open_from", "open_session", "step"]

EventRow = tuple[Any, ...]
"""A ``voice_event`` row: (occurred_at, guild_id, user_id, kind, channel_id, from_channel_id)."""
VoiceChange = tuple[datetime, int, int, int | None, bool, bool, bool]
"""A queued voice state: (occurred_at, guild_id, user_id, channel_id or None, muted, deafened, streaming)."""
_JOIN, _LEAVE, _MOVE = VoiceEventKind.JOIN.value, VoiceEventKind.LEAVE.value, VoiceEventKind.MOVE.value


@dataclass(slots=True)
class Session:
    """A voice session as the rules see it: read from ``voice_session``, or opened in this batch."""

    guild_id: int
    user_id: int
    channel_id: int
    started_at: datetime
    state_at: datetime
    muted: bool = False
    deafened: bool = False
    streaming: bool = False
    muted_ms: int = 0
    deafened_ms: int = 0
    streaming_ms: int = 0
    session_id: int | None = None
    """None: opened in this batch, not stored yet."""
    ended_at: datetime | None = None
    end_reason: VoiceEndReason | None = None
    duration_ms: int | None = None
    changed: bool = False
    """A stored session this batch changed (it must be written back)."""

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> "Session":
        """A stored open session (``voice_session`` columns)."""
        return cls(
            guild_id=row["guild_id"],
            user_id=row["user_id"],
            channel_id=row["channel_id"],
            started_at=row["started_at"],
            state_at=row["state_at"],
            muted=row["is_muted"],
            deafened=row["is_deafened"],
            streaming=row["is_streaming"],
            muted_ms=row["muted_ms"],
            deafened_ms=row["deafened_ms"],
            streaming_ms=row["streaming_ms"],
            session_id=row["session_id"],
        )

    def _spend(self, until: datetime) -> None:
        """Add the time since the last state change to the totals of the flags that were on."""
        elapsed = ms(self.state_at, until)
        self.muted_ms += elapsed if self.muted else 0
        self.deafened_ms += elapsed if self.deafened else 0
        self.streaming_ms += elapsed if self.streaming else 0
        self.state_at = max(until, self.state_at)
        self.changed = True


def ms(start: datetime, end: datetime) -> int:
    """Whole milliseconds from ``start`` to ``end``, never negative (clocks of two shards may disagree)."""
    return max(int((end - start) / timedelta(milliseconds=1)), 0)


def by_day(start: datetime, end: datetime) -> list[tuple[date, int]]:
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


def close(session: Session, at: datetime, reason: VoiceEndReason) -> Session:
    """End ``session`` at ``at`` (never before it started) with ``reason``; returns it."""
    end = max(at, session.started_at)
    session._spend(end)  # noqa: SLF001 - the module's own helper
    session.ended_at, session.end_reason = end, reason
    session.duration_ms = ms(session.started_at, end)
    session.state_at = end
    return session


def open_session(  # noqa: PLR0917 - a session's fields, in order
    guild_id: int, user_id: int, channel_id: int, muted: bool, deafened: bool, streaming: bool, at: datetime
) -> Session:
    """A new session in ``channel_id`` from ``at``, in the given mute / deafen / stream state."""
    return Session(
        guild_id=guild_id,
        user_id=user_id,
        channel_id=channel_id,
        started_at=at,
        state_at=at,
        muted=muted,
        deafened=deafened,
        streaming=streaming,
    )


def open_from(guild_id: int, state: VoiceState, at: datetime) -> Session:
    """A new session in ``state``'s channel from ``at`` (``resync_voice``: the members in voice now)."""
    return open_session(guild_id, state.user_id, state.channel_id, state.muted, state.deafened, state.streaming, at)


def step(
    current: Session | None, change: VoiceChange
) -> tuple[Session | None, list[Session], list[Session], list[EventRow]]:
    """Apply one voice state change to a member's open session.

    ``change`` is a queued voice state: (occurred_at, guild_id, user_id,
    channel_id or None for "not in voice", muted, deafened, streaming).
    Returns the open session after it, the sessions it closed, the sessions it
    opened, and the ``voice_event`` rows it makes:

    - no session and a channel → a session opens (``join``);
    - a session and no channel → it closes, ``left`` (``leave``);
    - a session in another channel → it closes, ``moved``, and a new one opens (``move``);
    - the same channel → the mute / deafen / stream flags change, and the time
      spent in the old state is added to their totals.
    """
    at, guild_id, user_id, channel_id, muted, deafened, streaming = change
    if current is None:
        if channel_id is None:
            return None, [], [], []
        opened = open_session(guild_id, user_id, channel_id, muted, deafened, streaming, at)
        return opened, [], [opened], [(at, guild_id, user_id, _JOIN, channel_id, None)]
    if channel_id != current.channel_id:
        close(current, at, VoiceEndReason.MOVED if channel_id is not None else VoiceEndReason.LEFT)
        if channel_id is None:
            return None, [current], [], [(at, guild_id, user_id, _LEAVE, None, current.channel_id)]
        event = (at, guild_id, user_id, _MOVE, channel_id, current.channel_id)
        opened = open_session(guild_id, user_id, channel_id, muted, deafened, streaming, at)
        return opened, [current], [opened], [event]
    events = []
    changes = [
        (current.muted, muted, VoiceEventKind.MUTE, VoiceEventKind.UNMUTE),
        (current.deafened, deafened, VoiceEventKind.DEAFEN, VoiceEventKind.UNDEAFEN),
        (current.streaming, streaming, VoiceEventKind.STREAM_START, VoiceEventKind.STREAM_END),
    ]
    for was, now, on, off in changes:
        if was != now:
            events.append((at, guild_id, user_id, (on if now else off).value, channel_id, None))
    current._spend(at)  # noqa: SLF001 - the module's own helper
    current.muted, current.deafened, current.streaming = muted, deafened, streaming
    return current, [], [], events
