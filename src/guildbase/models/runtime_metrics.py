"""Runtime metrics domain: periodic samples of each process's figures, so a dashboard can chart them (R6.4, R13.3).

Design decisions:

- Prometheus is the live view (``guildbase.metrics`` serves it per process);
  ``runtime_metric_sample`` keeps the history, because a scrape shows only
  now and a bot owner without a Prometheus server still wants a chart.
- One narrow row per figure and sample: ``(sampled_at, process, metric,
  label, value)``. ``label`` holds the one dimension a figure has (the command
  of a latency, the job kind of a queue depth), ``''`` for none. New figures
  need no migration: ``metric`` is text checked against ``RuntimeMetric`` by
  the controller, not a PostgreSQL enum.
- Range-partitioned by month on ``sampled_at`` through ``db.partitions``, no
  foreign keys, written by binary COPY; retention drops whole partitions
  (``RETENTION_MONTHS``), run by the ``events.retention`` job.
"""

import enum
from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, Float, Identity, Index, Text, text
from sqlmodel import Field, SQLModel

from guildbase.db.types import READ_ONLY, UTCDateTimeType

PROCESS_MAX_LENGTH = 200
LABEL_MAX_LENGTH = 200
RETENTION_MONTHS = 3
"""Whole months of samples kept before the current one."""


class RuntimeMetric(enum.StrEnum):
    """A figure sampled into ``runtime_metric_sample`` (seconds for times, counts per interval for ``…_calls``)."""

    COMMAND_CALLS = "command_calls"
    """Commands finished in the interval; label: the command."""
    COMMAND_ERRORS = "command_errors"
    """Commands failed in the interval; label: the command."""
    COMMAND_LATENCY_MEAN = "command_latency_mean"
    """Mean duration (s) of the interval's commands; label: the command."""
    COMMAND_LATENCY_P99 = "command_latency_p99"
    """99th percentile (s, the histogram bucket's upper bound) of the interval's commands; label: the command."""
    EVENT_LOOP_LAG = "event_loop_lag"
    """Worst event-loop lag (s) seen in the interval."""
    POOL_IN_USE = "pool_in_use"
    """PostgreSQL connections checked out of the writer pool."""
    POOL_SIZE = "pool_size"
    """Connections the writer pool keeps (in use or idle)."""
    POOL_TIMEOUTS = "pool_timeouts"
    """Calls that gave up waiting for a connection in the interval (``PoolExhaustedError``)."""
    REDIS_LATENCY = "redis_latency"
    """Round trip (s) of one Redis PING."""
    JOB_QUEUE_DEPTH = "job_queue_depth"
    """Jobs pending and due now; label: the job kind."""


class RuntimeMetricSample(SQLModel, table=True):
    """One figure of one process at one moment."""

    __tablename__ = "runtime_metric_sample"
    __table_args__ = (
        CheckConstraint(f"char_length(process) BETWEEN 1 AND {PROCESS_MAX_LENGTH}", name="process_length"),
        CheckConstraint(f"char_length(label) <= {LABEL_MAX_LENGTH}", name="label_length"),
        CheckConstraint("char_length(metric) BETWEEN 1 AND 64", name="metric_length"),
        # A metric's series over a period (the dashboard's chart).
        Index("ix_runtime_metric_sample_metric_sampled_at", "metric", "sampled_at"),
        {"postgresql_partition_by": "RANGE (sampled_at)"},
    )

    sample_id: int | None = Field(default=None, primary_key=True, sa_type=BigInteger, sa_column_args=[Identity()])
    sampled_at: datetime = Field(
        primary_key=True, sa_type=UTCDateTimeType, sa_column_kwargs={"server_default": text("now()")}
    )
    process: str = Field(sa_type=Text)
    """Which process: ``role:host:pid`` by default (``GUILDBASE_METRICS_PROCESS``)."""
    metric: str = Field(sa_type=Text)
    label: str = Field(default="", sa_type=Text, sa_column_kwargs={"server_default": text("''")})
    value: float = Field(sa_type=Float)


class MetricPoint(SQLModel):
    """One point of a series: a time bucket, the mean, the peak and the total of the samples in it."""

    model_config = READ_ONLY

    at: datetime
    value: float
    peak: float
    total: float
    samples: int


class CommandErrorRate(SQLModel):
    """A command's uses and failures over a period, from the command log's daily rollup."""

    model_config = READ_ONLY

    command: str
    uses: int
    failures: int
    error_rate: float
    """failures / uses (0 when unused)."""
    first_day: date
    last_day: date
