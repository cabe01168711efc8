"""Runtime metrics rules: ``db.runtime_metrics``, the sampled history of each process's figures (R6.4, R13.3).

``guildbase.metrics`` measures a process live (Prometheus) and hands a sample
of the same figures here every ``metrics_sample_seconds``; ``record_samples``
writes it with one binary COPY into the monthly partitions of
``runtime_metric_sample``. ``series`` gives the dashboard one metric over a
period in time buckets; ``command_error_rates`` gives each command's failures
over uses from the command log's daily rollup (never the raw log); retention
drops whole partitions (``maintain_partitions``, run by the retention job).

Samples are a process's own measurements, not a change anyone made: they are
neither audited nor actor-stamped, like the logs.
"""

import math
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

from guildbase.controllers.base import Controller
from guildbase.db import partitions
from guildbase.db.bulk import Row
from guildbase.db.rows import read_all
from guildbase.db.types import utcnow
from guildbase.db.validation import (
    aware,
    calendar_date,
    instances,
    integer,
    moment,
    optional_snowflake,
    optional_text,
    validate_enum,
)
from guildbase.db.validation import text as checked_text
from guildbase.errors import ValidationError
from guildbase.models.event_stats import MAX_REPORT_DAYS
from guildbase.models.runtime_metrics import (
    LABEL_MAX_LENGTH,
    PROCESS_MAX_LENGTH,
    RETENTION_MONTHS,
    CommandErrorRate,
    MetricPoint,
    RuntimeMetric,
)

__all__ = ["MAX_POINTS", "SAMPLE_COLUMNS", "TABLE", "RuntimeMetricsController"]

TABLE = "runtime_metric_sample"
SAMPLE_COLUMNS = ("sampled_at", "process", "metric", "label", "value")
MAX_POINTS = 10_000
"""Most buckets one series may return (a year at one-hour buckets fits)."""
MAX_SAMPLES = 100_000
"""Most rows one ``record_samples`` call takes."""
ALL_GUILDS = 0
"""``command_stat_daily``'s guild for every guild together."""

_SERIES_SQL = """
SELECT date_bin(make_interval(secs => $3), sampled_at, $1) AS at,
       avg(value) AS value, max(value) AS peak, sum(value) AS total, count(*) AS samples
FROM runtime_metric_sample
WHERE metric = $4 AND sampled_at >= $1 AND sampled_at < $2
  AND ($5::text IS NULL OR process = $5) AND ($6::text IS NULL OR label = $6)
GROUP BY 1
ORDER BY 1
"""
_ERROR_RATES_SQL = """
SELECT command, sum(uses)::bigint AS uses, sum(failures)::bigint AS failures, min(day) AS first_day,
       max(day) AS last_day
FROM command_stat_daily
WHERE guild_id = $1 AND day >= $2 AND day < $3
GROUP BY command
ORDER BY sum(failures)::float8 / greatest(sum(uses), 1) DESC, sum(failures) DESC, command
"""


