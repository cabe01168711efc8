"""Logs rules: record executed commands (buffered, binary COPY), report usage, keep partitions.

The error log (``record_error``, ``top_errors``, ``recent_errors``) is
inherited from ``controllers.error_log``, so ``db.logs`` keeps one face.

``db.logs.record_command(…)`` validates one command execution and hands it to
``db.logs.command_writer``, a ``BufferedWriter`` that writes batches with one
binary ``COPY`` plus one rollup upsert per transaction. A row outside every
partition makes the writer create the missing monthly partition and retry.

A batch PostgreSQL refuses because of what its rows hold is split until the
bad rows are alone (``db.bulk``); the rest is written and the bad rows go to
``command_log_dead_letter`` once, with one warning, never to be retried. How
long a row may wait in memory, and how many may, are settings
(``GUILDBASE_LOG_FLUSH_SECONDS``, ``…_LOG_FLUSH_ROWS``, ``…_LOG_MAX_PENDING_ROWS``):
together they bound what a SIGKILL loses (``docs/performance.md``).
"""

import json
import logging
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg

from guildbase.controllers.base import UnitOfWork
from guildbase.controllers.command_queries import MAX_PAGE, MAX_REPORT_DAYS, CommandQueries
from guildbase.controllers.error_log import ErrorLogging
from guildbase.db import partitions
from guildbase.db.bulk import BufferedWriter, Row, RowsLostError
from guildbase.db.fast import translating
from guildbase.db.spill import SpillFile
from guildbase.db.types import DISCORD_EPOCH_MS, NO_GUILD, utcnow
from guildbase.db.validation import (
    BIGINT_MAX,
    calendar_date,
    cut_text,
    flag,
    instances,
    integer,
    mapping,
    moment,
    snowflake,
)
from guildbase.db.validation import text as checked_text
from guildbase.errors import ConflictError, ValidationError, shown
from guildbase.models.logs import (
    ALL_GUILDS,
    COMMAND_MAX_LENGTH,
    ERROR_MAX_LENGTH,
    MAX_DURATION_MS,
)

__all__ = ["COPY_COLUMNS", "MAX_MONTHS_AHEAD", "MAX_PAGE", "MAX_REPORT_DAYS", "LogController", "command_row", "rollup"]

MAX_MONTHS_AHEAD = 24
COPY_COLUMNS = (
    "created_at",
    "user_id",
    "guild_id",
    "channel_id",
    "command",
    "params",
    "is_success",
    "error",
    "duration_ms",
)
_CHECK_VIOLATION = "23514"
_MAX_FUTURE_MS = 366 * 24 * 3600 * 1000  # as in db.types.validate_snowflake
_DISCORD_EPOCH = datetime.fromtimestamp(DISCORD_EPOCH_MS / 1000, UTC)
_DEAD_ROW_MAX = 20_000
log = logging.getLogger("guildbase.logs")

_DEAD_LETTER_SQL = """
INSERT INTO command_log_dead_letter (user_id, error, row)
SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[])
"""


def is_row_error(error: BaseException) -> bool:
    """Whether a failed write was refused for what its rows hold (split and set aside), not for the connection.

    Data and constraint errors from PostgreSQL (SQLSTATE classes 22 and 23, as
    guildbase errors once translated) and the client-side encoding errors of a
    value COPY cannot send (a lone surrogate, an int beyond BIGINT, a wrong type).
    """
    return isinstance(
        error,
        asyncpg.DataError
        | asyncpg.IntegrityConstraintViolationError
        | ValidationError
        | ConflictError
        | ValueError
        | TypeError
        | OverflowError,
    )


# Adds a batch's per-(guild, day, command) sums; rows come pre-aggregated and
# sorted, so concurrent writers lock rollup rows in the same order (no deadlock).
_ROLLUP_SQL = """
INSERT INTO command_stat_daily AS s (guild_id, day, command, uses, failures, duration_ms_total)
SELECT * FROM unnest($1::bigint[], $2::date[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[])
ON CONFLICT (guild_id, day, command) DO UPDATE
SET uses = s.uses + excluded.uses,
    failures = s.failures + excluded.failures,
    duration_ms_total = s.duration_ms_total + excluded.duration_ms_total
"""


