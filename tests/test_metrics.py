"""The runtime metrics of a process: scraped over real HTTP, and sampled into ``runtime_metric_sample`` (R6.4, R13.3).

Nothing is timed: the lag test blocks the loop for a known time and checks
that the measured lag is at least what blocking for that long must cause.
"""

import asyncio
import time
import urllib.request
from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from guildbase import Database, Settings
from guildbase.metrics import RuntimeMetrics
from guildbase.models.runtime_metrics import RuntimeMetric
from guildbase.testing import shifted_now

LAG = 0.05  # the lag watcher's interval in these tests


def serving(db: Database, **changes: object) -> RuntimeMetrics:
    settings = db.settings.model_copy(update={"metrics_port": 0, "metrics_process": "test:metrics"} | changes)
    return RuntimeMetrics(db, role="test", settings=settings, lag_interval=LAG)


def scrape(port: int) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """GET /metrics and parse it: {sample name: {sorted labels: value}}."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as response:
        body = response.read().decode()
    parsed: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            parsed.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return parsed


async def stored(db: Database, sql: str) -> list[tuple[object, ...]]:
    async with db.session() as session:
        return [tuple(row) for row in (await session.execute(text(sql))).all()]


async def test_the_endpoint_serves_latency_errors_pool_redis_and_queue_figures_over_http(pooled_db: Database) -> None:
    metrics = serving(pooled_db)
    await metrics.start()
    try:
        assert metrics.port is not None
        metrics.observe_command("ping", 0.02)
        metrics.observe_command("ping", 0.2)
        metrics.observe_command("ban", 3.0, error=PermissionError("missing"))
        await pooled_db.jobs.enqueue("metrics.demo")
        await metrics.sample()
        gate, release = pooled_db.hot_rows, asyncio.Event()

        async def hold(guild: int) -> None:
            async with gate.admit(guild, "case"):
                await release.wait()

        holders = [asyncio.create_task(hold(1)) for _ in range(gate.width + 2)] + [asyncio.create_task(hold(2))]
        for _ in range(5):
            await asyncio.sleep(0)
        async with pooled_db.session() as session:  # one connection checked out while Prometheus looks
            await session.execute(text("SELECT 1"))
            seen = await asyncio.to_thread(scrape, metrics.port)
        release.set()
        await asyncio.gather(*holders)
    finally:
        await metrics.stop()
    count = seen["guildbase_command_duration_seconds_count"]
    assert count[(("command", "ping"),)] == 2
    assert count[(("command", "ban"),)] == 1
    buckets = seen["guildbase_command_duration_seconds_bucket"]
    assert buckets[(("command", "ping"), ("le", "0.025"))] == 1
    assert buckets[(("command", "ping"), ("le", "0.25"))] == 2
    assert seen["guildbase_command_errors_total"] == {(("command", "ban"), ("error", "PermissionError")): 1}
    assert seen["guildbase_pool_in_use"][()] == 1
    assert seen["guildbase_pool_size"][()] == pooled_db.settings.pool_size
    assert seen["guildbase_pool_timeouts_total"][()] == pooled_db.pool_timeouts
    assert seen["guildbase_counter_gate_rows"][()] == 2  # two guilds' counters busy
    assert seen["guildbase_counter_gate_queued"][()] == 2  # width + 2 on one row: two wait their turn
    assert seen["guildbase_redis_latency_seconds"][()] > 0
    assert seen["guildbase_job_queue_depth"] == {(("kind", "metrics.demo"),): 1}
    assert "guildbase_event_loop_lag_seconds" in seen
    assert metrics.port is None  # stopped: the endpoint is closed


async def test_a_sample_holds_the_intervals_figures_and_lands_in_the_partitioned_table(pooled_db: Database) -> None:
    metrics = serving(pooled_db)
    await metrics.start()
    try:
        for seconds in (0.001, 0.002, 0.003, 0.004, 0.5):
            metrics.observe_command("rank", seconds)
        metrics.observe_command("rank", 0.01, error=ValueError("bad"))
        await asyncio.sleep(LAG * 2)  # the watcher is sleeping now
        time.sleep(0.3)  # noqa: ASYNC251 - blocking the loop on purpose: the lag to measure
        await asyncio.sleep(LAG * 2)  # the watcher wakes, late
        at = shifted_now()
        rows = await metrics.sample(now=at)
        after = await metrics.sample(now=at + timedelta(minutes=1))  # a new interval: no command ran
    finally:
        await metrics.stop()
    figures = {(metric, label): value for _at, _process, metric, label, value in rows}
    assert figures["command_calls", "rank"] == 6
    assert figures["command_errors", "rank"] == 1
    assert figures["command_latency_p99", "rank"] == 0.5  # the slowest of six is past the 99th percentile
    assert abs(figures["command_latency_mean", "rank"] - 0.52 / 6) < 1e-9
    assert figures["event_loop_lag", ""] >= 0.3 - LAG
    assert figures["pool_size", ""] == pooled_db.settings.pool_size
    assert figures["pool_timeouts", ""] == 0
    assert figures["redis_latency", ""] > 0
    assert {metric for _at, _process, metric, _label, _value in after} >= {"pool_in_use", "event_loop_lag"}
    assert not [row for row in after if row[2] == "command_calls"]
    kept = await stored(
        pooled_db,
        "SELECT tableoid::regclass::text, process, value FROM runtime_metric_sample "
        "WHERE metric = 'command_calls' AND label = 'rank'",
    )
    assert kept == [(f"runtime_metric_sample_p{at:%Y%m}", "test:metrics", 6.0)]
    [point] = await pooled_db.runtime_metrics.series(
        RuntimeMetric.COMMAND_ERRORS, since=at - timedelta(hours=1), until=at + timedelta(hours=1), label="rank"
    )
    assert (point.total, point.samples) == (1.0, 1)


async def test_the_sampler_writes_on_its_interval_and_a_last_sample_at_stop(pooled_db: Database) -> None:
    metrics = serving(pooled_db, metrics_port=None, metrics_sample_seconds=0.05)
    await metrics.start()
    assert metrics.port is None  # sampling only, no endpoint
    for _ in range(1200):  # the first interval's sample, written by the sampler task (bounded wait, not a timing)
        if await stored(pooled_db, "SELECT 1 FROM runtime_metric_sample WHERE metric = 'pool_in_use'"):
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail("the sampler wrote nothing")
    metrics.observe_command("late", 0.01)
    await metrics.stop()  # the interval's command is in the last sample
    assert await stored(pooled_db, "SELECT value FROM runtime_metric_sample WHERE label = 'late'") != []


async def test_nothing_starts_by_default(pooled_db: Database, settings: Settings) -> None:
    assert settings.metrics_port is None
    assert settings.metrics_sample_seconds == 0
    metrics = RuntimeMetrics(pooled_db, role="test")
    await metrics.start()
    metrics.observe_command("ping", 0.01)  # still counted for a scrape by hand
    await metrics.stop()
    assert metrics.port is None
    assert b'guildbase_command_duration_seconds_count{command="ping"} 1.0' in metrics.scrape()
    assert await stored(pooled_db, "SELECT 1 FROM runtime_metric_sample") == []
