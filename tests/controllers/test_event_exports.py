"""Exports (R13.5): raw tables and reports to CSV / JSON Lines, streamed, and parsed back to the same rows."""

import asyncio
import contextlib
import csv
import io
import json
import os
import subprocess
import sys
import tracemalloc
from collections.abc import AsyncGenerator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from guildbase import Database, Settings, ValidationError
from guildbase.cli import app
from guildbase.controllers.event_exports import ExportChunk
from guildbase.db.types import make_snowflake
from guildbase.models.event_stats import ExportFormat, GroupBy, Metric
from guildbase.models.events import GuildEventKind
from guildbase.testing import shifted_noon

pytestmark = pytest.mark.clock

NOON = shifted_noon()
GUILD = make_snowflake(NOON - timedelta(days=400), 61)
OTHER = make_snowflake(NOON - timedelta(days=400), 62)
CHANNEL = make_snowflake(NOON - timedelta(days=400), 63)
USER = make_snowflake(NOON - timedelta(days=300), 64)
ROWS = 120_000
COLUMNS = "occurred_at,guild_id,channel_id,message_id,user_id,emoji,is_added"
PEAK_BYTES = 20 * 1024 * 1024
"""Python allocations during the export (tracemalloc): one 5,000-row batch takes about 9 MiB; the 120,000 rows
held at once would take over 30 MiB as tuples alone, so holding the table instead of a batch fails this."""


def reaction(n: int) -> tuple[object, ...]:
    return (NOON + timedelta(microseconds=n), GUILD, CHANNEL, USER + n, USER, "⭐" if n % 3 else "🔥", n % 2 == 0)


async def test_a_large_export_streams_in_flat_memory_and_parses_back_to_the_same_rows(
    pooled_db: Database, tmp_path: Path
) -> None:
    expected = [reaction(n) for n in range(ROWS)]
    for start in range(0, ROWS, 10_000):
        await pooled_db.events.write_reactions(expected[start : start + 10_000])
    await pooled_db.events.write_reactions([(NOON, OTHER, CHANNEL, USER, USER, "⭐", True)])  # another guild's
    target = tmp_path / "reactions.csv"

    tracemalloc.start()
    try:
        with target.open("w", encoding="utf-8", newline="") as out:
            written = await pooled_db.events.export(
                out, "reaction_event", since=NOON, until=NOON + timedelta(hours=1), guild_id=GUILD, columns=COLUMNS
            )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert written == ROWS
    assert peak < PEAK_BYTES, f"peak {peak / 2**20:.1f} MiB"
    with target.open(encoding="utf-8", newline="") as source:
        reader = csv.reader(source)
        assert next(reader) == COLUMNS.split(",")
        parsed = [
            (datetime.fromisoformat(t), int(g), int(c), int(m), int(u), e, a == "true")
            for t, g, c, m, u, e, a in reader
        ]
    assert parsed == expected


async def test_json_lines_carry_ids_as_strings_and_changed_fields_as_objects(pooled_db: Database) -> None:
    await pooled_db.events.record_guild_event(
        GUILD,
        GuildEventKind.ROLE_UPDATE,
        target_id=CHANNEL,
        executor_id=USER,
        before={"name": "a"},
        after={"name": "b"},
        occurred_at=NOON,
    )
    await pooled_db.events.flush()
    out = io.StringIO()
    chunks = pooled_db.events.export_chunks(
        "guild_event", fmt=ExportFormat.JSONL, since=NOON - timedelta(minutes=1), until=NOON + timedelta(minutes=1)
    )
    async for chunk in chunks:
        out.write(chunk.text)
    [line] = out.getvalue().splitlines()
    row = json.loads(line)
    assert (row["guild_id"], row["executor_id"], row["kind"]) == (str(GUILD), str(USER), "role_update")
    assert (row["before"], row["after"], row["user_id"]) == ({"name": "a"}, {"name": "b"}, None)