def command_row(
    user_id: int,
    command: str,
    *,
    guild_id: int | None = None,
    channel_id: int | None = None,
    params: Mapping[str, Any] | None = None,
    success: bool = True,
    error: str | None = None,
    duration_ms: int = 0,
    created_at: datetime | None = None,
) -> Row:
    """Validate one command execution into a COPY row; errors name the field.

    Plain checks, not a pydantic model: this runs for every command, and the
    rules are few. ``duration_ms`` is whole milliseconds, as stored: a float
    (``12.5``) is refused rather than silently rounded, so the caller decides
    how to round. ``error`` longer than the column allows is cut, not refused
    (a log must not fail because an exception message was long).
    """
    # The same rule as ``snowflake()`` with one clock read for the three IDs; any
    # ID that fails it goes through ``snowflake()`` for the field-named error.
    latest = (int(time.time() * 1000) - DISCORD_EPOCH_MS + _MAX_FUTURE_MS) << 22
    user = user_id if type(user_id) is int and 0 < user_id < latest else snowflake("user_id", user_id)
    guild = guild_id if guild_id is None or (type(guild_id) is int and 0 < guild_id < latest) else None
    if guild is None and guild_id is not None:
        guild = snowflake("guild_id", guild_id)
    channel = channel_id if channel_id is None or (type(channel_id) is int and 0 < channel_id < latest) else None
    if channel is None and channel_id is not None:
        channel = snowflake("channel_id", channel_id)
    command = checked_text("command", command, min_length=1, max_length=COMMAND_MAX_LENGTH)
    success = flag("success", success)
    text_error = None if error is None else cut_text("error", error, max_length=ERROR_MAX_LENGTH)
    duration = integer("duration_ms", duration_ms, minimum=0, maximum=MAX_DURATION_MS)  # whole ms, never rounded
    given = mapping("params", params)
    try:
        payload = json.dumps(given, separators=(",", ":"), allow_nan=False) if given else "{}"
    except (TypeError, ValueError) as problem:
        raise ValidationError.single("params", "json", f"must be JSON-serializable: {shown(problem)}") from None
    when = moment("created_at", created_at)
    if not _DISCORD_EPOCH <= when <= utcnow() + timedelta(milliseconds=_MAX_FUTURE_MS):
        msg = f"must be between Discord's epoch (2015) and a year from now, got {shown(created_at)}"
        raise ValidationError.single("created_at", "range", msg)
    return (when, user, guild, channel, command, payload, success, text_error, duration)


def rollup(rows: Sequence[Row]) -> list[list[Any]]:
    """The batch's sums per (guild, UTC day, command), plus the all-guilds rows, as unnest columns."""
    sums: dict[tuple[int, date, str], list[int]] = {}
    for created_at, _user, guild, _channel, command, _params, success, _error, duration in rows:
        day = created_at.astimezone(UTC).date()
        # A DM command (guild None, or 0 as stored) counts once: in the all-guilds rows only.
        for scope in (ALL_GUILDS, guild) if guild else (ALL_GUILDS,):
            entry = sums.setdefault((scope, day, command), [0, 0, 0])
            entry[0] += 1
            entry[1] += 0 if success else 1
            entry[2] += duration
    keys = sorted(sums)
    return [
        [k[0] for k in keys],
        [k[1] for k in keys],
        [k[2] for k in keys],
        [sums[k][0] for k in keys],
        [sums[k][1] for k in keys],
        [sums[k][2] for k in keys],
    ]


def _months(rows: Sequence[Row]) -> list[date]:
    return sorted({row[0].astimezone(UTC).date().replace(day=1) for row in rows})


