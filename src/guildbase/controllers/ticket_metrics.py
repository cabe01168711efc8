"""Ticket metrics (R12.4) from the daily rollups, for any period: three indexed reads, whatever the ticket count.

- volume per day, per panel and per staff member, with the totals: one
  ``GROUPING SETS`` query over ``ticket_daily`` (rows per day x panel x staff);
- first-response and resolution time, median and p90: the summed histogram of
  ``ticket_daily_duration`` (log-scale buckets, ±12 %);
- backlog at the end of the period: opened + reopened - closed over every day
  up to it (the rollups hold the whole history, so no ticket row is read);
- ratings: their count and average.

The rollups are written by the ticket writes themselves (``ticket_common``),
in their transactions, so the report is exact to the last commit.
"""

from datetime import date, timedelta
from typing import Any

from sqlalchemy import text

from guildbase.controllers.base import Controller
from guildbase.db.validation import calendar_date, optional_positive, snowflake
from guildbase.errors import ValidationError
from guildbase.models.ticket_stats import DurationStats, TicketMetrics
from guildbase.models.tickets import DurationMetric, bucket_seconds

__all__ = ["TicketMetricsReport", "percentiles"]

MAX_PERIOD = timedelta(days=3660)
VOLUME_SQL = text(
    """SELECT day, panel_id, staff_id, GROUPING(day, panel_id, staff_id) AS grouping,
  sum(opened) AS opened, sum(closed) AS closed, sum(reopened) AS reopened,
  sum(first_responses) AS first_responses, sum(ratings) AS ratings, sum(rating_sum) AS rating_sum
FROM ticket_daily WHERE guild_id = :guild_id AND day BETWEEN :first_day AND :last_day
  AND (CAST(:panel_id AS bigint) IS NULL OR panel_id = :panel_id)
GROUP BY GROUPING SETS ((day), (panel_id), (staff_id), ())"""
)
DURATION_SQL = text(
    """SELECT metric::text AS metric, bucket, sum(count) AS count FROM ticket_daily_duration
WHERE guild_id = :guild_id AND day BETWEEN :first_day AND :last_day
  AND (CAST(:panel_id AS bigint) IS NULL OR panel_id = :panel_id)
GROUP BY metric, bucket ORDER BY metric, bucket"""
)
BACKLOG_SQL = text(
    """SELECT coalesce(sum(opened + reopened - closed), 0) FROM ticket_daily
WHERE guild_id = :guild_id AND day <= :last_day AND (CAST(:panel_id AS bigint) IS NULL OR panel_id = :panel_id)"""
)
_ALL_DAYS, _ALL_PANELS, _ALL_STAFF, _TOTAL = 3, 5, 6, 7  # GROUPING bits of each set: (day), (panel), (staff), ()


def percentiles(buckets: list[tuple[int, int]]) -> DurationStats:
    """Median and p90 from ``(bucket, count)`` pairs in bucket order."""
    total = sum(count for _, count in buckets)
    if not total:
        return DurationStats(count=0, median_seconds=None, p90_seconds=None)

    def at(share: float) -> float:
        running = 0
        for bucket, count in buckets:
            running += count
            if running >= share * total:
                return bucket_seconds(bucket)
        return bucket_seconds(buckets[-1][0])

    return DurationStats(count=total, median_seconds=at(0.5), p90_seconds=at(0.9))


class TicketMetricsReport(Controller):
    """The metrics half of ``db.tickets`` (mixed into ``TicketController``)."""

    async def metrics(
        self, guild_id: int, first_day: date, last_day: date, *, panel_id: int | None = None
    ) -> TicketMetrics:
        """The guild's ticket metrics from ``first_day`` to ``last_day`` (UTC days, both included)."""
        guild_id = snowflake("guild_id", guild_id)
        start, end = calendar_date("first_day", first_day), calendar_date("last_day", last_day)
        panel_id = optional_positive("panel_id", panel_id)
        if end < start or end - start > MAX_PERIOD:
            msg = f"last_day: must be from first_day ({start}) to {MAX_PERIOD.days} days after it, got {end}"
            raise ValidationError.single("last_day", "range", msg)
        params: dict[str, Any] = {"guild_id": guild_id, "first_day": start, "last_day": end, "panel_id": panel_id}
        async with self._read() as session:
            volume = (await session.execute(VOLUME_SQL, params)).mappings().all()
            durations = (await session.execute(DURATION_SQL, params)).mappings().all()
            backlog = int((await session.execute(BACKLOG_SQL, params)).scalar_one())
        per_day, per_panel, per_staff = {}, {}, {}
        total: dict[str, Any] = {}
        for row in volume:
            pair = (int(row["opened"] or 0), int(row["closed"] or 0))
            if row["grouping"] == _ALL_DAYS:
                per_day[row["day"]] = pair
            elif row["grouping"] == _ALL_PANELS:
                per_panel[int(row["panel_id"])] = pair
            elif row["grouping"] == _ALL_STAFF and row["staff_id"]:
                per_staff[int(row["staff_id"])] = (int(row["closed"] or 0), int(row["first_responses"] or 0))
            elif row["grouping"] == _TOTAL:
                total = dict(row)
        histogram: dict[str, list[tuple[int, int]]] = {metric.value: [] for metric in DurationMetric}
        for row in durations:
            histogram[row["metric"]].append((int(row["bucket"]), int(row["count"])))
        ratings = int(total.get("ratings") or 0)
        return TicketMetrics(
            first_day=start,
            last_day=end,
            opened=int(total.get("opened") or 0),
            closed=int(total.get("closed") or 0),
            reopened=int(total.get("reopened") or 0),
            per_day=dict(sorted(per_day.items())),
            per_panel=per_panel,
            per_staff=per_staff,
            first_response=percentiles(histogram[DurationMetric.FIRST_RESPONSE.value]),
            resolution=percentiles(histogram[DurationMetric.RESOLUTION.value]),
            backlog=backlog,
            ratings=ratings,
            average_rating=None if not ratings else int(total["rating_sum"]) / ratings,
        )