class RuntimeMetricsController(Controller):
    """``db.runtime_metrics``: write and read the sampled history of the processes' runtime figures."""

    async def record_samples(self, rows: Sequence[Row]) -> int:
        """Write ``(sampled_at, process, metric, label, value)`` rows in one COPY; returns how many.

        Raises:
            ValidationError: a row that is not such a tuple, an unknown metric,
                a value that is not a finite number; nothing is written.
        """
        checked = [_sample(index, row) for index, row in enumerate(instances("rows", rows, tuple))]
        if len(checked) > MAX_SAMPLES:
            raise ValidationError.single("rows", "max_items", f"must hold at most {MAX_SAMPLES} rows")
        if checked:
            await partitions.copy_into(self._fast, TABLE, SAMPLE_COLUMNS, checked)
        return len(checked)

    async def series(
        self,
        metric: RuntimeMetric,
        *,
        since: datetime,
        until: datetime,
        process: str | None = None,
        label: str | None = None,
        bucket_seconds: int = 60,
    ) -> list[MetricPoint]:
        """``metric`` over ``[since, until)``, one point per ``bucket_seconds`` that has samples, oldest first.

        Each point holds the mean, the peak and the total of its samples (for
        per-interval counts such as ``command_calls`` the total is the figure
        to chart). ``process`` and ``label`` narrow it to one process or one
        command; without them every process and label is folded together.
        """
        name = validate_enum("metric", RuntimeMetric, metric).value
        start, end = aware("since", since), aware("until", until)
        bucket = integer("bucket_seconds", bucket_seconds, minimum=1, maximum=7 * 86_400)
        who = optional_text("process", process, max_length=PROCESS_MAX_LENGTH)
        which = optional_text("label", label, max_length=LABEL_MAX_LENGTH)
        if end <= start:
            raise ValidationError.single("until", "period", "must be after since")
        if (end - start) / timedelta(seconds=bucket) > MAX_POINTS:
            msg = f"the period holds more than {MAX_POINTS} buckets of {bucket} s; use larger buckets"
            raise ValidationError.single("bucket_seconds", "max_points", msg)
        async with self._fast(transaction=False) as unit:
            rows = await unit.connection.fetch(_SERIES_SQL, start, end, float(bucket), name, who, which)
        return read_all(MetricPoint, rows)  # computed by our own statement from checked rows

    async def command_error_rates(
        self, *, days: int = 30, guild_id: int | None = None, until: date | None = None
    ) -> list[CommandErrorRate]:
        """Each command's uses, failures and error rate over the ``days`` UTC days before ``until``.

        From the command log's daily rollup (``command_stat_daily``), so a year
        costs a row per command and day; worst error rate first. ``until``
        defaults to through today; ``guild_id`` None is every guild together.
        """
        days = integer("days", days, minimum=1, maximum=MAX_REPORT_DAYS)
        guild = optional_snowflake("guild_id", guild_id)
        end = utcnow().date() + timedelta(days=1) if until is None else calendar_date("until", until)
        async with self._fast(transaction=False) as unit:
            rows = await unit.connection.fetch(
                _ERROR_RATES_SQL, ALL_GUILDS if guild is None else guild, end - timedelta(days=days), end
            )
        return [
            CommandErrorRate.model_construct(
                command=row["command"],
                uses=row["uses"],
                failures=row["failures"],
                error_rate=row["failures"] / row["uses"] if row["uses"] else 0.0,
                first_day=row["first_day"],
                last_day=row["last_day"],
            )
            for row in rows
        ]

    async def maintain_partitions(
        self, *, now: datetime | None = None, months_ahead: int = 3, retention_months: int = RETENTION_MONTHS
    ) -> dict[str, list[str]]:
        """Create this month's and the next ``months_ahead`` partitions; drop those past ``retention_months``.

        Returns ``{"created": […], "dropped": […]}`` (partition names).
        """
        current = partitions.month_of(moment("now", now))
        ahead = integer("months_ahead", months_ahead, minimum=0, maximum=24)
        keep = integer("retention_months", retention_months, minimum=1, maximum=120)
        async with self._fast() as unit:
            created, dropped = await partitions.maintain(
                unit.connection, TABLE, current, months_ahead=ahead, keep_months=keep
            )
        return {"created": created, "dropped": dropped}

    async def partitions(self) -> list[str]:
        """The sample table's partitions, oldest first."""
        async with self._fast(transaction=False) as unit:
            return await partitions.partitions_of(unit.connection, TABLE)


def _sample(index: int, row: Row) -> Row:
    """One checked sample row; the field names say which row and column was wrong."""
    field = f"rows.{index}"
    if len(row) != len(SAMPLE_COLUMNS):
        raise ValidationError.single(field, "row", f"must be a tuple of {len(SAMPLE_COLUMNS)} values, got {len(row)}")
    at, process, metric, label, value = row
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValidationError.single(f"{field}.value", "finite", f"must be a finite number, got {value!r}")
    return (
        aware(f"{field}.sampled_at", at).astimezone(UTC),
        checked_text(f"{field}.process", process, min_length=1, max_length=PROCESS_MAX_LENGTH),
        validate_enum(f"{field}.metric", RuntimeMetric, metric).value,
        checked_text(f"{field}.label", label, max_length=LABEL_MAX_LENGTH),
        float(value),
    )
