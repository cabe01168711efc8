"""Voice sessions: one row per stint in one channel, with durations, closed with a stated reason.

The bot hands over each member's voice state after a change. Two ways in,
one set of rules (``voice_rules``), and the same per-member advisory lock, so
two updates for one member never interleave:

- ``record_voice_state`` queues the change and returns at once; a buffered
  writer applies a batch of them in one transaction: lock the batch's members
  (sorted, so writers never deadlock), read their open sessions once, apply
  every change in arrival order in memory, then write the changed sessions,
  the new ones, the rollup and the ``voice_event`` rows in a handful of
  statements. The gateway's stream of updates goes this way.
- ``voice_update`` applies one change at once and returns the open session.

Either way, for one member:

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
Those two, ``voice_update`` and ``voice_sessions`` first write the queued
changes, so they never act on (or show) an older state than was handed over.
"""

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any, TypeVar

import asyncpg
from sqlalchemy import text

from guildbase.controllers.event_rollups import Counts, add_counts
from guildbase.controllers.event_writers import QUEUED, VOICE_EVENT_COLUMNS, EventWriters
from guildbase.controllers.features import gated, open_now, require
from guildbase.controllers.voice_rules import EventRow, Session, by_day, close, open_from, step
from guildbase.db.bulk import WriteBatch
from guildbase.db.fast import translating
from guildbase.db.partitions import ensure_months, is_missing_partition, month_of
from guildbase.db.types import cached_snowflake_ceiling
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
from guildbase.models.core import DEFAULT_FEATURES, Feature
from guildbase.models.events import VoiceEndReason, VoiceEventKind, VoiceSessionRead, VoiceState

__all__ = ["VoiceSessions", "VoiceState"]

T = TypeVar("T")
MAX_GUILDS = 10_000
_LOGGING, _LOGGING_DEFAULT = Feature.LOGGING.value, DEFAULT_FEATURES[Feature.LOGGING]
_COLUMNS = (
    "session_id, guild_id, user_id, channel_id, started_at, ended_at, end_reason, duration_ms, "
    "is_muted, is_deafened, is_streaming, muted_ms, deafened_ms, streaming_ms, state_at"
)
_LOCK = """
SELECT count(pg_advisory_xact_lock(hashtextextended('voice:' || g::text || ':' || u::text, 0)))
FROM unnest($1::bigint[], $2::bigint[]) AS m(g, u)
"""
_OPEN = f"SELECT {_COLUMNS} FROM voice_session WHERE guild_id = $1 AND user_id = $2 AND ended_at IS NULL FOR UPDATE"  # noqa: S608
_OPEN_OF = f"""
SELECT {_COLUMNS} FROM voice_session
WHERE ended_at IS NULL AND (guild_id, user_id) IN (SELECT * FROM unnest($1::bigint[], $2::bigint[]))
ORDER BY started_at DESC, session_id DESC FOR UPDATE
"""  # noqa: S608
_OPEN_IN = f"SELECT {_COLUMNS} FROM voice_session WHERE guild_id = ANY($1::bigint[]) AND ended_at IS NULL FOR UPDATE"  # noqa: S608
_STATE = (
    "is_muted, is_deafened, is_streaming, state_at, muted_ms, deafened_ms, streaming_ms, "
    "ended_at, end_reason, duration_ms"
)
_UNNEST_STATE = (
    "$3::bool[], $4::bool[], $5::bool[], $6::timestamptz[], $7::bigint[], $8::bigint[], $9::bigint[], "
    "$10::timestamptz[], $11::voice_end_reason[], $12::bigint[]"
)
_UPDATE = f"""
UPDATE voice_session AS v
SET is_muted = u.is_muted, is_deafened = u.is_deafened, is_streaming = u.is_streaming, state_at = u.state_at,
    muted_ms = u.muted_ms, deafened_ms = u.deafened_ms, streaming_ms = u.streaming_ms, ended_at = u.ended_at,
    end_reason = u.end_reason, duration_ms = u.duration_ms
FROM unnest($1::bigint[], $2::timestamptz[], {_UNNEST_STATE}) AS u(session_id, started_at, {_STATE})
WHERE v.session_id = u.session_id AND v.started_at = u.started_at
"""  # noqa: S608 - constants
_INSERT = f"""
INSERT INTO voice_session (guild_id, user_id, channel_id, started_at, {_STATE})
SELECT * FROM unnest($1::bigint[], $2::bigint[], $13::bigint[], $14::timestamptz[], {_UNNEST_STATE})
"""  # noqa: S608 - constants
_SESSIONS = text(f"""
SELECT {_COLUMNS} FROM voice_session
WHERE guild_id = :guild_id AND (CAST(:user_id AS bigint) IS NULL OR user_id = :user_id)
  AND (NOT :open_only OR ended_at IS NULL)
ORDER BY started_at DESC, session_id DESC LIMIT :limit
""")  # noqa: S608 - the column list is a constant