class LogController(ErrorLogging, CommandQueries):
    """Command usage (a buffered writer, recent rows, daily reports, partitions) and the error log."""

    def __init__(
        self,
        db: UnitOfWork,
        *,
        batch_size: int | None = None,
        max_pending: int | None = None,
        max_error_samples: int = 20,
    ) -> None:
        super().__init__(db, max_samples=max_error_samples)
        self._batch_size = batch_size
        self._max_pending = max_pending
        self._writer: BufferedWriter | None = None

    @property
    def command_writer(self) -> BufferedWriter:
        """The process's command-log writer (created on first use, drained by ``Database.close``)."""
        if self._writer is None or self._writer.closed:
            settings = self._db.settings
            batch_size = self._batch_size or settings.log_flush_rows
            self._writer = BufferedWriter(
                self.write_commands,
                name="command log rows",
                batch_size=batch_size,
                max_pending=max(batch_size, self._max_pending or settings.log_max_pending_rows),
                interval=settings.log_flush_seconds,
                retry_delay=settings.log_retry_seconds,
                max_retry_delay=settings.log_retry_max_seconds,
                is_row_error=is_row_error,
                dead_letter=self._dead_letter,
                spill=self._spill_file(),
            )
        return self._writer

    def _spill_file(self) -> SpillFile | None:
        settings = self._db.settings
        if settings.log_spill_dir is None or settings.database_url is None:
            return None  # the embedded database's URL is only known once it runs; its bot waits instead
        return SpillFile(settings.log_spill_dir, "command_log", str(settings.database_url))

    async def replay_spilled(self) -> int:
        """Write the command rows that a killed process spilled to disk; ``Database.connect`` calls this.

        Returns how many rows were written (0 when there was nothing to replay).
        """
        return await self.command_writer.replay_orphans()

    @property
    def dead_letters(self) -> int:
        """Rows this process moved to ``command_log_dead_letter`` (PostgreSQL refused them)."""
        return 0 if self._writer is None else self._writer.dead_lettered

    async def record_command(
        self,
        user_id: int,
        command: str,
        *,
        guild_id: int | None = None,
        channel_id: int | None = None,
        params: Mapping[str, Any] | None = None,
        success: bool = True,
        error: str | None = None,
        duration_ms: int = 0,
        created_at: datetime | None = None,
    ) -> None:
        """Validate one executed command and queue it; never waits for the database.

        A full buffer sends the row to the spill file (``log_spill_dir``), so
        the call costs the same under load as when idle.

        ``duration_ms`` is an int of whole milliseconds (``round(elapsed * 1000)``).

        Raises:
            ValidationError: a field breaks its rule, e.g. ``duration_ms=12.5``
                (not whole milliseconds) or negative; nothing is queued.
        """
        row = command_row(
            user_id,
            command,
            guild_id=guild_id,
            channel_id=channel_id,
            params=params,
            success=success,
            error=error,
            duration_ms=duration_ms,
            created_at=created_at,
        )
        writer = self.command_writer
        if not writer.offer(row):  # only without a spill file (``log_spill_dir=None``)
            await writer.put(row)

    async def flush(self) -> int:
        """Write the queued command and error rows now; returns how many were written."""
        written = 0
        for writer in (self._writer, self._error_writer):
            if writer is not None:
                written += await writer.flush()
        return written

    async def close(self) -> None:
        """Write every queued command and error row and stop accepting more (``Database.close`` calls this).

        Both writers are closed whatever the other does.

        Raises:
            RowsLostError: PostgreSQL could not take the rows; the error holds them.
        """
        lost: list[BaseException] = []
        for writer in (self._writer, self._error_writer):
            if writer is not None:
                try:
                    await writer.close()
                except RowsLostError as error:
                    lost.append(error)
        if lost:
            raise lost[0]

    async def _dead_letter(self, refused: Sequence[tuple[Row, BaseException]]) -> None:
        """Keep rows PostgreSQL refused in ``command_log_dead_letter``, with one warning for them all."""
        users = [
            row[1] if len(row) > 1 and type(row[1]) is int and 0 < row[1] <= BIGINT_MAX else None for row, _ in refused
        ]
        errors = [ascii(f"{type(error).__name__}: {error}")[:ERROR_MAX_LENGTH] for _, error in refused]
        texts = [ascii(row)[:_DEAD_ROW_MAX] for row, _ in refused]
        async with self._fast() as unit:
            await unit.connection.execute(_DEAD_LETTER_SQL, users, errors, texts)
        log.warning(
            "%d command log row(s) refused by PostgreSQL were moved to command_log_dead_letter, the rest of "
            "their batch was written (first: %s)",
            len(refused),
            errors[0],
        )

    async def write_commands(self, rows: Sequence[Row]) -> None:
        """One batch: binary COPY into ``command_log`` and the rollup upsert, in one transaction.

        A row in a month without a partition creates that partition, then the
        batch is retried once.
        """
        rows = instances("rows", rows, tuple)
        for index, row in enumerate(rows):  # a malformed row fails its batch here, and is isolated
            if len(row) != len(COPY_COLUMNS):
                msg = f"must be a command_row() tuple of {len(COPY_COLUMNS)} values, got {len(row)}"
                raise ValidationError.single(f"rows.{index}", "row", msg)
        try:
            await self._copy(rows)
        except asyncpg.PostgresError as error:
            if getattr(error, "sqlstate", None) != _CHECK_VIOLATION or "no partition" not in str(error):
                with translating():
                    raise
            async with self._fast() as unit:
                for month in _months(rows):
                    await unit.connection.execute("SELECT command_log_ensure_partition($1)", month)
            await self._copy(rows)

    async def _copy(self, rows: Sequence[Row]) -> None:
        columns = rollup(rows)
        # A DM command is stored as guild 0 (GuildKeyType); rows keep None until here (spill files, dead letters).
        records = [row if row[2] is not None else (*row[:2], NO_GUILD, *row[3:]) for row in rows]
        async with self._fast() as unit:
            await unit.connection.copy_records_to_table("command_log", records=records, columns=COPY_COLUMNS)
            await unit.connection.execute(_ROLLUP_SQL, *columns)

    async def ensure_partitions(self, *, months_ahead: int = 3, now: datetime | None = None) -> list[str]:
        """Create this month's partition and the next ``months_ahead`` ones; returns their names."""
        months_ahead = integer("months_ahead", months_ahead, minimum=0, maximum=MAX_MONTHS_AHEAD)
        first = moment("now", now).date().replace(day=1)
        months = [partitions.add_months(first, offset) for offset in range(months_ahead + 1)]
        async with self._fast() as unit:
            return await partitions.ensure_months(unit.connection, "command_log", months)

    async def drop_partitions_before(self, cutoff: date) -> list[str]:
        """Retention: drop every monthly partition that ends on or before ``cutoff``; returns their names."""
        cutoff = calendar_date("cutoff", cutoff)
        async with self._fast() as unit:
            return await partitions.drop_before(unit.connection, "command_log", cutoff)

    async def partitions(self) -> list[str]:
        """The command log's partitions, oldest first."""
        async with self._fast(transaction=False) as unit:
            return await partitions.partitions_of(unit.connection, "command_log")
