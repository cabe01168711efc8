"""W13 (see BENCHMARKS.md): erase a user who has about 100k rows across the tables; export the same user first.

Each round seeds a fresh user in ten guilds (command log, reactions, voice,
the event trail, daily rollups, XP, cases, notes, reminders with their jobs,
audit rows, Redis sessions and boards) beside the same volume of other users'
command log rows, some of which name the user in their arguments, so the
JSONB scans read a realistic table. Then:

- ``db.privacy.export_to`` into a byte-counting sink: time, and memory
  (the process's peak RSS before and after, and the Python allocation peak of
  the export measured with ``tracemalloc`` on a second run);
- ``db.privacy.erase``: time and rows/s; afterwards ``db.privacy.locate``
  must find the user nowhere the policies do not keep them.

No target yet (issue 16): the figures are reported, not judged.
"""

import re
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.harness import Env, VariantResult, environment, peak_rss_mb
from bench.workloads import G0, U0, Scale, seed_guilds

GUILDS = 10
CHANNEL0 = 1_100_000_000_000_000_301


class _Sink:
    """A text file that only counts what is written (the export's size, with no disk in the measurement)."""

    def __init__(self) -> None:
        self.size = 0

    def write(self, text: str) -> int:
        self.size += len(text)
        return len(text)


def _volumes(scale: Scale) -> dict[str, int]:
    """Rows per table for one user: about 100k in all (2k in --quick)."""
    factor = 1 if not scale.quick else 50
    return {
        "command_log": 40_000 // factor,
        "named_in_params": 10_000 // factor,
        "noise": 50_000 // factor,
        "reaction_event": 20_000 // factor,
        "message_stat_daily": 15_000 // factor,
        "voice_event": 5_000 // factor,
        "voice_session": 2_000 // factor,
        "guild_event": 3_000 // factor,
        "member_xp_daily": 3_000 // factor,
        "cases": 1_000 // factor,
        "notes": 500 // factor,
        "reminders": 500 // factor,
        "audit_log": 500 // factor,
    }


_SEED = [
    # the user's own commands, and other users' commands that name them
    """INSERT INTO command_log (created_at, user_id, guild_id, channel_id, command, params, is_success, duration_ms)
       SELECT now() - make_interval(mins => n % 20000), :user::bigint, :guild::bigint + n % 10, :channel::bigint, 'cmd' || n % 40,
              '{}', true, n % 500 FROM generate_series(1, :command_log) AS n""",
    """INSERT INTO command_log (created_at, user_id, guild_id, command, params, is_success, duration_ms)
       SELECT now() - make_interval(mins => n % 20000), :user::bigint + 1 + n % 5000, :guild::bigint + n % 10, 'warn',
              jsonb_build_object('member', :user::text), true, 5 FROM generate_series(1, :named_in_params) AS n""",
    """INSERT INTO command_log (created_at, user_id, guild_id, command, params, is_success, duration_ms)
       SELECT now() - make_interval(mins => n % 20000), :user::bigint + 1 + n % 5000, :guild::bigint + n % 10, 'rank',
              jsonb_build_object('page', n % 7), true, 5 FROM generate_series(1, :noise) AS n""",
    """INSERT INTO reaction_event (occurred_at, guild_id, channel_id, message_id, user_id, emoji, is_added)
       SELECT now() - make_interval(mins => n % 20000), :guild::bigint + n % 10, :channel::bigint, :user::bigint + 100000 + n, :user::bigint, 'x', true
       FROM generate_series(1, :reaction_event) AS n""",
    """INSERT INTO message_stat_daily (guild_id, day, channel_id, user_id, messages)
       SELECT :guild::bigint + n % 10, current_date - (n / 50) % 300, :channel::bigint + n % 50, :user::bigint, 1 + n % 9
       FROM generate_series(1, :message_stat_daily) AS n ON CONFLICT DO NOTHING""",
    """INSERT INTO voice_event (occurred_at, guild_id, user_id, kind, channel_id)
       SELECT now() - make_interval(mins => n % 20000), :guild::bigint + n % 10, :user::bigint, 'join', :channel::bigint
       FROM generate_series(1, :voice_event) AS n""",
    """INSERT INTO voice_session (started_at, state_at, guild_id, user_id, channel_id)
       SELECT now() - make_interval(mins => n % 20000), now(), :guild::bigint + n % 10, :user::bigint, :channel::bigint
       FROM generate_series(1, :voice_session) AS n""",
    """INSERT INTO guild_event (occurred_at, guild_id, kind, user_id, after)
       SELECT now() - make_interval(mins => n % 20000), :guild::bigint + n % 10, 'member_update', :user::bigint,
              jsonb_build_object('nick', 'n' || n) FROM generate_series(1, :guild_event) AS n""",
    """INSERT INTO member_xp_daily (guild_id, user_id, day, xp)
       SELECT :guild::bigint + n % 10, :user::bigint, current_date - n / 10, 20 FROM generate_series(1, :member_xp_daily) AS n
       ON CONFLICT DO NOTHING""",
    """INSERT INTO mod_case (guild_id, number, type, user_id, moderator_id, reason)
       SELECT :guild::bigint + n % 10, :user::bigint / 1000000 % 1000 * 100000 + n,
              'WARN', CASE WHEN n % 2 = 0 THEN :user::bigint ELSE :user::bigint + 7 END,
              CASE WHEN n % 2 = 0 THEN :user::bigint + 7 ELSE :user::bigint END, 'spam'
       FROM generate_series(1, :cases) AS n""",
    """INSERT INTO note (guild_id, number, user_id, moderator_id, content)
       SELECT :guild::bigint + n % 10, :user::bigint / 1000000 % 1000 * 100000 + n, :user::bigint, :user::bigint + 7, 'note ' || n
       FROM generate_series(1, :notes) AS n""",
    """WITH made AS (
           INSERT INTO reminder (user_id, guild_id, content, remind_at)
           SELECT :user::bigint, :guild::bigint + n % 10, 'remind ' || n, now() + make_interval(hours => 1 + n)
           FROM generate_series(1, :reminders) AS n RETURNING reminder_id, remind_at)
       INSERT INTO job (kind, run_at, payload, dedupe_key)
       SELECT 'reminder_delivery', remind_at, jsonb_build_object('reminder_id', reminder_id), reminder_id::text
       FROM made""",
    """INSERT INTO audit_log (guild_id, actor_id, action, entity_type, entity_id, after)
       SELECT :guild::bigint + n % 10, :user::bigint, 'config_update', 'guild_config', (:guild::bigint + n % 10)::text,
              jsonb_build_object('locale', 'fr') FROM generate_series(1, :audit_log) AS n""",
    """INSERT INTO discord_user (user_id) VALUES (:user::bigint) ON CONFLICT DO NOTHING""",
    """INSERT INTO member (guild_id, user_id) SELECT :guild::bigint + g, :user::bigint FROM generate_series(0, 9) AS g
       ON CONFLICT DO NOTHING""",
    """INSERT INTO member_level (guild_id, user_id, xp, level, message_count)
       SELECT :guild::bigint + g, :user::bigint, 500, 3, 40 FROM generate_series(0, 9) AS g ON CONFLICT DO NOTHING""",
]
_NAME = re.compile(r"(?<![:\w]):([a-z_]+)")


