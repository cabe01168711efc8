"""The event trail's write path: buffered rows, one binary COPY per batch, rollups in the same transaction.

Four ``BufferedWriter``s (see ``db.bulk`` for their guarantees: bounded memory,
nothing lost on a failed flush or a clean close):

- guild events → ``guild_event`` (COPY) + ``member_stat_daily`` (joins, leaves)
  + ``role_stat_daily`` (roles given and taken), one transaction per batch;
- reactions → ``reaction_event`` (COPY);
- voice transitions → ``voice_event`` (COPY), from ``voice_update``;
- voice states → sessions, their rollups and their ``voice_event`` rows in one
  transaction per batch (``event_voice.record_voice_state``), one batch at a time;
- messages → ``message_stat_daily`` and its coarse copies only (counts, never
  content; ``event_rollups``).

Rollup rows are summed per batch and sorted, so concurrent writers lock them
in the same order and never deadlock.

A buffered guild event is queued in its COPY form (``guild_event_row``):
``before`` / ``after`` already JSON text, and a member update's roles given
and taken alongside, so a batch encodes nothing per row and sums its role
rollup from those. The public ``write_*`` methods take the documented rows
(``before`` / ``after`` mappings), check them and hand the same form on.
"""

import asyncio
import json
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

import asyncpg

from guildbase.controllers.base import Controller, UnitOfWork
from guildbase.controllers.event_rollups import Counts, add_counts
from guildbase.db.bulk import BufferedWriter, Row, WriteBatch
from guildbase.db.partitions import copy_into
from guildbase.db.types import cached_snowflake_ceiling
from guildbase.db.validation import instances
from guildbase.errors import ValidationError
from guildbase.models.events import GuildEventKind

__all__ = ["GUILD_EVENT_COLUMNS", "REACTION_COLUMNS", "VOICE_EVENT_COLUMNS", "EventWriters"]

GUILD_EVENT_COLUMNS = (
    "occurred_at",
    "guild_id",
    "kind",
    "user_id",
    "target_id",
    "executor_id",
    "before",
    "after",
    "reason",
)
REACTION_COLUMNS = ("occurred_at", "guild_id", "channel_id", "message_id", "user_id", "emoji", "is_added")
VOICE_EVENT_COLUMNS = ("occurred_at", "guild_id", "user_id", "kind", "channel_id", "from_channel_id")
MESSAGE_COLUMNS = ("occurred_at", "guild_id", "channel_id", "user_id")
GuildEventRow = tuple[Any, ...]
"""A queued guild event: the ``GUILD_EVENT_COLUMNS`` (``before`` / ``after`` as JSON text), roles given, roles taken."""
QUEUED, YIELD, NOT_QUEUED = 0, 1, 2
"""What ``EventWriters._offer`` did with a row."""
ORDERED_WRITERS = frozenset({"voice_state"})
"""Writers whose batches must be applied one at a time, in order (a member's voice states build on each other)."""

_MEMBER_ROLLUP = """
INSERT INTO member_stat_daily AS s (guild_id, day, joins, leaves)
SELECT * FROM unnest($1::bigint[], $2::date[], $3::bigint[], $4::bigint[])
ON CONFLICT (guild_id, day) DO UPDATE SET joins = s.joins + excluded.joins, leaves = s.leaves + excluded.leaves
"""
_ROLE_ROLLUP = """
INSERT INTO role_stat_daily AS s (guild_id, day, role_id, added, removed)
SELECT * FROM unnest($1::bigint[], $2::date[], $3::bigint[], $4::bigint[], $5::bigint[])
ON CONFLICT (guild_id, day, role_id) DO UPDATE
SET added = s.added + excluded.added, removed = s.removed + excluded.removed
"""


def _columns(sums: dict[tuple[Any, ...], list[int]]) -> list[list[Any]]:
    """Sorted keys and their sums as unnest columns."""
    keys = sorted(sums)
    width = len(keys[0]) + len(sums[keys[0]]) if keys else 0
    return [[(*key, *sums[key])[i] for key in keys] for i in range(width)]