def _state_columns(sessions: Sequence[Session]) -> list[list[Any]]:
    """The unnest columns $3-$12 of ``_STATE`` for ``sessions``."""
    return [
        [s.muted for s in sessions],
        [s.deafened for s in sessions],
        [s.streaming for s in sessions],
        [s.state_at for s in sessions],
        [s.muted_ms for s in sessions],
        [s.deafened_ms for s in sessions],
        [s.streaming_ms for s in sessions],
        [s.ended_at for s in sessions],
        [None if s.end_reason is None else s.end_reason.value for s in sessions],
        [s.duration_ms for s in sessions],
    ]


async def _store(connection: asyncpg.Connection, changed: Sequence[Session], opened: Sequence[Session]) -> None:
    """Write back the stored sessions a batch changed, insert the ones it opened, and roll up the closed ones."""
    if changed:
        await connection.execute(
            _UPDATE, [s.session_id for s in changed], [s.started_at for s in changed], *_state_columns(changed)
        )
    if opened:
        columns = [[s.guild_id for s in opened], [s.user_id for s in opened], *_state_columns(opened)]
        await connection.execute(_INSERT, *columns, [s.channel_id for s in opened], [s.started_at for s in opened])
    rollup: Counts = {}
    for session in (*changed, *opened):
        if session.ended_at is not None:
            for day, seconds in by_day(session.started_at, session.ended_at):
                key = (session.guild_id, day, session.channel_id, session.user_id)
                rollup[key] = rollup.get(key, 0) + seconds
    await add_counts(connection, "seconds", rollup)


async def _apply(
    connection: asyncpg.Connection, rows: Sequence[Sequence[Any]]
) -> tuple[dict[tuple[int, int], Session | None], list[EventRow]]:
    """Apply queued voice states in order, under their members' locks; returns the open sessions and the events."""
    members = sorted({(row[1], row[2]) for row in rows})
    guilds, users = [m[0] for m in members], [m[1] for m in members]
    await connection.execute(_LOCK, guilds, users)
    current: dict[tuple[int, int], Session | None] = {}
    first_at: dict[tuple[int, int], datetime] = {}
    for row in rows:
        first_at.setdefault((row[1], row[2]), row[0])
    changed: dict[int, Session] = {}
    opened: list[Session] = []
    for record in await connection.fetch(_OPEN_OF, guilds, users):
        key, session = (record["guild_id"], record["user_id"]), Session.from_row(record)
        if key in current:  # never expected; a restart mid-update could leave two: keep the newest
            changed[id(session)] = close(session, first_at[key], VoiceEndReason.RESTART)
        else:
            current[key] = session
    events: list[EventRow] = []
    for row in rows:
        key = (row[1], row[2])
        now, closed, new, made = step(current.get(key), row)  # type: ignore[arg-type]  # rows are VoiceChanges
        current[key] = now
        opened.extend(new)
        events.extend(made)
        for touched in (*closed, now):
            if touched is not None and touched.session_id is not None:
                changed[id(touched)] = touched
    await _store(connection, list(changed.values()), opened)
    return current, events


