"""The error log (R6.2): unexpected exceptions, grouped by fingerprint, with bounded samples.

``db.logs.record_error(exc, …)`` turns an exception and where it happened into
one row and queues it on ``db.logs.error_writer``, a ``BufferedWriter`` like
the command log's: the bot never waits on the database to report a failure,
and ``Database.close`` writes everything queued. Each batch is one transaction:

1. ``error_group`` upsert per fingerprint (``count`` added in SQL, first and
   last seen by ``least`` / ``greatest``), in fingerprint order so concurrent
   writers lock groups in the same order;
2. ``error_group_daily`` upsert (what "top errors over a period" sums);
3. binary ``COPY`` of the samples (at most ``max_samples`` per group from a batch);
4. a trim that keeps the newest ``max_samples`` samples of every group it touched.

The fingerprint hashes the exception's qualified type and its stack's file and
function names (paths inside ``site-packages``, else their last three parts),
never line numbers, messages or addresses: the same bug after an unrelated
edit, in another process or with another ID in its message, is the same group.
"""

import hashlib
import json
import os
import socket
import traceback
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import PurePath
from typing import Any

from sqlalchemy import RowMapping, text

from guildbase.controllers.base import Controller, UnitOfWork
from guildbase.db.bulk import BufferedWriter, Row
from guildbase.db.rows import read_all
from guildbase.db.types import utcnow
from guildbase.db.validation import (
    calendar_date,
    instance,
    instances,
    integer,
    mapping,
    optional_aware,
    optional_snowflake,
    optional_text,
    page_limit,
)
from guildbase.errors import ValidationError, shown
from guildbase.models.logs import (
    COMMAND_MAX_LENGTH,
    ERROR_ID_MAX_LENGTH,
    ERROR_MESSAGE_MAX_LENGTH,
    ERROR_TYPE_MAX_LENGTH,
    FINGERPRINT_LENGTH,
    TRACEBACK_MAX_LENGTH,
    ErrorGroupStat,
    ErrorLogRead,
)

__all__ = ["ERROR_COLUMNS", "ErrorLogging", "fingerprint"]

MAX_ERROR_PAGE = 100
MAX_ERROR_REPORT_DAYS = 366
MAX_SHARD_ID = 1_000_000
ERROR_COLUMNS = (
    "created_at",
    "fingerprint",
    "error_id",
    "type",
    "message",
    "traceback",
    "process",
    "shard_id",
    "guild_id",
    "channel_id",
    "user_id",
    "command",
    "context",
)
_LOCATION = len(ERROR_COLUMNS)  # a row carries the group's location after the COPY columns
_HOST = socket.gethostname()

_GROUP_SQL = """
INSERT INTO error_group AS g (fingerprint, type, message, location, first_seen_at, last_seen_at, count)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::timestamptz[],
                     $7::bigint[])
ON CONFLICT (fingerprint) DO UPDATE
SET count = g.count + excluded.count,
    first_seen_at = least(g.first_seen_at, excluded.first_seen_at),
    last_seen_at = greatest(g.last_seen_at, excluded.last_seen_at),
    message = CASE WHEN excluded.last_seen_at >= g.last_seen_at THEN excluded.message ELSE g.message END
"""

_DAILY_SQL = """
INSERT INTO error_group_daily AS d (fingerprint, day, count)
SELECT * FROM unnest($1::text[], $2::date[], $3::bigint[])
ON CONFLICT (fingerprint, day) DO UPDATE SET count = d.count + excluded.count
"""

# Keeps the newest samples of each group the batch touched (the group rows are locked by now).
_TRIM_SQL = """
DELETE FROM error_log AS e
USING (
    SELECT error_log_id,
           row_number() OVER (PARTITION BY fingerprint ORDER BY created_at DESC, error_log_id DESC) AS position
    FROM error_log
    WHERE fingerprint = ANY($1::text[])
) AS ranked
WHERE e.error_log_id = ranked.error_log_id AND ranked.position > $2
"""