def changes_json(roles: Sequence[int], extra: str = "") -> str:
    """``{"roles": [...], <extra>}`` as ``json.dumps`` writes it, for checked role IDs (``int``s) and JSON ``extra``.

    A member update's ``before`` / ``after`` in one string operation; no role
    and no extra is ``{}``.
    """
    parts = f'"roles": [{", ".join(map(str, roles))}]' if roles else ""
    if extra:
        parts = f"{parts}, {extra}" if parts else extra
    return f"{{{parts}}}"


def guild_event_row(row: Row) -> GuildEventRow:
    """A guild event with ``before`` / ``after`` mappings → its queued form (JSON text; a member update's roles).

    ``after["roles"]`` of a member update were given, ``before["roles"]`` taken.
    """
    before, after = row[6], row[7]
    added: Sequence[int] = ()
    removed: Sequence[int] = ()
    if row[2] == GuildEventKind.MEMBER_UPDATE:
        added, removed = tuple(after.get("roles", ())), tuple(before.get("roles", ()))
    kind = row[2].value if isinstance(row[2], GuildEventKind) else row[2]  # plain text: the row is not GC-tracked
    return (row[0], row[1], kind, *row[3:6], json.dumps(before), json.dumps(after), row[8], added, removed)


class EventWriters(Controller):
    """The buffered writers of the trail; ``db.events`` inherits them."""

    def __init__(self, db: UnitOfWork, *, batch_size: int = 2000, max_pending: int = 50_000) -> None:
        super().__init__(db)
        self._batch_size = batch_size
        self._max_pending = max_pending
        self._writers: dict[str, BufferedWriter] = {}
        self._ceiling = cached_snowflake_ceiling()
        """IDs of the per-event fast paths are below this (``db.types``); the full path takes a fresh one."""
        self._emojis: set[str] = set()
        """Emoji strings that passed ``record_reaction``'s text check (its fast path skips it for them)."""

    def writer(self, name: str) -> BufferedWriter:
        """The process's writer for ``guild_event``, ``reaction_event``, ``voice_event`` or ``message``."""
        current = self._writers.get(name)
        if current is None or current.closed:
            write = self._batch_writers()[name]
            settings = self._db.settings  # the command log's timing: a row waits at most log_flush_seconds
            current = BufferedWriter(
                write,
                name=f"{name} rows",
                batch_size=self._batch_size,
                max_pending=self._max_pending,
                interval=settings.log_flush_seconds,
                retry_delay=settings.log_retry_seconds,
                max_retry_delay=settings.log_retry_max_seconds,
                concurrency=1 if name in ORDERED_WRITERS else 2,
            )
            self._writers[name] = current
        return current

    def _batch_writers(self) -> dict[str, WriteBatch]:
        """The write function of each writer name (``event_voice`` adds ``voice_state``).

        Queued rows were built by the ``record_*`` methods from checked
        arguments, so the writers skip the public methods' row checks.
        """
        return {
            "guild_event": self._write_guild_event_rows,
            "reaction_event": self._copy_reactions,
            "voice_event": self._copy_voice_events,
            "message": self._write_message_rows,
        }

    def _offer(self, name: str, row: Row) -> int:
        """Queue ``row`` without waiting: ``QUEUED``; ``YIELD`` when it completed a batch; else ``NOT_QUEUED``.

        The per-event methods call this (no coroutine) and await ``_after_offer``
        only for the last two.
        """
        writer = self._writers.get(name)
        if writer is None or not writer.offer(row):
            return NOT_QUEUED
        return QUEUED if writer.accepted % writer.batch_size else YIELD

    async def _after_offer(self, outcome: int, name: str, row: Row) -> None:
        """After ``_offer``: yield once per completed batch, or queue a row that was not taken.

        A burst of events that never waits (the gateway's, a benchmark's) would
        otherwise keep the writer task from running until the buffer is full:
        the yield lets it start writing each batch, and take in the answers to
        the ones in flight, while the caller goes on queueing.
        """
        if outcome == YIELD:
            await asyncio.sleep(0)
        elif outcome == NOT_QUEUED:
            writer = self.writer(name)  # none yet, or closed (a new one takes rows after a close), or full
            if not writer.offer(row):
                await writer.put(row)

    async def _queue(self, name: str, row: Row) -> None:
        """Queue ``row`` (``_offer`` then ``_after_offer``)."""
        outcome = self._offer(name, row)
        if outcome != QUEUED:
            await self._after_offer(outcome, name, row)

    async def flush(self) -> int:
        """Write every queued event now; returns how many rows were written."""
        return sum([await writer.flush() for writer in list(self._writers.values())])

    async def close(self) -> None:
        """Write every queued event and stop accepting more (``Database.close`` calls this)."""
        for writer in list(self._writers.values()):
            await writer.close()

    async def write_guild_events(self, rows: Sequence[Row]) -> None:
        """One batch of guild events: COPY plus the member and role rollups, in one transaction."""
        await self._write_guild_event_rows([guild_event_row(row) for row in _checked(rows, len(GUILD_EVENT_COLUMNS))])

    async def _write_guild_event_rows(self, rows: Sequence[GuildEventRow]) -> None:
        """Queued guild events (``guild_event_row``): one COPY and the rollups, summed per batch, in one transaction."""
        members: dict[tuple[Any, ...], list[int]] = {}
        roles: dict[tuple[Any, ...], list[int]] = {}
        joins = (GuildEventKind.MEMBER_JOIN, GuildEventKind.MEMBER_LEAVE)
        for row in rows:
            kind, guild = row[2], row[1]
            if row[9] or row[10]:
                day = _utc_day(row[0])
                for role in row[9]:
                    roles.setdefault((guild, day, role), [0, 0])[0] += 1
                for role in row[10]:
                    roles.setdefault((guild, day, role), [0, 0])[1] += 1
            elif kind in joins:
                entry = members.setdefault((guild, _utc_day(row[0])), [0, 0])
                entry[0 if kind == GuildEventKind.MEMBER_JOIN else 1] += 1

        async def rollups(connection: asyncpg.Connection) -> None:
            if members:
                await connection.execute(_MEMBER_ROLLUP, *_columns(members))
            if roles:
                await connection.execute(_ROLE_ROLLUP, *_columns(roles))

        records = [row[:9] for row in rows]
        await copy_into(self._fast, "guild_event", GUILD_EVENT_COLUMNS, records, also=rollups)

    async def write_reactions(self, rows: Sequence[Row]) -> None:
        """One batch of reactions: one COPY."""
        await self._copy_reactions(_checked(rows, len(REACTION_COLUMNS)))

    async def _copy_reactions(self, rows: Sequence[Row]) -> None:
        await copy_into(self._fast, "reaction_event", REACTION_COLUMNS, rows)

    async def write_voice_events(self, rows: Sequence[Row]) -> None:
        """One batch of voice transitions: one COPY."""
        await self._copy_voice_events(_checked(rows, len(VOICE_EVENT_COLUMNS)))

    async def _copy_voice_events(self, rows: Sequence[Row]) -> None:
        await copy_into(self._fast, "voice_event", VOICE_EVENT_COLUMNS, rows)

    async def write_messages(self, rows: Sequence[Row]) -> None:
        """One batch of messages, summed per (guild, day, channel, member): three upserts, one transaction."""
        await self._write_message_rows(_checked(rows, len(MESSAGE_COLUMNS)))

    async def _write_message_rows(self, rows: Sequence[Row]) -> None:
        sums: Counts = {}
        for row in rows:
            key = (row[1], _utc_day(row[0]), row[2], row[3])
            sums[key] = sums.get(key, 0) + 1
        if sums:
            async with self._fast() as unit:
                await add_counts(unit.connection, "messages", sums)


def _utc_day(moment: datetime) -> date:
    """The UTC day of ``moment`` (checked times are UTC already: no conversion)."""
    if moment.tzinfo is UTC:
        return moment.date()
    return moment.astimezone(UTC).date()


def _checked(rows: Sequence[Row], width: int) -> list[Row]:
    checked = instances("rows", rows, tuple)
    for index, row in enumerate(checked):
        if len(row) != width:
            raise ValidationError.single(f"rows.{index}", "row", f"must be a tuple of {width} values, got {len(row)}")
    return checked
