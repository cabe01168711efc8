"""Exports (R13.5): a raw log or event table, or a report, over a period, to CSV or JSON Lines, streamed.

Raw tables are read with ``COPY (SELECT …) TO STDOUT`` inside one read-only
transaction (``db.copy_stream``: PostgreSQL renders each row as its line, Python
only passes bytes on) and written out a chunk of about ``batch_size`` rows at a
time, so memory stays flat whatever the number of rows: the process never holds
more than a few network buffers and one chunk. ``export_chunks`` yields the text of
each batch (the dashboard streams it as a download); ``export`` writes them to
a file; ``guildbase export …`` shows a progress bar over ``export_count``.

Periods are ``[since, until)``, aware datetimes; a daily rollup's row is in the
period when its UTC day starts in it. Columns are the table's own, in table
order, or a comma-separated choice of them. CSV writes times as ISO 8601, JSON
as its text, and NULL as an empty field; JSON Lines writes one object per row
with Discord IDs as strings (JavaScript loses precision above 2**53).

Mistakes are ``ValidationError``s naming the argument: an unknown ``table``
(the message lists the exportable ones), an unknown column in ``columns``, a
``until`` not after ``since``.
"""

import contextlib
import csv
import io
import json
from collections.abc import AsyncGenerator, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TextIO

from sqlalchemy import ARRAY, JSON, Boolean, Date, DateTime, Float, Integer, TypeDecorator

from guildbase.controllers.event_stats import EventStats
from guildbase.db.copy_stream import copy_text_chunks
from guildbase.db.types import GuildKeyType, SnowflakeType
from guildbase.db.validation import aware, integer, optional_snowflake, optional_text, validate_enum
from guildbase.errors import ValidationError, shown
from guildbase.models import metadata
from guildbase.models.event_stats import ExportFormat, GroupBy, Metric

__all__ = ["EXPORTABLE", "EventExports", "ExportChunk", "ExportFormat", "ExportPlan", "plan_export"]

EXPORTABLE: dict[str, str] = {
    "guild_event": "occurred_at",
    "reaction_event": "occurred_at",
    "voice_event": "occurred_at",
    "voice_session": "started_at",
    "invite_use": "joined_at",
    "command_log": "created_at",
    "message_stat_daily": "day",
    "member_stat_daily": "day",
    "voice_stat_daily": "day",
    "role_stat_daily": "day",
    "command_stat_daily": "day",
}
"""Every table that can be exported, and the time column its period is taken on."""
DEFAULT_BATCH = 5000


def _iso(column: str) -> str:
    """SQL rendering ``column`` (timestamptz) exactly as Python's ``datetime.isoformat()`` renders it in UTC.

    One ``to_char`` with the microseconds, dropped when they are zero as Python
    drops them (``.000000`` can only be the fraction): a third of the cost of
    rendering the fraction apart (W12).
    """
    return f"replace(to_char(({column} AT TIME ZONE 'UTC'), 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"'), '.000000+', '+')"


def _column_kind(column: Any) -> str:
    """How an export renders a column: guild (0 is none), id, time, date, bool, array, json, number or text."""
    kind = column.type
    if isinstance(kind, GuildKeyType):
        return "guild"
    if isinstance(kind, SnowflakeType):
        return "id"
    base = kind.impl_instance if isinstance(kind, TypeDecorator) else kind
    found = "text"
    for sql_type, name in _KINDS:
        if isinstance(base, sql_type):
            found = name
            break
    return found


_KINDS: tuple[tuple[type[Any], str], ...] = (
    (DateTime, "time"),
    (Boolean, "bool"),
    (ARRAY, "array"),
    (JSON, "json"),
    (Integer, "number"),
    (Float, "number"),
    (Date, "date"),
)


def _quoted(value: str) -> str:
    """CSV quoting in SQL, as Python's ``csv`` does it: only a field holding a comma, a quote or a line break."""
    return f"CASE WHEN {value} ~ '[\",\\r\\n]' THEN '\"' || replace({value}, '\"', '\"\"') || '\"' ELSE {value} END"


def _value_sql(name: str, kind: str) -> str:
    """The column as read: a guild 0 (``GuildKeyType``: no guild) is NULL, as the API says ``None``."""
    return f"NULLIF({name}, 0)" if kind == "guild" else name