_TOP_SQL = text("""
SELECT g.fingerprint, g.type, g.message, g.location, g.first_seen_at, g.last_seen_at, g.count AS total,
       sum(d.count)::bigint AS in_period
FROM error_group_daily AS d
JOIN error_group AS g ON g.fingerprint = d.fingerprint
WHERE d.day >= :since AND d.day < :until
GROUP BY g.fingerprint
ORDER BY in_period DESC, g.last_seen_at DESC
LIMIT :limit
""")

_RECENT_SQL = text("""
SELECT error_log_id, fingerprint, created_at, error_id, type, message, traceback, process, shard_id,
       guild_id, channel_id, user_id, command, context
FROM error_log
WHERE (CAST(:guild_id AS bigint) IS NULL OR guild_id = :guild_id)
  AND (CAST(:command AS text) IS NULL OR command = :command)
  AND (CAST(:fingerprint AS text) IS NULL OR fingerprint = :fingerprint)
  AND created_at >= :since
ORDER BY created_at DESC, error_log_id DESC
LIMIT :limit
""")


def _module_path(filename: str) -> str:
    parts = PurePath(filename).parts
    for marker in ("site-packages", "dist-packages"):
        if marker in parts:
            return "/".join(parts[len(parts) - parts[::-1].index(marker) :])
    return "/".join(parts[-3:])


def _type_name(error: BaseException) -> str:
    kind = type(error)
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


def fingerprint(error: BaseException) -> tuple[str, str]:
    """The group of ``error``: a hash of its type and stack frames (file and function only), and its location.

    The location is the innermost frame (``guildbase/bot/cogs/levels.py:rank``),
    or the type when the exception was never raised.
    """
    frames = [f"{_module_path(frame.filename)}:{frame.name}" for frame in traceback.extract_tb(error.__traceback__)]
    parts = [_type_name(error), *frames]
    digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:FINGERPRINT_LENGTH]
    return digest, parts[-1]


def _storable(value: str, limit: int, *, tail: bool = False) -> str:
    """Text PostgreSQL can hold, cut to ``limit``: an exception's own text must never make recording it fail."""
    cut = value[-limit:] if tail else value[:limit]
    return cut.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")


def _json(field: str, value: Mapping[str, Any] | None) -> str:
    given = mapping(field, value)
    try:
        payload = json.dumps(given, separators=(",", ":"), allow_nan=False) if given else "{}"
    except (TypeError, ValueError) as problem:
        raise ValidationError.single(field, "json", f"must be JSON-serializable: {shown(problem)}") from None
    return payload