async def test_a_report_exports_its_rows(pooled_db: Database) -> None:
    for n in range(3):
        await pooled_db.events.record_message(GUILD, CHANNEL, USER + n % 2, occurred_at=NOON)
    await pooled_db.events.flush()
    out = io.StringIO()
    day = NOON.date()
    written = await pooled_db.events.export_report(
        out, GUILD, Metric.MESSAGES, since=day, until=day, group_by=GroupBy.USER
    )
    assert written == 2
    assert list(csv.reader(io.StringIO(out.getvalue()))) == [["key", "value"], [str(USER), "2"], [str(USER + 1), "1"]]


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"table": "mod_case"}, "table"),
        ({"table": "reaction_event", "columns": "emoji,secret"}, "columns"),
        ({"table": "reaction_event", "columns": "emoji,emoji"}, "columns"),
        ({"table": "reaction_event", "until": NOON - timedelta(days=1)}, "until"),
        ({"table": "reaction_event", "fmt": "xml"}, "fmt"),
    ],
)
def test_a_bad_table_column_period_or_format_is_refused_naming_it(
    pooled_db: Database, arguments: dict[str, object], field: str
) -> None:
    values: dict[str, object] = {"since": NOON, "until": NOON + timedelta(days=1)} | arguments
    table = values.pop("table")
    with pytest.raises(ValidationError) as raised:
        pooled_db.events.export_chunks(table, **values)  # type: ignore[arg-type]
    assert raised.value.fields == [field]


async def test_the_export_command_writes_the_file_and_explains_a_bad_table(
    pooled_db: Database, settings: Settings, tmp_path: Path
) -> None:
    await pooled_db.events.write_reactions([reaction(n) for n in range(250)])
    assert settings.database_url is not None
    env = {"GUILDBASE_DATABASE_URL": settings.database_url, "GUILDBASE_REDIS_URL": settings.redis_url or ""}
    target = tmp_path / "out.jsonl"
    since, until = NOON.isoformat(), (NOON + timedelta(hours=1)).isoformat()
    args = ["export", "table", "reaction_event", "--since", since, "--until", until, "-o", str(target), "-f", "jsonl"]
    runner = CliRunner()
    result = await asyncio.to_thread(runner.invoke, app, args, env=env)
    assert result.exit_code == 0, result.output
    lines = target.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["message_id"] for line in lines] == [str(USER + n) for n in range(250)]

    bad = await asyncio.to_thread(
        runner.invoke, app, ["export", "table", "secrets", "--since", since, "--until", until]
    )
    assert bad.exit_code == 1
    assert "table: must be one of" in bad.output
    late = await asyncio.to_thread(
        runner.invoke, app, ["export", "table", "reaction_event", "--since", "tuesday", "--until", until]
    )
    assert late.exit_code == 1
    assert "since: must be an ISO 8601 date" in late.output


MILLION = 1_000_000
PEAK_RSS_BYTES = 200 * 1024 * 1024
"""Peak RSS of the whole export process (``guildbase export``): the million rows held at once would take
over 300 MiB as tuples alone, so an export that held them instead of one batch fails this."""
_SEED_SQL = """
INSERT INTO reaction_event (occurred_at, guild_id, channel_id, message_id, user_id, emoji, is_added)
SELECT CAST(:noon AS timestamptz) + n * interval '1 microsecond', :guild, :channel, CAST(:user AS bigint) + n, :user,
       CASE WHEN n % 3 = 0 THEN '🔥' ELSE '⭐' END, n % 2 = 0
FROM generate_series(1, :last) AS n
"""


PEAK_REPORTER = """
import atexit, runpy, sys
from pathlib import Path

def report(target=Path(sys.argv[1])):
    status = Path("/proc/self/status").read_text()
    target.write_text(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1])

atexit.register(report)
sys.argv = ["guildbase", *sys.argv[2:]]
runpy.run_module("guildbase.cli", run_name="__main__")
"""
"""Runs the CLI and, as it exits, writes its own peak RSS (VmHWM, KiB) to argv[1]. Measured inside the process:
the rusage ``wait4`` reports also counts the forked copy of the test process from before the exec."""