def _csv_sql(column: str, kind: str) -> str:
    """One column's CSV field (NULL as an empty field)."""
    name = _value_sql(column, kind)
    field = {
        "time": _iso(name),
        "date": f"to_char({name}, 'YYYY-MM-DD')",
        "bool": f"CASE WHEN {name} THEN 'true' WHEN NOT {name} THEN 'false' END",
        "array": _quoted(f"to_json({name})::text"),
        "json": _quoted(f"{name}::text"),
        "text": _quoted(f"{name}::text"),
    }.get(kind, f"{name}::text")
    return f"coalesce({field}, '')"


def _json_sql(column: str, kind: str) -> str:
    """One column's ``"name":value`` member, concatenated as text (``json_build_object`` costs twice as much, W12)."""
    name = _value_sql(column, kind)
    value = {
        "time": f"'\"' || {_iso(name)} || '\"'",
        "id": f"'\"' || {name}::text || '\"'",
        "guild": f"'\"' || {name}::text || '\"'",
        "date": f"'\"' || to_char({name}, 'YYYY-MM-DD') || '\"'",
        "bool": f"CASE WHEN {name} THEN 'true' WHEN NOT {name} THEN 'false' END",
        "number": f"to_json({name})::text",
        "array": f"to_json({name})::text",
        "json": f"{name}::text",
    }.get(kind, f"to_json({name}::text)::text")
    return f"'\"{column}\":' || coalesce({value}, 'null')"


@dataclass(frozen=True, slots=True)
class ExportPlan:
    """A validated export: what to read, and how to write it."""

    table: str
    columns: tuple[str, ...]
    ids: frozenset[str]
    """The columns holding Discord IDs (strings in JSON Lines)."""
    time_column: str
    since: datetime
    until: datetime
    guild_id: int | None
    fmt: ExportFormat
    kinds: tuple[str, ...] = ()
    """``_column_kind`` of each of ``columns``."""

    def sql(self, *, count: bool = False) -> str:
        """The statement; identifiers come from the metadata, values are bound ($1 since, $2 until, $3 guild).

        PostgreSQL renders each row as the line the export writes (CSV fields
        quoted as Python's ``csv`` quotes them, ISO 8601 times, ``true``/``false``;
        JSON Lines objects), so Python only joins a batch's lines.
        """
        when = self.time_column
        if when == "day":
            when = "(day::timestamp AT TIME ZONE 'UTC')"
        where = f"{when} >= $1 AND {when} < $2 AND ($3::bigint IS NULL OR guild_id = $3)"
        if count:
            return f"SELECT count(*) FROM {self.table} WHERE {where}"  # noqa: S608 - identifiers from the metadata
        named = zip(self.columns, self.kinds, strict=True)
        if self.fmt is ExportFormat.CSV:
            selected = " || ',' || ".join(_csv_sql(name, kind) for name, kind in named)
        else:
            selected = "'{' || " + " || ',' || ".join(_json_sql(name, kind) for name, kind in named) + " || '}'"
        return f"SELECT {selected} FROM {self.table} WHERE {where} ORDER BY {self.time_column}"  # noqa: S608


@dataclass(frozen=True, slots=True)
class ExportChunk:
    """The text of one batch (the header, if any, comes with the first) and how many rows it holds."""

    text: str
    rows: int


def plan_export(
    table: object,
    *,
    fmt: object = ExportFormat.CSV,
    since: object,
    until: object,
    guild_id: object = None,
    columns: object = None,
) -> ExportPlan:
    """Check an export's arguments; every mistake is a ``ValidationError`` naming the argument."""
    if not isinstance(table, str) or table not in EXPORTABLE:
        known = ", ".join(sorted(EXPORTABLE))
        raise ValidationError.single("table", "table", f"must be one of {known}, got {shown(table)}")
    chosen_format = validate_enum("fmt", ExportFormat, fmt)
    start, end = aware("since", since), aware("until", until)
    if end <= start:
        raise ValidationError.single(
            "until", "period", f"must be after since ({start.isoformat()}), got {end.isoformat()}"
        )
    guild = optional_snowflake("guild_id", guild_id)
    known_columns = [column.name for column in metadata.tables[table].columns]
    wanted = optional_text("columns", columns, max_length=4000)
    if wanted is None or not wanted.strip():
        picked = tuple(known_columns)
    else:
        picked = tuple(part.strip() for part in wanted.split(","))
        unknown = [name for name in picked if name not in known_columns]
        if unknown or len(set(picked)) != len(picked):
            msg = f"must be distinct columns of {table} ({', '.join(known_columns)}), got {shown(wanted)}"
            raise ValidationError.single("columns", "column", msg)
    ids = frozenset(c.name for c in metadata.tables[table].columns if isinstance(c.type, SnowflakeType))
    kinds = tuple(_column_kind(metadata.tables[table].columns[name]) for name in picked)
    return ExportPlan(table, picked, ids, EXPORTABLE[table], start, end, guild, chosen_format, kinds)


