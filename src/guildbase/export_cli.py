"""``guildbase export …``: a raw log or event table, or a report, to CSV or JSON Lines with a progress bar.

The rows stream from the database (``db.events.export_chunks``); the file is
written batch by batch, so memory stays flat whatever the size. The progress
bar goes to stderr, so ``--output -`` (stdout) stays clean for a pipe. Bad
arguments are refused before connecting, with the argument named.
"""

import asyncio
import contextlib
import sys
from contextlib import nullcontext
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, TextIO

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from guildbase.cli_support import load_settings, reported
from guildbase.config import Settings
from guildbase.controllers.event_exports import EXPORTABLE, plan_export
from guildbase.controllers.event_stats import period
from guildbase.database import Database
from guildbase.errors import ValidationError, shown
from guildbase.models.event_stats import ExportFormat, GroupBy, Metric

export_app = typer.Typer(help="Export logs, the event trail and reports to CSV or JSON Lines.", no_args_is_help=True)
progress_console = Console(stderr=True)

Output = Annotated[Path, typer.Option("--output", "-o", help="File to write; - for stdout.")]
Format = Annotated[ExportFormat, typer.Option("--format", "-f", help="csv or jsonl.")]


def parse_moment(field: str, value: str) -> datetime:
    """An ISO 8601 date or datetime; without an offset it is UTC."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        msg = f"must be an ISO 8601 date or datetime such as 2026-11-01 or 2026-11-01T12:00:00Z, got {shown(value)}"
        raise ValidationError.single(field, "datetime", msg) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def parse_day(field: str, value: str) -> date:
    """The UTC day of ``parse_moment``."""
    return parse_moment(field, value).date()


def _open(output: Path) -> "nullcontext[TextIO] | TextIO":
    if str(output) == "-":
        return nullcontext(sys.stdout)
    return output.open("w", encoding="utf-8", newline="")


async def _table(  # noqa: PLR0917 - the command's options, passed on once
    settings: Settings, table: str, fmt: ExportFormat, since: datetime, until: datetime, guild: int | None,
    columns: str | None, output: Path,
) -> int:  # fmt: skip
    async with Database(settings) as db:
        # The count (the bar's total) runs beside the stream on a second connection: at 10M rows it is
        # seconds of scanning that would otherwise come before the first row is written (W12).
        counting = asyncio.ensure_future(db.events.export_count(table, since=since, until=until, guild_id=guild))
        columns_shown = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
        try:
            with Progress(*columns_shown, console=progress_console) as progress, _open(output) as out:
                task = progress.add_task(f"{table} → {output}", total=None)
                written = 0
                chunks = db.events.export_chunks(
                    table, fmt=fmt, since=since, until=until, guild_id=guild, columns=columns
                )
                async for chunk in chunks:
                    out.write(chunk.text)
                    written += chunk.rows
                    total = counting.result() if counting.done() else None
                    progress.update(task, completed=written, total=total)
                progress.update(task, completed=written, total=await counting)
        finally:
            if not counting.done():
                counting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await counting
        return written


@export_app.command("table")
def export_table(
    table: Annotated[str, typer.Argument(help=f"One of: {', '.join(sorted(EXPORTABLE))}.")],
    *,
    since: Annotated[str, typer.Option(help="Start (included): ISO date or datetime, UTC unless it says otherwise.")],
    until: Annotated[str, typer.Option(help="End (excluded): ISO date or datetime.")],
    output: Output = Path("-"),
    fmt: Format = ExportFormat.CSV,
    guild: Annotated[int | None, typer.Option(help="Only this guild's rows.")] = None,
    columns: Annotated[str | None, typer.Option(help="Comma-separated columns (default: all).")] = None,
) -> None:
    """Export a raw log or event table over a period."""
    settings = load_settings()
    with reported("export", settings):
        start, end = parse_moment("since", since), parse_moment("until", until)
        plan_export(table, fmt=fmt, since=start, until=end, guild_id=guild, columns=columns)  # fail before connecting
        written = asyncio.run(_table(settings, table, fmt, start, end, guild, columns, output))
        progress_console.print(f"{written} rows of {table} written to {output}")


async def _report(  # noqa: PLR0917 - the command's options, passed on once
    settings: Settings, guild: int, metric: Metric, fmt: ExportFormat, days: tuple[date, date], group_by: GroupBy,
    limit: int, output: Path,
) -> int:  # fmt: skip
    async with Database(settings) as db:
        with _open(output) as out:
            return await db.events.export_report(
                out, guild, metric, fmt=fmt, since=days[0], until=days[1], group_by=group_by, limit=limit
            )


@export_app.command("report")
def export_report(
    metric: Annotated[Metric, typer.Argument(help="What to count.")],
    *,
    guild: Annotated[int, typer.Option(help="The guild reported on.")],
    since: Annotated[str, typer.Option(help="First UTC day (included), ISO date.")],
    until: Annotated[str, typer.Option(help="Last UTC day (included), ISO date.")],
    group_by: Annotated[GroupBy, typer.Option(help="day, user, channel or role.")] = GroupBy.DAY,
    limit: Annotated[int, typer.Option(help="Rows at most (the top N when not per day).")] = 100,
    output: Output = Path("-"),
    fmt: Format = ExportFormat.CSV,
) -> None:
    """Export a report over the daily rollups (per day, or the top members, channels or roles)."""
    settings = load_settings()
    with reported("export", settings):
        days = period(parse_day("since", since), parse_day("until", until))
        written = asyncio.run(_report(settings, guild, metric, fmt, days, group_by, limit, output))
        progress_console.print(f"{written} report rows written to {output}")