def _export_in_a_process(settings: Settings, target: Path) -> tuple[int, int]:
    """``guildbase export table reaction_event …`` as its own process: (exit status, its peak RSS in bytes)."""
    assert settings.database_url is not None
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GUILDBASE_")}
    environment |= {"GUILDBASE_DATABASE_URL": settings.database_url, "GUILDBASE_REDIS_URL": settings.redis_url or ""}
    since, until = NOON.isoformat(), (NOON + timedelta(hours=1)).isoformat()
    peak = target.with_suffix(".peak")
    command = [sys.executable, "-c", PEAK_REPORTER, str(peak), "export", "table", "reaction_event"]
    command += ["--since", since, "--until", until, "--guild", str(GUILD), "--columns", COLUMNS, "-o", str(target)]
    done = subprocess.run(command, env=environment, capture_output=True, check=False, timeout=600)  # noqa: S603
    return done.returncode, int(peak.read_text()) * 1024


async def test_a_million_row_export_stays_in_flat_memory_and_its_csv_parses_back_to_the_same_rows(
    pooled_db: Database, settings: Settings, tmp_path: Path
) -> None:
    await pooled_db.events.write_reactions([reaction(0)])  # creates the month's partition if it is missing
    params = {"noon": NOON, "guild": GUILD, "channel": CHANNEL, "user": USER, "last": MILLION - 1}
    async with pooled_db.session() as session:
        await session.execute(text(_SEED_SQL), params)
    target = tmp_path / "million.csv"

    status, peak = await asyncio.to_thread(_export_in_a_process, settings, target)

    assert status == 0
    assert peak < PEAK_RSS_BYTES, f"peak RSS {peak / 2**20:.0f} MiB"
    with target.open(encoding="utf-8", newline="") as source:
        reader = csv.reader(source)
        assert next(reader) == COLUMNS.split(",")
        rows = mismatched = 0
        for n, (t, g, c, m, u, e, a) in enumerate(reader):  # streamed: the expected rows are never all held
            rows += 1
            parsed = (datetime.fromisoformat(t), int(g), int(c), int(m), int(u), e, a == "true")
            mismatched += parsed != reaction(n)
    assert (rows, mismatched) == (MILLION, 0)


async def test_csv_fields_with_commas_quotes_and_line_breaks_parse_back_unchanged(pooled_db: Database) -> None:
    reason = 'spam, "again"\nand again'
    await pooled_db.events.record_guild_event(
        GUILD, GuildEventKind.ROLE_UPDATE, target_id=CHANNEL, before={"name": "a,b"}, reason=reason, occurred_at=NOON
    )
    await pooled_db.events.record_guild_event(GUILD, GuildEventKind.ROLE_DELETE, target_id=CHANNEL, occurred_at=NOON)
    await pooled_db.events.flush()
    out = io.StringIO()
    columns = "occurred_at,kind,user_id,before,reason"
    since, until = NOON - timedelta(minutes=1), NOON + timedelta(minutes=1)
    assert await pooled_db.events.export(out, "guild_event", since=since, until=until, columns=columns) == 2
    header, *rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert header == columns.split(",")
    assert sorted(rows, key=lambda row: row[1]) == [
        [NOON.isoformat(), "role_delete", "", "{}", ""],
        [NOON.isoformat(), "role_update", "", '{"name": "a,b"}', reason],
    ]


async def test_chunks_hold_about_batch_size_rows_and_stopping_early_leaves_the_connection_clean(
    pooled_db: Database,
) -> None:
    rows = [reaction(n) for n in range(3000)]
    await pooled_db.events.write_reactions(rows)

    def chunks(fmt: ExportFormat = ExportFormat.CSV) -> AsyncGenerator[ExportChunk, None]:
        until = NOON + timedelta(hours=1)
        events = pooled_db.events
        return events.export_chunks(
            "reaction_event", fmt=fmt, since=NOON, until=until, guild_id=GUILD, columns=COLUMNS, batch_size=500
        )

    async with contextlib.aclosing(chunks(ExportFormat.JSONL)) as stream:
        first = await anext(stream)
    assert first.rows >= 500
    assert len(first.text.splitlines()) == first.rows
    # the stopped COPY ended before its transaction: the connection it used (reused first) answers again
    for _ in range(3):
        counts = [chunk.rows async for chunk in chunks()]
        assert sum(counts) == len(rows)
        assert all(count >= 500 for count in counts[1:-1])