def _numbered(statement: str, values: dict[str, Any]) -> tuple[str, list[Any]]:
    """``:name`` placeholders as asyncpg's ``$n``, and the values in that order."""
    order: list[str] = []

    def number(found: re.Match[str]) -> str:
        if found.group(1) not in order:
            order.append(found.group(1))
        return f"${order.index(found.group(1)) + 1}"

    return _NAME.sub(number, statement), [values[name] for name in order]


async def _seed(env: Env, user: int, volumes: dict[str, int]) -> None:
    """The user's rows, and the noise beside them."""
    values: dict[str, Any] = {"user": user, "guild": G0, "channel": CHANNEL0, **volumes}
    for statement in _SEED:
        sql, args = _numbered(statement, values)
        await env.sql(sql, *args)
    await env.db.web_sessions.create(user)
    await env.redis.zadd(f"gb:v1:{{g:{G0}}}:lb:0:all", {f"{user:019d}": 500})


async def w13(scale: Scale, rounds: int) -> dict[str, Any]:
    volumes = _volumes(scale)
    erase, export = VariantResult("erase"), VariantResult("export")
    checks: dict[str, Any] = {"remaining_after_erase": 0}
    async with environment() as env:
        await seed_guilds(env, G0, GUILDS)
        this_month = datetime.now(UTC).date().replace(day=1)
        for month in (this_month, (this_month - timedelta(days=1)).replace(day=1)):  # 20,000 minutes back
            await env.sql("SELECT command_log_ensure_partition($1)", month)
            for table in ("guild_event", "reaction_event", "voice_event", "voice_session"):
                await env.sql("SELECT partition_ensure($1::regclass, $2)", table, month)
        for round_index in range(rounds + 1):  # round 0 warms up
            user = U0 + 1_000_000 * (round_index + 1)
            await _seed(env, user, volumes)
            await env.sql("ANALYZE")
            sink = _Sink()
            rss_before = peak_rss_mb()
            began = time.perf_counter()
            export_request = await env.db.privacy.export_to(sink, user, requested_by=user)  # type: ignore[arg-type]
            exported = time.perf_counter() - began
            rows = export_request.total
            rss_after = peak_rss_mb()
            tracemalloc.start()
            await env.db.privacy.export_to(_Sink(), user, requested_by=user)  # type: ignore[arg-type]
            python_peak = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
            began = time.perf_counter()
            request = await env.db.privacy.erase(user, requested_by=user)
            erased = time.perf_counter() - began
            located = await env.db.privacy.locate(user)
            checks["remaining_after_erase"] += sum(located.remaining.values())
            if round_index == 0:
                continue
            erase.rates.append(request.total / erased)
            erase.latencies.append(erased)
            export.rates.append(rows / exported)
            export.latencies.append(exported)
            checks.update(
                {
                    "rows_exported": rows,
                    "rows_erased": request.total,
                    "tables_erased": len([t for t in request.counts if t != "redis"]),
                    "export_bytes": sink.size,
                    "export_rss_mb_before": round(rss_before, 1),
                    "export_peak_rss_mb": round(rss_after, 1),
                    "export_python_peak_mib": round(python_peak, 1),
                }
            )
    variants = {}
    for name, result in (("guildbase_erase", erase), ("guildbase_export", export)):
        summary = result.summary()
        summary["ratio_to_limit"] = None  # no limit variant: nothing else does this work
        summary["seconds"] = [round(s, 2) for s in result.latencies]
        variants[name] = summary
    checks["erase_seconds_median"] = round(sorted(erase.latencies)[len(erase.latencies) // 2], 2)
    checks["export_seconds_median"] = round(sorted(export.latencies)[len(export.latencies) // 2], 2)
    return {"variants": variants, "checks": checks, "unit": "rows/s (ops/s column); p50/p99 = seconds × 1000"}
