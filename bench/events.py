"""W8b, W9, W12 (see BENCHMARKS.md): event reports from the rollups, event ingest, and exports of 10M rows.

- W8b seeds the daily rollups of 10M events (messages, voice, joins) with
  ``generate_series`` in SQL, so a full run does not replay 10M events, then
  asks the dashboard's reports (per day, top members, top channels, voice
  leaders, joins) through ``db.events.stats`` against the same SQL on asyncpg.
- W9 records a mix of reactions, member updates (roles) and voice state
  changes through ``db.events`` (validated, gated, buffered, COPY, rollups,
  voice sessions) against a binary COPY of the same rows prebuilt; each round
  ends with the flush that makes them durable (timed), and after close every
  accepted row must be stored.
- W12 exports 10M reaction rows with ``guildbase export`` in a process of its
  own (its peak RSS is that process's VmHWM, read as it exits) against
  PostgreSQL's ``COPY … TO STDOUT (FORMAT csv)`` through asyncpg.
"""

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.harness import Env, Runner, Variant, VariantResult, environment
from bench.workloads import CHANNEL, G0, U0, Scale, summarize
from guildbase.controllers.event_writers import GUILD_EVENT_COLUMNS, REACTION_COLUMNS, VOICE_EVENT_COLUMNS
from guildbase.models.event_stats import GroupBy, Metric
from guildbase.models.events import GuildEventKind, VoiceEventKind

ROLE = 1_100_000_000_000_000_401
SLICE = 1000


# -- W8b: reports from the rollups ----------------------------------------------------------------
REPORTS = [
    (Metric.MESSAGES, GroupBy.DAY),
    (Metric.MESSAGES, GroupBy.USER),
    (Metric.MESSAGES, GroupBy.CHANNEL),
    (Metric.VOICE_MINUTES, GroupBy.USER),
    (Metric.JOINS, GroupBy.DAY),
]
"""The dashboard's reports W8b cycles through."""


_LIMIT_SQL = {  # the hand-written SQL for each question, over the same smallest rollup db.events reads
    (Metric.MESSAGES, GroupBy.DAY): "SELECT day, sum(messages)::bigint FROM message_stat_channel_daily "
    "WHERE guild_id = $1 AND day >= $2 AND day <= $3 GROUP BY day ORDER BY day LIMIT 400",
    (Metric.MESSAGES, GroupBy.USER): "SELECT user_id, sum(messages)::bigint AS v FROM message_stat_user_daily "
    "WHERE guild_id = $1 AND day >= $2 AND day <= $3 GROUP BY user_id ORDER BY v DESC, user_id LIMIT 10",
    (Metric.MESSAGES, GroupBy.CHANNEL): "SELECT channel_id, sum(messages)::bigint AS v FROM message_stat_channel_daily "
    "WHERE guild_id = $1 AND day >= $2 AND day <= $3 GROUP BY channel_id ORDER BY v DESC, channel_id LIMIT 10",
    (Metric.VOICE_MINUTES, GroupBy.USER): "SELECT user_id, (sum(seconds) / 60)::bigint AS v "
    "FROM voice_stat_user_daily WHERE guild_id = $1 AND day >= $2 AND day <= $3 "
    "GROUP BY user_id ORDER BY v DESC, user_id LIMIT 10",
    (Metric.JOINS, GroupBy.DAY): "SELECT day, sum(joins)::bigint FROM member_stat_daily "
    "WHERE guild_id = $1 AND day >= $2 AND day <= $3 GROUP BY day ORDER BY day LIMIT 400",
}
_TOP_MEMBERS_FINE = (
    "SELECT user_id, sum(messages)::bigint AS v FROM message_stat_daily "
    "WHERE guild_id = $1 AND day >= $2 AND day <= $3 GROUP BY user_id ORDER BY v DESC, user_id LIMIT 10"
)
"""The top members from the per-(day, channel, member) source: the coarse rollup must give the same answer."""
COARSE = (
    ("message_stat_user_daily", "message_stat_daily", "user_id", "messages"),
    ("message_stat_channel_daily", "message_stat_daily", "channel_id", "messages"),
    ("voice_stat_user_daily", "voice_stat_daily", "user_id", "seconds"),
    ("voice_stat_channel_daily", "voice_stat_daily", "channel_id", "seconds"),
)
"""The coarse rollups, seeded from the fine ones as ``event_rollups`` keeps them: (table, source, key, counter)."""