class ErrorLogging(Controller):
    """``db.logs``' error half: record (buffered), top groups over a period, errors of a guild or command."""

    def __init__(self, db: UnitOfWork, *, max_samples: int = 20) -> None:
        super().__init__(db)
        self._max_samples = max_samples
        self._error_writer: BufferedWriter | None = None

    @property
    def error_writer(self) -> BufferedWriter:
        """The process's error writer (created on first use, drained by ``Database.close``)."""
        if self._error_writer is None or self._error_writer.closed:
            self._error_writer = BufferedWriter(self.write_errors, name="error log rows", batch_size=500)
        return self._error_writer

    async def record_error(
        self,
        exc: BaseException,
        *,
        guild_id: int | None = None,
        channel_id: int | None = None,
        user_id: int | None = None,
        command: str | None = None,
        context: Mapping[str, Any] | None = None,
        error_id: str | None = None,
        shard_id: int | None = None,
    ) -> str:
        """Queue one unexpected exception with where it happened; returns its fingerprint.

        ``error_id`` is the ID shown to the user (so support can find the
        sample); ``context`` is any JSON object (the options, the message ID …).
        The process (``host:pid``) is filled in here.

        Raises:
            ValidationError: an argument breaks its rule; nothing is queued.
        """
        error = instance("exc", exc, BaseException)
        row_context = _json("context", context)
        where = (
            optional_snowflake("guild_id", guild_id),
            optional_snowflake("channel_id", channel_id),
            optional_snowflake("user_id", user_id),
            optional_text("command", command, max_length=COMMAND_MAX_LENGTH),
        )
        shown_id = optional_text("error_id", error_id, max_length=ERROR_ID_MAX_LENGTH)
        shard = None if shard_id is None else integer("shard_id", shard_id, minimum=0, maximum=MAX_SHARD_ID)
        digest, location = fingerprint(error)
        trace = "".join(traceback.format_exception(error))
        row = (
            utcnow(),
            digest,
            shown_id,
            _storable(_type_name(error), ERROR_TYPE_MAX_LENGTH),
            _storable(str(error), ERROR_MESSAGE_MAX_LENGTH),
            _storable(trace, TRACEBACK_MAX_LENGTH, tail=True),
            f"{_HOST}:{os.getpid()}",
            shard,
            *where,
            row_context,
            _storable(location, ERROR_MESSAGE_MAX_LENGTH),
        )
        writer = self.error_writer
        if not writer.offer(row):
            await writer.put(row)
        return digest

    async def write_errors(self, rows: Sequence[Row]) -> None:
        """One batch: group and daily upserts, the samples by binary COPY, the trim; one transaction."""
        rows = instances("rows", rows, tuple)
        for index, row in enumerate(rows):
            if len(row) != _LOCATION + 1:
                msg = f"must be a record_error() row of {_LOCATION + 1} values, got {len(row)}"
                raise ValidationError.single(f"rows.{index}", "row", msg)
        by_group: dict[str, list[Row]] = {}
        for row in sorted(rows, key=lambda r: r[0]):
            by_group.setdefault(row[1], []).append(row)
        keys = sorted(by_group)
        days: dict[tuple[str, date], int] = {}
        for row in rows:
            day = (row[1], row[0].astimezone(UTC).date())
            days[day] = days.get(day, 0) + 1
        day_keys = sorted(days)
        samples = [row[:_LOCATION] for key in keys for row in by_group[key][-self._max_samples :]]
        async with self._fast() as unit:
            connection = unit.connection
            await connection.execute(
                _GROUP_SQL,
                keys,
                [by_group[k][-1][3] for k in keys],
                [by_group[k][-1][4] for k in keys],
                [by_group[k][-1][_LOCATION] for k in keys],
                [by_group[k][0][0] for k in keys],
                [by_group[k][-1][0] for k in keys],
                [len(by_group[k]) for k in keys],
            )
            await connection.execute(
                _DAILY_SQL, [k[0] for k in day_keys], [k[1] for k in day_keys], [days[k] for k in day_keys]
            )
            await connection.copy_records_to_table("error_log", records=samples, columns=ERROR_COLUMNS)
            await connection.execute(_TRIM_SQL, keys, self._max_samples)

    async def top_errors(self, *, days: int = 7, until: date | None = None, limit: int = 10) -> list[ErrorGroupStat]:
        """The error groups seen most in the ``days`` UTC days before ``until`` (default: through today)."""
        days = integer("days", days, minimum=1, maximum=MAX_ERROR_REPORT_DAYS)
        end = utcnow().date() + timedelta(days=1) if until is None else calendar_date("until", until)
        limit = page_limit(limit, MAX_ERROR_PAGE)
        params = {"since": end - timedelta(days=days), "until": end, "limit": limit}
        async with self._read() as session:
            rows = (await session.execute(_TOP_SQL, params)).mappings().all()
        return read_all(ErrorGroupStat, rows)

    async def recent_errors(
        self,
        *,
        guild_id: int | None = None,
        command: str | None = None,
        fingerprint: str | None = None,
        since: datetime | None = None,
        limit: int = 50,
    ) -> list[ErrorLogRead]:
        """The newest kept samples of a guild's, a command's or a group's errors (default: the last 7 days)."""
        params = {
            "guild_id": optional_snowflake("guild_id", guild_id),
            "command": optional_text("command", command, max_length=COMMAND_MAX_LENGTH),
            "fingerprint": optional_text("fingerprint", fingerprint, max_length=FINGERPRINT_LENGTH),
            "since": optional_aware("since", since) or utcnow() - timedelta(days=7),
            "limit": page_limit(limit, MAX_ERROR_PAGE),
        }
        async with self._read() as session:
            rows = (await session.execute(_RECENT_SQL, params)).mappings().all()
        return read_all(ErrorLogRead, map(_decoded, rows))


def _decoded(row: RowMapping) -> dict[str, Any]:
    values = dict(row)
    if isinstance(values["context"], str):  # untyped text SQL: the driver hands JSONB back as text
        values["context"] = json.loads(values["context"])
    return values