class VoiceSessions(EventWriters):
    """The voice part of ``db.events``."""

    @gated(Feature.LOGGING, inline=True)
    async def record_voice_state(
        self,
        guild_id: int,
        user_id: int,
        *,
        channel_id: int | None,
        muted: bool = False,
        deafened: bool = False,
        streaming: bool = False,
        occurred_at: datetime | None = None,
    ) -> None:
        """Queue a member's new voice state (``channel_id`` None: not in voice); applied in order, in batches.

        Plain valid arguments and a mirrored ``logging`` on take the fast path
        (``controllers.events`` explains it); anything else is gated and checked
        field by field first.
        """
        ceiling = self._ceiling
        if (
            type(guild_id) is int
            and type(user_id) is int
            and 0 < guild_id < ceiling
            and 0 < user_id < ceiling
            and (channel_id is None or (type(channel_id) is int and 0 < channel_id < ceiling))
            and type(muted) is bool
            and type(deafened) is bool
            and type(streaming) is bool
            and occurred_at is None
            and open_now(self._db, guild_id, _LOGGING, _LOGGING_DEFAULT)
        ):
            row: tuple[Any, ...] = (datetime.now(UTC), guild_id, user_id, channel_id, muted, deafened, streaming)
        else:
            await require(self._db, snowflake("guild_id", guild_id), Feature.LOGGING)
            self._ceiling = cached_snowflake_ceiling()
            row = self._voice_row(guild_id, user_id, channel_id, muted, deafened, streaming, occurred_at)
        if (outcome := self._offer("voice_state", row)) != QUEUED:
            await self._after_offer(outcome, "voice_state", row)

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
        """Apply a member's new voice state now (``channel_id`` None: not in voice); returns the open session."""
        row = self._voice_row(guild_id, user_id, channel_id, muted, deafened, streaming, occurred_at)
        await self._voice_states_written()

        async def work(connection: asyncpg.Connection) -> tuple[asyncpg.Record | None, list[EventRow]]:
            _, events = await _apply(connection, [row])
            return await connection.fetchrow(_OPEN, row[1], row[2]), events

        current, events = await self._voice_unit(work, [row[0]])
        for event in events:
            await self._queue("voice_event", event)
        return None if current is None else _as_read(current)

    async def write_voice_states(self, rows: Sequence[Sequence[Any]]) -> None:
        """One batch of queued voice states: sessions, rollup and ``voice_event`` rows in one transaction."""
        checked = instances("rows", rows, tuple)

        async def work(connection: asyncpg.Connection) -> None:
            _, events = await _apply(connection, checked)
            if events:
                await connection.copy_records_to_table("voice_event", records=events, columns=list(VOICE_EVENT_COLUMNS))

        await self._voice_unit(work, [row[0] for row in checked])

    async def close_voice_sessions(
        self, guild_ids: list[int], *, reason: VoiceEndReason, occurred_at: datetime | None = None
    ) -> int:
        """Close every open session in ``guild_ids`` (the bot lost sight of them); returns how many."""
        at = moment("occurred_at", occurred_at)
        guilds = snowflakes("guild_ids", guild_ids, max_items=MAX_GUILDS)
        why = validate_enum("reason", VoiceEndReason, reason)
        await self._voice_states_written()
        async with self._fast() as unit:
            opened = await unit.connection.fetch(_OPEN_IN, guilds)
            await _store(unit.connection, [close(Session.from_row(row), at, why) for row in opened], [])
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
        await self._voice_states_written()

        async def work(connection: asyncpg.Connection) -> tuple[int, list[EventRow]]:
            opened = await connection.fetch(_OPEN_IN, [guild])
            stale = [
                row for row in opened if row["channel_id"] != getattr(present.get(row["user_id"]), "channel_id", 0)
            ]
            kept = {row["user_id"] for row in opened} - {row["user_id"] for row in stale}
            new = [open_from(guild, state, at) for state in present.values() if state.user_id not in kept]
            await _store(connection, [close(Session.from_row(row), at, VoiceEndReason.RESTART) for row in stale], new)
            joins = [(at, guild, s.user_id, VoiceEventKind.JOIN.value, s.channel_id, None) for s in new]
            return len(stale), joins

        closed, events = await self._voice_unit(work, [at])
        for event in events:
            await self._queue("voice_event", event)
        return closed

    async def voice_sessions(
        self, guild_id: int, *, user_id: int | None = None, open_only: bool = False, limit: int = 50
    ) -> list[VoiceSessionRead]:
        """A guild's (or a member's) voice sessions, newest first (queued voice states written first)."""
        params = {
            "guild_id": snowflake("guild_id", guild_id),
            "user_id": optional_snowflake("user_id", user_id),
            "open_only": flag("open_only", open_only),
            "limit": page_limit(limit, 500),
        }
        await self._voice_states_written()
        async with self._read() as session:
            rows = (await session.execute(_SESSIONS, params)).mappings().all()
        return [_as_read(dict(row)) for row in rows]

    # -- the plumbing --------------------------------------------------------------------------
    def _batch_writers(self) -> dict[str, WriteBatch]:
        return {**super()._batch_writers(), "voice_state": self.write_voice_states}

    @staticmethod
    def _voice_row(  # noqa: PLR0917 - mirrors the public signature
        guild_id: int,
        user_id: int,
        channel_id: int | None,
        muted: bool,
        deafened: bool,
        streaming: bool,
        occurred_at: datetime | None,
    ) -> tuple[Any, ...]:
        return (
            moment("occurred_at", occurred_at),
            snowflake("guild_id", guild_id),
            snowflake("user_id", user_id),
            optional_snowflake("channel_id", channel_id) or None,
            flag("muted", muted),
            flag("deafened", deafened),
            flag("streaming", streaming),
        )

    async def _voice_states_written(self) -> None:
        """Write this process's queued voice states, so what follows sees (and never undoes) them."""
        writer = self._writers.get("voice_state")
        if writer is not None and writer.pending:
            await writer.flush()

    async def _voice_unit(self, work: Callable[[asyncpg.Connection], Awaitable[T]], moments: Sequence[datetime]) -> T:
        """``work`` in one transaction; a month with no partition yet is created and the unit run again."""
        try:
            async with self._fast() as unit:
                return await work(unit.connection)
        except asyncpg.PostgresError as error:
            if not is_missing_partition(error):
                with translating():
                    raise
        months: list[date] = sorted({month_of(moment) for moment in moments})
        async with self._fast() as unit:
            for table in ("voice_session", "voice_event"):
                await ensure_months(unit.connection, table, months)
        async with self._fast() as unit:
            return await work(unit.connection)


def _as_read(row: Mapping[str, Any]) -> VoiceSessionRead:
    return VoiceSessionRead.model_validate({k: v for k, v in dict(row).items() if k != "state_at"})
