"""W5, the command log: ``record_command`` (validation, buffer, binary COPY, rollup) against a raw COPY.

Besides throughput it reports what a command handler feels: the p99 of one
``record_command`` call, which must stay in microseconds however far the
writer is behind (a full buffer spills to disk instead of making it wait).
"""

import json
import time
from datetime import UTC, datetime
from typing import Any

from bench.harness import Runner, Variant, environment, percentile
from bench.workloads import CHANNEL, G0, U0, Scale, summarize
from guildbase.controllers.logs import COPY_COLUMNS
from guildbase.models.logs import CommandLog

# -- W5: command log ------------------------------------------------------------------------
SLICE = 1000


def log_row(index: int, channel: int) -> tuple[Any, ...]:
    failed = index % 17 == 0
    return (
        datetime.now(UTC),
        U0 + index % 5000,
        G0 + 1 + index % 100,
        channel,
        f"cmd{index % 40}",
        json.dumps({"arg": index}),
        not failed,
        "Missing Permissions" if failed else None,
        index % 300,
    )


async def w5(scale: Scale, rounds: int) -> dict[str, Any]:
    """One operation = a slice of 1,000 commands; rates are converted to rows/s."""
    slices = scale.pick(10, 200)
    channels = {"guildbase": CHANNEL + 1, "limit": CHANNEL + 2, "naive": CHANNEL + 3}
    async with environment() as env:
        logs = env.db.logs
        caller: list[float] = []  # seconds per record_command call, as the command handler sees it

        async def ours(index: int) -> None:
            clock = time.perf_counter
            for i in range(index * SLICE, (index + 1) * SLICE):
                failed = i % 17 == 0
                began = clock()
                await logs.record_command(
                    U0 + i % 5000,
                    f"cmd{i % 40}",
                    guild_id=G0 + 1 + i % 100,
                    channel_id=channels["guildbase"],
                    params={"arg": i},
                    success=not failed,
                    error="Missing Permissions" if failed else None,
                    duration_ms=i % 300,
                )
                caller.append(clock() - began)

        async def limit(index: int) -> None:
            batch = [log_row(i, channels["limit"]) for i in range(index * SLICE, (index + 1) * SLICE)]
            async with env.limit.acquire() as connection:
                await connection.copy_records_to_table("command_log", records=batch, columns=COPY_COLUMNS)

        async def naive(index: int) -> None:
            row = log_row(index, channels["naive"])
            async with env.naive() as session:
                session.add(
                    CommandLog(
                        created_at=row[0],
                        user_id=row[1],
                        guild_id=row[2],
                        channel_id=row[3],
                        command=row[4],
                        params={"arg": index},
                        is_success=row[6],
                        error=row[7],
                        duration_ms=row[8],
                    )
                )
                await session.commit()

        results = await Runner(env, rounds=rounds).compare(
            [
                Variant("guildbase", ours, slices, 16, finish=logs.flush),
                Variant("limit", limit, slices, 2),
                Variant("naive", naive, scale.pick(20, 100), 16),
            ]
        )
        accepted = logs.command_writer.accepted
        spilled = logs.command_writer.spilled
        await env.db.close()
        stored = await env.fetchval("SELECT count(*) FROM command_log WHERE channel_id = $1", channels["guildbase"])
        summary = summarize(results)
        for name in ("guildbase", "limit"):
            for k in ("median", "min", "max"):
                summary[name][k] *= SLICE
            summary[name]["rounds"] = [r * SLICE for r in summary[name]["rounds"]]
            summary[name]["statements_per_op"] = (summary[name]["statements_per_op"] or 0) / SLICE
        for s in summary.values():
            s["ratio_to_limit"] = s["median"] / summary["limit"]["median"]
        return {
            "variants": summary,
            "checks": {
                "guildbase_rows_accepted": accepted,
                "guildbase_rows_lost_after_close": accepted - stored,
                "guildbase_rows_spilled": spilled,
                "caller_p99_ms": round(percentile(caller, 99) * 1000, 4),
                "caller_max_ms": round(max(caller, default=0.0) * 1000, 4),
            },
            "notes": "guildbase: validation + buffer + COPY + rollup upsert, each round ends with a flush (timed); "
            "limit: prebuilt rows, binary COPY in batches of 1,000 on 2 connections; naive: one ORM insert+commit "
            "per row; latency of guildbase/limit is per slice of 1,000 rows",
        }
