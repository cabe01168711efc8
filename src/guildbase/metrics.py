"""Runtime metrics of one process (R6.4, R13.3): Prometheus for the live view, samples for the history.

``RuntimeMetrics(db, role="bot")`` keeps, in a registry of its own (never the
global one, so two facades in one process do not collide):

- ``guildbase_command_duration_seconds{command}``: a histogram of command
  latency, fed by ``observe_command`` (the bot's completion and error hooks,
  ``bot.commandlog``);
- ``guildbase_command_errors_total{command,error}``: failed commands by
  exception type (a bounded set, unlike messages);
- ``guildbase_event_loop_lag_seconds``: how late the loop woke a sleeper, the
  sign of blocking code (measured every ``lag_interval`` seconds);
- ``guildbase_pool_in_use`` / ``_size`` / ``_overflow`` and
  ``guildbase_pool_timeouts_total``: the writer pool's status read from
  SQLAlchemy at scrape time, and the calls that gave up waiting for a
  connection (``Database.pool_timeouts``);
- ``guildbase_counter_gate_rows`` / ``_queued``: guild counter rows with a
  numbered creation in flight, and the creations waiting in the counter gate
  for their turn (``db.hot_rows``), read at scrape time;
- ``guildbase_redis_latency_seconds``: one PING's round trip, per sample;
- ``guildbase_job_queue_depth{kind}``: jobs due and waiting, per sample.

``start()`` serves them over HTTP on ``GUILDBASE_METRICS_PORT`` (unset: no
endpoint; 0: any free port, see ``port``) and, every
``GUILDBASE_METRICS_SAMPLE_SECONDS`` (0: never), writes the same figures to
``runtime_metric_sample`` through ``db.runtime_metrics.record_samples``:
per command the interval's calls, errors, mean and p99 latency; the loop's
worst lag of the interval; pool in use and size and the interval's timeouts;
Redis latency; queue depth per kind. ``stop()`` writes a last sample and
closes the endpoint. A failing sample is logged, never raised: metrics must
not take a bot down.
"""

import asyncio
import bisect
import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from guildbase.config import Settings
from guildbase.db.bulk import Row
from guildbase.db.types import utcnow
from guildbase.models.runtime_metrics import RuntimeMetric

if TYPE_CHECKING:
    from guildbase.database import Database

__all__ = ["LATENCY_BUCKETS", "RuntimeMetrics"]

log = logging.getLogger("guildbase.metrics")

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
"""Command latency buckets (s): a cached read is milliseconds, a command waiting on Discord seconds."""
LAG_INTERVAL = 0.5
"""Seconds between two event-loop lag measurements."""


@dataclass
class _Interval:
    """One command's observations since the last sample (the histogram itself only grows)."""

    calls: int = 0
    errors: int = 0
    seconds: float = 0.0
    slowest: float = 0.0
    buckets: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS) + 1))

    def p99(self) -> float:
        """The upper bound of the bucket holding the 99th percentile (the slowest call past the last bucket)."""
        wanted, seen = 0.99 * self.calls, 0
        for index, count in enumerate(self.buckets):
            seen += count
            if seen >= wanted:
                return min(LATENCY_BUCKETS[index], self.slowest) if index < len(LATENCY_BUCKETS) else self.slowest
        return self.slowest


class _PoolCollector(Collector):
    """The writer pool's status, read from SQLAlchemy when Prometheus scrapes."""

    def __init__(self, db: "Database") -> None:
        self._db = db

    def collect(self) -> Iterator[Any]:
        status = pool_status(self._db)
        if status is not None:
            in_use, size, overflow = status
            yield GaugeMetricFamily("guildbase_pool_in_use", "PostgreSQL connections checked out", value=in_use)
            yield GaugeMetricFamily("guildbase_pool_size", "PostgreSQL connections the pool keeps", value=size)
            yield GaugeMetricFamily("guildbase_pool_overflow", "connections beyond pool_size", value=overflow)
        gate = self._db.hot_rows  # a raid shows here first: creations queued in the process, not in the pool
        yield GaugeMetricFamily(
            "guildbase_counter_gate_rows", "guild counter rows with a creation in flight", len(gate)
        )
        yield GaugeMetricFamily(
            "guildbase_counter_gate_queued", "numbered creations waiting in the counter gate", gate.queued()
        )
        yield CounterMetricFamily(
            "guildbase_pool_timeouts",
            "calls that gave up waiting for a pooled connection (PoolExhaustedError)",
            value=self._db.pool_timeouts,
        )


