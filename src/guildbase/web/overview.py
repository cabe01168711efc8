"""The overview page's numbers: per-day series from the rollups, and a small inline SVG chart of each.

Every series reads a daily rollup, never the raw logs: members joined and
messages from the event rollups (``db.events.stats``), commands and failed
commands (errors) from ``command_stat_daily`` (``db.logs.command_stats``).
Days without activity are zeros, so every series has one point per day.
"""

from collections import defaultdict
from datetime import date, timedelta
from html import escape

from pydantic import BaseModel

from guildbase.database import Database
from guildbase.db.types import utcnow
from guildbase.models.event_stats import GroupBy, Metric

__all__ = ["Overview", "Series", "overview", "sparkline"]

SERIES = ("members_joined", "messages", "commands", "errors")


class Series(BaseModel):
    """One value per day, oldest first."""

    name: str
    days: list[date]
    values: list[int]


class Overview(BaseModel):
    """The overview page's data."""

    guild_id: str
    series: list[Series]


async def overview(db: Database, guild_id: int, *, since: date) -> Overview:
    """Per-day members joined, messages, commands and errors from ``since`` through today."""
    today = utcnow().date()
    days = [since + timedelta(days=offset) for offset in range((today - since).days + 1)]
    per_day: dict[str, dict[date, int]] = {name: defaultdict(int) for name in SERIES}
    for name, metric in (("members_joined", Metric.JOINS), ("messages", Metric.MESSAGES)):
        for row in await db.events.stats(guild_id, metric, since=since, until=today, group_by=GroupBy.DAY):
            if row.day is not None:
                per_day[name][row.day] += row.value
    for stat in await db.logs.command_stats(days=len(days), guild_id=guild_id):
        per_day["commands"][stat.day] += stat.uses
        per_day["errors"][stat.day] += stat.failures
    series = [Series(name=name, days=days, values=[per_day[name][day] for day in days]) for name in SERIES]
    return Overview(guild_id=str(guild_id), series=series)


def sparkline(series: Series, *, width: int = 280, height: int = 60) -> str:
    """An inline SVG line chart of a series (no JavaScript, no external asset)."""
    values = series.values or [0]
    top = max(values) or 1
    step = width / max(len(values) - 1, 1)
    points = " ".join(
        f"{index * step:.1f},{height - (value / top) * (height - 4) - 2:.1f}" for index, value in enumerate(values)
    )
    label = escape(f"{series.name}: {sum(values)} in {len(values)} days, at most {max(values)} a day")
    return (
        f'<svg class="chart" role="img" aria-label="{label}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}"><polyline fill="none" stroke="currentColor" stroke-width="2" '
        f'points="{points}"/></svg>'
    )