async def _seed_rollups(env: Env, guild: int, last: date, *, days: int, channels: int, users: int) -> int:
    """Rollup rows of ``days`` days standing for many events each; returns how many events they count."""
    first = last - timedelta(days=days - 1)
    await env.sql(
        "INSERT INTO message_stat_daily (guild_id, day, channel_id, user_id, messages) "
        "SELECT $1, $2::date + d, $3::bigint + c, $4::bigint + u, 1 + (d * 7 + c * 13 + u * 31) % 110 "
        "FROM generate_series(0, $5 - 1) AS d, generate_series(0, $6 - 1) AS c, generate_series(0, $7 - 1) AS u",
        guild,
        first,
        CHANNEL,
        U0,
        days,
        channels,
        users,
    )
    await env.sql(
        "INSERT INTO voice_stat_daily (guild_id, day, channel_id, user_id, seconds) "
        "SELECT $1, $2::date + d, $3::bigint + c, $4::bigint + u, 60 * (1 + (d * 3 + u * 17) % 90) "
        "FROM generate_series(0, $5 - 1) AS d, generate_series(0, 4) AS c, generate_series(0, $6 / 2 - 1) AS u",
        guild,
        first,
        CHANNEL,
        U0,
        days,
        users,
    )
    await env.sql(
        "INSERT INTO member_stat_daily (guild_id, day, joins, leaves) "
        "SELECT $1, $2::date + d, 20 + d % 7, 5 + d % 3 FROM generate_series(0, $3 - 1) AS d",
        guild,
        first,
        days,
    )
    for table, source, key, counter in COARSE:
        await env.sql(
            f"INSERT INTO {table} (guild_id, day, {key}, {counter}) "  # noqa: S608 - constants
            f"SELECT guild_id, day, {key}, sum({counter}) FROM {source} WHERE guild_id = $1 "
            f"GROUP BY guild_id, day, {key}",
            guild,
        )
    for table in ("message_stat_daily", "voice_stat_daily", "member_stat_daily", *(c[0] for c in COARSE)):
        await env.sql(f"ANALYZE {table}")
    messages = await env.fetchval("SELECT sum(messages) FROM message_stat_daily WHERE guild_id = $1", guild)
    sessions = await env.fetchval("SELECT count(*) FROM voice_stat_daily WHERE guild_id = $1", guild)
    members = await env.fetchval("SELECT sum(joins + leaves) FROM member_stat_daily WHERE guild_id = $1", guild)
    return int(messages) + int(sessions) * 2 + int(members)  # a voice row stands for a join and a leave at least


async def w8b(scale: Scale, rounds: int) -> dict[str, Any]:
    """One operation = one report over the whole seeded period (90 days full), cycling through five kinds."""
    guild, last = G0 + 81, date(2026, 11, 30)
    days, channels, users = scale.pick(30, 90), scale.pick(5, 10), scale.pick(50, 200)  # full: ~10M messages
    first = last - timedelta(days=days - 1)
    async with environment() as env:
        events_seeded = await _seed_rollups(env, guild, last, days=days, channels=channels, users=users)
        calls = REPORTS

        async def ours(index: int) -> Any:
            metric, group = calls[index % len(calls)]
            return await env.db.events.stats(guild, metric, since=first, until=last, group_by=group, limit=10)

        async def limit(index: int) -> Any:
            async with env.limit.acquire() as connection:
                return await connection.fetch(_LIMIT_SQL[calls[index % len(calls)]], guild, first, last)

        results = await Runner(env, rounds=rounds).compare(
            [Variant("guildbase", ours, scale.pick(25, 250), 4), Variant("limit", limit, scale.pick(25, 250), 4)]
        )
        top = await env.db.events.stats(guild, Metric.MESSAGES, since=first, until=last, group_by=GroupBy.USER)
        top_sql = await env.fetch(_LIMIT_SQL[Metric.MESSAGES, GroupBy.USER], guild, first, last)
        top_fine = await env.fetch(_TOP_MEMBERS_FINE, guild, first, last)
        return {
            "variants": summarize(results),
            "checks": {
                "events_represented": events_seeded,
                "days": days,
                "top_members_equal_to_sql": [(r.key, r.value) for r in top] == [tuple(r) for r in top_sql],
                "top_members_equal_to_fine_rollup": [tuple(r) for r in top_sql] == [tuple(r) for r in top_fine],
            },
            "notes": "rollups seeded with generate_series (message, voice and member rows standing for the "
            "events), the per-member and per-channel rollups summed from them; both sides read the smallest "
            "rollup holding the question's columns; one op = one report over the whole period: per day, top members, top channels, voice "
            "leaders, joins; no naive variant: messages are never stored raw, so there is nothing else to scan",
        }


# -- W9: event ingest ------------------------------------------------------------------------------
def _kind(i: int) -> str:
    """The mix: 60 % reactions, 30 % member updates, 10 % voice state changes."""
    slot = i % 10
    return "reaction" if slot < 6 else "member" if slot < 9 else "voice"