def pool_status(db: "Database") -> tuple[int, int, int] | None:
    """(in use, size, overflow) of the writer pool; None when not connected or not a queue pool."""
    try:
        pool: Any = db.engine.sync_engine.pool
        return int(pool.checkedout()), int(pool.size()), max(0, int(pool.overflow()))
    except Exception:  # noqa: BLE001 - not connected, bound to a test transaction, or a pool without a queue
        return None


class RuntimeMetrics:
    """One process's metrics: instruments, the HTTP endpoint and the sampler (see the module docstring)."""

    def __init__(
        self,
        db: "Database",
        *,
        role: str,
        settings: Settings | None = None,
        lag_interval: float = LAG_INTERVAL,
    ) -> None:
        self.db = db
        self.settings = settings or db.settings
        """Where the port, host, sample interval and process name come from (the bot passes its own)."""
        self.process = self.settings.metrics_process or f"{role}:{socket.gethostname()}:{os.getpid()}"
        self.registry = CollectorRegistry()
        self.command_seconds = Histogram(
            "guildbase_command_duration_seconds",
            "command latency, from the invocation to its completion or error",
            ["command"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.command_errors = Counter(
            "guildbase_command_errors",
            "failed commands by exception type",
            ["command", "error"],
            registry=self.registry,
        )
        self.loop_lag = Gauge(
            "guildbase_event_loop_lag_seconds", "how late the event loop woke a sleeper", registry=self.registry
        )
        self.redis_latency = Gauge(
            "guildbase_redis_latency_seconds", "round trip of one Redis PING", registry=self.registry
        )
        self.job_queue_depth = Gauge(
            "guildbase_job_queue_depth", "jobs pending and due, waiting for a worker", ["kind"], registry=self.registry
        )
        self.registry.register(_PoolCollector(db))
        self._lag_interval = lag_interval
        self._interval: dict[str, _Interval] = {}
        self._worst_lag = 0.0
        self._timeouts_seen = db.pool_timeouts
        self._kinds: set[str] = set()
        self._lock = threading.Lock()  # observations come from the loop; scrapes from the server thread
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    # -- feeding -------------------------------------------------------------------------------
    def observe_command(self, command: str, seconds: float, *, error: BaseException | None = None) -> None:
        """One finished command: its latency, and its failure if ``error``."""
        seconds = max(0.0, seconds)
        self.command_seconds.labels(command).observe(seconds)
        if error is not None:
            self.command_errors.labels(command, type(error).__name__).inc()
        with self._lock:
            interval = self._interval.setdefault(command, _Interval())
            interval.calls += 1
            interval.errors += error is not None
            interval.seconds += seconds
            interval.slowest = max(interval.slowest, seconds)
            interval.buckets[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1

    # -- lifecycle -----------------------------------------------------------------------------
    @property
    def port(self) -> int | None:
        """The port the endpoint listens on (the one the OS chose for port 0); None when not serving."""
        return None if self._server is None else int(self._server.server_port)

    async def start(self) -> None:
        """Serve ``/metrics`` on ``metrics_port`` and sample every ``metrics_sample_seconds``.

        Nothing starts when neither is on (``metrics_port`` unset and ``metrics_sample_seconds`` 0).
        """
        settings = self.settings
        port, every = settings.metrics_port, settings.metrics_sample_seconds
        if port is None and not every:
            return
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self._watch_lag(), name="guildbase-metrics-lag"))
        if every:
            self._tasks.append(loop.create_task(self._sample_every(every), name="guildbase-metrics-sampler"))
        if port is not None:
            self._server, self._thread = start_http_server(port, addr=settings.metrics_host, registry=self.registry)
            log.info("metrics served on http://%s:%s/metrics", settings.metrics_host, self.port)

    async def stop(self) -> None:
        """Stop measuring, write a last sample (when sampling) and close the endpoint.

        The sampler is told to stop and finishes the sample it may be writing: a
        task cancelled in the middle of a database call can leave its pooled
        connection waiting to be cleaned up, so only the lag watcher (which only
        sleeps) is cancelled.
        """
        sampling = any(task.get_name() == "guildbase-metrics-sampler" for task in self._tasks)
        self._stopping.set()
        for task in self._tasks:
            if task.get_name() != "guildbase-metrics-sampler":
                task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        self._stopping = asyncio.Event()
        if sampling:
            await self._sample_logged()
        if self._server is not None:
            server, self._server = self._server, None
            await asyncio.to_thread(server.shutdown)
            server.server_close()
            if self._thread is not None:
                self._thread.join()

    def scrape(self) -> bytes:
        """The registry in Prometheus' text format (what ``/metrics`` answers)."""
        return generate_latest(self.registry)

    # -- measuring -----------------------------------------------------------------------------
    async def _watch_lag(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            began = loop.time()
            await asyncio.sleep(self._lag_interval)
            lag = max(0.0, loop.time() - began - self._lag_interval)
            self.loop_lag.set(lag)
            self._worst_lag = max(self._worst_lag, lag)

    async def _sample_every(self, seconds: float) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
            if not self._stopping.is_set():
                await self._sample_logged()

    async def _sample_logged(self) -> None:
        try:
            await self.sample()
        except Exception:
            log.exception("runtime metrics sample failed; the next one will try again")

    async def sample(self, *, now: datetime | None = None) -> list[Row]:
        """Measure Redis and the job queue, collect the interval's figures, write them; returns the rows."""
        at = now or utcnow()
        rows: list[Row] = []

        def add(metric: RuntimeMetric, value: float, label: str = "") -> None:
            rows.append((at, self.process, metric.value, label, float(value)))

        redis = await self._redis_latency()
        if redis is not None:
            add(RuntimeMetric.REDIS_LATENCY, redis)
        for kind, due in (await self._queue_depth()).items():
            add(RuntimeMetric.JOB_QUEUE_DEPTH, due, kind)
        status = pool_status(self.db)
        if status is not None:
            add(RuntimeMetric.POOL_IN_USE, status[0])
            add(RuntimeMetric.POOL_SIZE, status[1])
        timeouts, self._timeouts_seen = self.db.pool_timeouts - self._timeouts_seen, self.db.pool_timeouts
        add(RuntimeMetric.POOL_TIMEOUTS, timeouts)
        worst, self._worst_lag = self._worst_lag, 0.0
        add(RuntimeMetric.EVENT_LOOP_LAG, worst)
        with self._lock:
            interval, self._interval = self._interval, {}
        for command, figures in sorted(interval.items()):
            add(RuntimeMetric.COMMAND_CALLS, figures.calls, command)
            add(RuntimeMetric.COMMAND_ERRORS, figures.errors, command)
            add(RuntimeMetric.COMMAND_LATENCY_MEAN, figures.seconds / figures.calls, command)
            add(RuntimeMetric.COMMAND_LATENCY_P99, figures.p99(), command)
        await self.db.runtime_metrics.record_samples(rows)
        return rows

    async def _redis_latency(self) -> float | None:
        began = time.perf_counter()
        try:
            await self.db.redis.ping()
        except Exception:  # noqa: BLE001 - Redis away: no figure this time, the cache falls back by itself
            self.redis_latency.set(float("nan"))
            return None
        latency = time.perf_counter() - began
        self.redis_latency.set(latency)
        return latency

    async def _queue_depth(self) -> dict[str, int]:
        depth = {status.kind: status.due for status in await self.db.jobs.status()}
        for kind in self._kinds - set(depth):  # a kind whose jobs all ran: its gauge goes to 0, not stale
            depth[kind] = 0
        self._kinds |= set(depth)
        for kind, due in depth.items():
            self.job_queue_depth.labels(kind).set(due)
        return dict(sorted(depth.items()))