def _csv_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value, separators=(",", ":"))
    return value


def render(plan: ExportPlan, records: Iterable[Sequence[Any]], *, header: bool) -> str:
    """One batch of lines rendered by ``plan.sql()`` (CSV or JSON Lines), after the CSV header when asked."""
    lines = [record[0] for record in records]
    if header and plan.fmt is ExportFormat.CSV:
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerow(plan.columns)
        lines.insert(0, out.getvalue()[:-1])
    return "\n".join(lines) + "\n" if lines else ""


class EventExports(EventStats):
    """The export part of ``db.events``."""

    def export_chunks(
        self,
        table: str,
        *,
        fmt: ExportFormat = ExportFormat.CSV,
        since: datetime,
        until: datetime,
        guild_id: int | None = None,
        columns: str | None = None,
        batch_size: int = DEFAULT_BATCH,
    ) -> AsyncGenerator[ExportChunk, None]:
        """Stream ``table`` over the period, batch by batch; the arguments are checked now, before any read."""
        plan = plan_export(table, fmt=fmt, since=since, until=until, guild_id=guild_id, columns=columns)
        size = integer("batch_size", batch_size, minimum=1, maximum=100_000)
        return self._stream(plan, size)

    async def _stream(self, plan: ExportPlan, size: int) -> AsyncGenerator[ExportChunk, None]:
        if plan.fmt is ExportFormat.CSV:
            yield ExportChunk(render(plan, [], header=True), 0)
        async with self._fast() as unit:  # one read-only transaction: a consistent snapshot of the period
            # One long read by design: the COPY sorts and streams the whole period, which takes longer
            # than GUILDBASE_STATEMENT_TIMEOUT_MS at 10M rows (found by W12); this transaction only.
            await unit.connection.execute("SET LOCAL statement_timeout = 0")
            copied = copy_text_chunks(unit.connection, plan.sql(), plan.since, plan.until, plan.guild_id, rows=size)
            async with contextlib.aclosing(copied) as chunks:  # a reader leaving early ends the COPY before the
                async for text_chunk, count in chunks:  # transaction does, so the connection goes back clean
                    yield ExportChunk(text_chunk, count)

    async def export(
        self,
        out: TextIO,
        table: str,
        *,
        fmt: ExportFormat = ExportFormat.CSV,
        since: datetime,
        until: datetime,
        guild_id: int | None = None,
        columns: str | None = None,
    ) -> int:
        """Write ``table`` over the period to ``out`` (anything with ``write(str)``); returns the rows written."""
        if not callable(getattr(out, "write", None)):
            raise ValidationError.single("out", "writable", f"must have a write(str) method, got {shown(out)}")
        written = 0
        async for chunk in self.export_chunks(
            table, fmt=fmt, since=since, until=until, guild_id=guild_id, columns=columns
        ):
            out.write(chunk.text)
            written += chunk.rows
        return written

    async def export_count(self, table: str, *, since: datetime, until: datetime, guild_id: int | None = None) -> int:
        """How many rows ``export`` would write (the progress bar's total)."""
        plan = plan_export(table, since=since, until=until, guild_id=guild_id)
        async with self._fast(transaction=False) as unit:
            return int(await unit.connection.fetchval(plan.sql(count=True), plan.since, plan.until, plan.guild_id))

    async def export_report(
        self,
        out: TextIO,
        guild_id: int,
        metric: Metric,
        *,
        fmt: ExportFormat = ExportFormat.CSV,
        since: date,
        until: date,
        group_by: GroupBy = GroupBy.DAY,
        limit: int = 100,
    ) -> int:
        """Write a report (``stats``) to ``out`` as CSV or JSON Lines; returns the rows written."""
        if not callable(getattr(out, "write", None)):
            raise ValidationError.single("out", "writable", f"must have a write(str) method, got {shown(out)}")
        chosen = validate_enum("fmt", ExportFormat, fmt)
        rows = await self.stats(guild_id, metric, since=since, until=until, group_by=group_by, limit=limit)
        key = "day" if validate_enum("group_by", GroupBy, group_by) is GroupBy.DAY else "key"
        if chosen is ExportFormat.CSV:
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow([key, "value"])
            writer.writerows([_csv_value(getattr(row, key)), row.value] for row in rows)
        else:
            for row in rows:
                value = getattr(row, key)
                shown_key = value.isoformat() if isinstance(value, date) else str(value)
                out.write(json.dumps({key: shown_key, "value": row.value}) + "\n")
        return len(rows)
