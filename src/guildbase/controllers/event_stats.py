"""Reports over the daily rollups (R6.5, R13.2, R13.4): any period, filtered, per day or top-N.

``db.events.stats(guild_id, metric, since=…, until=…)`` reads only the
``*_stat_daily`` tables, so a report over a year reads at most a row per day
and key, never the raw trail. Messages and voice have coarser copies (per day
and member, per day and channel; ``event_rollups`` keeps them in the same
transactions): a report reads the smallest one that holds the columns it
groups and filters by, and the full per-(day, channel, member) table only when
it needs both. ``since`` and ``until`` are UTC days, both included. Each metric
says which groupings and filters it has:

| metric | table | group by | filters |
|---|---|---|---|
| messages | message_stat_daily | day, user, channel | user_id, channel_id |
| voice_minutes | voice_stat_daily (seconds // 60) | day, user, channel | user_id, channel_id |
| joins, leaves | member_stat_daily | day | — |
| roles_added, roles_removed | role_stat_daily | day, role | role_id |
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import text

from guildbase.controllers.event_writers import EventWriters
from guildbase.db.rows import read_all
from guildbase.db.validation import calendar_date, optional_snowflake, page_limit, snowflake, validate_enum
from guildbase.errors import ValidationError
from guildbase.models.event_stats import MAX_REPORT_DAYS, MAX_TOP, GroupBy, Metric, StatRow

__all__ = ["METRICS", "EventStats", "MetricSource", "period"]


@dataclass(frozen=True, slots=True)
class MetricSource:
    """Where a metric lives: its table, the SQL of its value, and the groupings and filters it has."""

    table: str
    value: str
    groups: dict[GroupBy, str]
    filters: frozenset[str]
    coarser: tuple[tuple[str, frozenset[str]], ...] = ()
    """Smaller copies of ``table`` and the key columns each keeps, smallest first."""

    def table_for(self, columns: set[str]) -> str:
        """The smallest rollup that holds every one of ``columns`` (the grouping and the filters)."""
        return next((table for table, held in self.coarser if columns <= held), self.table)


_DAY = {GroupBy.DAY: "day"}
METRICS: dict[Metric, MetricSource] = {
    Metric.MESSAGES: MetricSource(
        "message_stat_daily",
        "sum(messages)",
        {**_DAY, GroupBy.USER: "user_id", GroupBy.CHANNEL: "channel_id"},
        frozenset({"user_id", "channel_id"}),
        (
            ("message_stat_channel_daily", frozenset({"channel_id"})),
            ("message_stat_user_daily", frozenset({"user_id"})),
        ),
    ),
    Metric.VOICE_MINUTES: MetricSource(
        "voice_stat_daily",
        "sum(seconds) / 60",
        {**_DAY, GroupBy.USER: "user_id", GroupBy.CHANNEL: "channel_id"},
        frozenset({"user_id", "channel_id"}),
        (
            ("voice_stat_channel_daily", frozenset({"channel_id"})),
            ("voice_stat_user_daily", frozenset({"user_id"})),
        ),
    ),
    Metric.JOINS: MetricSource("member_stat_daily", "sum(joins)", _DAY, frozenset()),
    Metric.LEAVES: MetricSource("member_stat_daily", "sum(leaves)", _DAY, frozenset()),
    Metric.ROLES_ADDED: MetricSource(
        "role_stat_daily", "sum(added)", {**_DAY, GroupBy.ROLE: "role_id"}, frozenset({"role_id"})
    ),
    Metric.ROLES_REMOVED: MetricSource(
        "role_stat_daily", "sum(removed)", {**_DAY, GroupBy.ROLE: "role_id"}, frozenset({"role_id"})
    ),
}


def period(since: object, until: object) -> tuple[date, date]:
    """Validated UTC days ``since``..``until`` (both included), at most ``MAX_REPORT_DAYS`` long."""
    first = _day("since", since)
    last = _day("until", until)
    if last < first:
        raise ValidationError.single("until", "period", f"must be on or after since ({first}), got {last}")
    if (last - first).days + 1 > MAX_REPORT_DAYS:
        msg = f"must be at most {MAX_REPORT_DAYS} days after since ({first}), got {last}"
        raise ValidationError.single("until", "period", msg)
    return first, last


def _day(field: str, value: object) -> date:
    checked = calendar_date(field, value)
    return checked.date() if isinstance(checked, datetime) else checked


def report_sql(source: MetricSource, group: GroupBy, filters: Mapping[str, int | None]) -> str:
    """The one statement of a report; every identifier comes from ``METRICS``, values are bound."""
    key = source.groups[group]
    where = ["guild_id = :guild_id", "day >= :since", "day <= :until"]
    where += [f"{name} = :{name}" for name, value in filters.items() if value is not None]
    order = "day" if group is GroupBy.DAY else "value DESC, key"
    selected = "day" if group is GroupBy.DAY else f"{key} AS key"
    grouped = "day" if group is GroupBy.DAY else key
    needed = {name for name, value in filters.items() if value is not None} | ({grouped} - {"day"})
    table = source.table_for(needed)
    return (
        f"SELECT {selected}, {source.value}::bigint AS value FROM {table} "  # noqa: S608 - identifiers from METRICS
        f"WHERE {' AND '.join(where)} GROUP BY {grouped} ORDER BY {order} LIMIT :limit"
    )


class EventStats(EventWriters):
    """The reporting part of ``db.events``."""

    async def stats(
        self,
        guild_id: int,
        metric: Metric,
        *,
        since: date,
        until: date,
        group_by: GroupBy = GroupBy.DAY,
        user_id: int | None = None,
        channel_id: int | None = None,
        role_id: int | None = None,
        limit: int = 10,
    ) -> list[StatRow]:
        """A report: per day (every day with activity, in order) or the top ``limit`` keys, largest first.

        Raises:
            ValidationError: a bad argument, a grouping or filter the metric
                does not have (named), or a period that ends before it starts.
        """
        guild = snowflake("guild_id", guild_id)
        chosen = validate_enum("metric", Metric, metric)
        group = validate_enum("group_by", GroupBy, group_by)
        filters = {
            "user_id": optional_snowflake("user_id", user_id),
            "channel_id": optional_snowflake("channel_id", channel_id),
            "role_id": optional_snowflake("role_id", role_id),
        }
        rows = page_limit(limit, MAX_TOP if group is not GroupBy.DAY else MAX_REPORT_DAYS)
        first, last = period(since, until)
        source = METRICS[chosen]
        if group not in source.groups:
            allowed = ", ".join(g.value for g in source.groups)
            raise ValidationError.single("group_by", "metric", f"{chosen.value} groups by {allowed}, got {group.value}")
        for name, value in filters.items():
            if value is not None and name not in source.filters:
                allowed = ", ".join(sorted(source.filters)) or "none"
                msg = f"{chosen.value} cannot be filtered by {name} (filters: {allowed})"
                raise ValidationError.single(name, "metric", msg)
        used = {name: value for name, value in filters.items() if value is not None}
        params = {"guild_id": guild, "since": first, "until": last, "limit": rows, **used}
        async with self._read() as session:
            found = (await session.execute(text(report_sql(source, group, used)), params)).mappings().all()
        return read_all(StatRow, found)

    async def daily_totals(self, guild_id: int, *, since: date, until: date) -> dict[Metric, int]:
        """Every metric's total over the period (a dashboard's summary line)."""
        guild = snowflake("guild_id", guild_id)
        first, last = period(since, until)
        totals: dict[Metric, int] = {}
        async with self._read() as session:
            for metric, source in METRICS.items():
                sql = (
                    f"SELECT coalesce({source.value}, 0)::bigint FROM {source.table_for(set())} "  # noqa: S608 - from METRICS
                    "WHERE guild_id = :guild_id AND day >= :since AND day <= :until"
                )
                value = await session.scalar(text(sql), {"guild_id": guild, "since": first, "until": last})
                totals[metric] = int(value or 0)
        return totals


def days_between(first: date, last: date) -> list[date]:
    """Every day from ``first`` to ``last``, both included (fills the gaps of a per-day report)."""
    return [first + timedelta(days=offset) for offset in range((last - first).days + 1)]