def _prebuilt(i: int, guild: int, at: datetime) -> tuple[str, tuple[Any, ...]]:
    """The row ``i`` of the mix becomes, as the limit COPYs it."""
    kind, user = _kind(i), U0 + i % 5000
    if kind == "reaction":
        return "reaction_event", (at, guild, CHANNEL, U0 + i, user, "⭐", True)
    if kind == "member":
        row = (at, guild, GuildEventKind.MEMBER_UPDATE.value, user, None, None, "{}", f'{{"roles": [{ROLE}]}}', None)
        return "guild_event", row
    return "voice_event", (at, guild, user, VoiceEventKind.JOIN.value, CHANNEL, None)


async def w9(scale: Scale, rounds: int) -> dict[str, Any]:
    """One operation = a slice of 1,000 events of the mix; rates are converted to events/s."""
    slices = scale.pick(8, 100)
    guilds = {"guildbase": G0 + 91, "limit": G0 + 92}
    at = datetime.now(UTC)
    # A 60 s pool timeout: on a loaded machine 16 voice tasks plus the flushes can wait past the default 5 s.
    async with environment({"log_flush_rows": 2000, "log_flush_seconds": 1.0, "pool_timeout": 60.0}) as env:
        events = env.db.events
        for guild in guilds.values():
            await env.db.guilds.join(guild, name="bench")

        async def ours(index: int) -> None:
            guild = guilds["guildbase"]
            for i in range(index * SLICE, (index + 1) * SLICE):
                kind, user = _kind(i), U0 + i % 5000
                if kind == "reaction":
                    await events.record_reaction(guild, CHANNEL, U0 + i, user, "⭐")
                elif kind == "member":
                    await events.record_member_update(guild, user, roles_added=[ROLE])
                else:  # each member alternates joining and leaving voice
                    channel = CHANNEL if (i // 5000) % 2 == 0 else None
                    await events.record_voice_state(guild, user, channel_id=channel)

        async def limit(index: int) -> None:
            batches: dict[str, list[tuple[Any, ...]]] = {"reaction_event": [], "guild_event": [], "voice_event": []}
            for i in range(index * SLICE, (index + 1) * SLICE):
                table, row = _prebuilt(i, guilds["limit"], at)
                batches[table].append(row)
            columns = {
                "reaction_event": REACTION_COLUMNS,
                "guild_event": GUILD_EVENT_COLUMNS,
                "voice_event": VOICE_EVENT_COLUMNS,
            }
            async with env.limit.acquire() as connection, connection.transaction():
                for table, rows in batches.items():
                    await connection.copy_records_to_table(table, records=rows, columns=list(columns[table]))

        results = await Runner(env, rounds=rounds).compare(
            [
                Variant("guildbase", ours, slices, 16, finish=events.flush),
                Variant("limit", limit, slices, 2),
            ]
        )
        # Rows COPYed as they were accepted are counted in their tables; voice states are counted by their writer,
        # because a state that changes nothing (a leave that arrives before its join) rightly stores no row.
        copied = {name: events.writer(name).accepted for name in ("guild_event", "reaction_event", "voice_event")}
        states = events.writer("voice_state")
        await env.db.close()
        lost = states.accepted - states.written
        for table in ("guild_event", "reaction_event"):
            lost += copied[table] - int(  # the voice_event table also holds the voice states' transitions
                await env.fetchval(f"SELECT count(*) FROM {table} WHERE guild_id = $1", guilds["guildbase"])  # noqa: S608
            )
        accepted = sum(copied.values()) + states.accepted
        summary = _per_row(summarize(results))
        return {
            "variants": summary,
            "checks": {"guildbase_events_accepted": accepted, "guildbase_events_lost_after_close": lost},
            "notes": "mix of 60% reactions, 30% member role updates, 10% voice joins/leaves (sessions kept: "
            "record_voice_state, applied per batch: one lock statement, one lookup, one update and one insert); "
            "guildbase through db.events, each round ends "
            "with a flush (timed); limit: the same rows prebuilt, one binary COPY per table per 1,000 on 2 "
            "connections (no sessions, no rollups)",
        }


def _per_row(summary: dict[str, Any]) -> dict[str, Any]:
    for figures in summary.values():
        for key in ("median", "min", "max"):
            figures[key] *= SLICE
        figures["rounds"] = [rate * SLICE for rate in figures["rounds"]]
        figures["statements_per_op"] = (figures["statements_per_op"] or 0) / SLICE
    for figures in summary.values():
        figures["ratio_to_limit"] = figures["median"] / summary["limit"]["median"]
    return summary


# -- W12: export -----------------------------------------------------------------------------------
EXPORT_COLUMNS = "occurred_at,guild_id,channel_id,message_id,user_id,emoji,is_added"


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
"""Runs the CLI and, as it exits, writes its own peak RSS (VmHWM, KiB) to argv[1]: measured inside the process,
because the rusage of ``wait4`` also counts the forked copy of the (large) benchmark process before the exec."""


def _export_process(env: Env, out: Path, since: datetime, until: datetime, fmt: str) -> tuple[float, float, int]:
    """``guildbase export table reaction_event`` in its own process: (seconds, its peak RSS MB, exit status)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GUILDBASE_")}
    environment["GUILDBASE_DATABASE_URL"] = env.url.render_as_string(hide_password=False)
    environment["GUILDBASE_REDIS_URL"] = "redis://127.0.0.1:6379/15"
    peak = out.with_suffix(".peak")
    command = [sys.executable, "-c", PEAK_REPORTER, str(peak), "export", "table", "reaction_event", "-f", fmt]
    command += ["--since", since.isoformat(), "--until", until.isoformat(), "--columns", EXPORT_COLUMNS, "-o", str(out)]
    began = time.perf_counter()
    done = subprocess.run(command, env=environment, capture_output=True, check=False)  # noqa: S603
    seconds = time.perf_counter() - began
    return seconds, int(peak.read_text()) / 1024, done.returncode


def _lines(path: Path) -> int:
    with path.open("rb") as source:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: source.read(1 << 20), b""))


def _summary(rates: list[float], base: float | None = None) -> dict[str, Any]:
    median = statistics.median(rates)
    return {
        "median": median,
        "min": min(rates),
        "max": max(rates),
        "rounds": rates,
        "p50_ms": float("nan"),
        "p99_ms": float("nan"),
        "statements_per_op": None,
        "ratio_to_limit": median / base if base else 1.0,
    }


async def w12(scale: Scale, rounds: int) -> dict[str, Any]:
    """One operation = the whole export of the table's period; rates are rows/s, RSS is the export process's."""
    rows = scale.pick(50_000, 10_000_000)
    since = datetime(2026, 11, 2, tzinfo=UTC)
    until = since + timedelta(days=1)
    async with environment() as env:
        await env.sql("SELECT partition_ensure('reaction_event'::regclass, $1::date)", since.date())
        await env.sql(
            "INSERT INTO reaction_event (occurred_at, guild_id, channel_id, message_id, user_id, emoji, is_added) "
            "SELECT $1::timestamptz + n * interval '5 milliseconds', $2::bigint + n % 50, $3, $4::bigint + n, "
            "$5::bigint + n % 5000, CASE WHEN n % 3 = 0 THEN '🔥' ELSE '⭐' END, n % 2 = 0 "
            "FROM generate_series(0, $6 - 1) AS n",
            since,
            G0,
            CHANNEL,
            U0,
            U0,
            rows,
        )
        await env.sql("ANALYZE reaction_event")
        results: dict[str, VariantResult] = {}
        rss: dict[str, list[float]] = {"csv": [], "jsonl": []}
        lines: dict[str, int] = {}
        with tempfile.TemporaryDirectory() as scratch:
            for _ in range(rounds):
                for fmt in ("csv", "jsonl"):
                    out = Path(scratch) / f"export.{fmt}"
                    seconds, peak, status = await asyncio.to_thread(_export_process, env, out, since, until, fmt)
                    if status != 0:
                        msg = f"guildbase export ({fmt}) exited with {status}"
                        raise RuntimeError(msg)
                    results.setdefault(f"guildbase_{fmt}", VariantResult(f"guildbase_{fmt}")).rates.append(
                        rows / seconds
                    )
                    rss[fmt].append(peak)
                    lines[fmt] = await asyncio.to_thread(_lines, out)
                    out.unlink()
                target = Path(scratch) / "copy.csv"
                began = time.perf_counter()
                async with env.limit.acquire() as connection:
                    await connection.copy_from_query(
                        f"SELECT {EXPORT_COLUMNS} FROM reaction_event "  # noqa: S608 - our constant
                        "WHERE occurred_at >= $1 AND occurred_at < $2 ORDER BY occurred_at",
                        since,
                        until,
                        output=str(target),
                        format="csv",
                        header=True,
                    )
                results.setdefault("limit", VariantResult("limit")).rates.append(rows / (time.perf_counter() - began))
                target.unlink()
        base = statistics.median(results["limit"].rates)
        variants = {name: _summary(result.rates, base) for name, result in results.items()}
        return {
            "variants": variants,
            "checks": {
                "rows": rows,
                "csv_lines_equal_rows_plus_header": lines["csv"] == rows + 1,
                "jsonl_lines_equal_rows": lines["jsonl"] == rows,
                "peak_rss_mb_csv": round(max(rss["csv"]), 1),
                "peak_rss_mb_jsonl": round(max(rss["jsonl"]), 1),
            },
            "notes": "guildbase: the `guildbase export table` command in its own process (start-up, connect, "
            "count for the progress bar, stream, write), peak RSS its VmHWM at exit; limit: COPY (SELECT …) TO "
            "STDOUT (FORMAT csv) through asyncpg into a file",
        }
