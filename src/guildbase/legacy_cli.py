"""``guildbase import-legacy --from URL [--dry-run] [--report report.json]``: bring a legacy bot's data in (R3.5).

A Rich progress bar per legacy table while it runs; then the report: per
table, rows read, written, merged and skipped, with the reasons (the JSON
file holds every issue with its legacy key). The target is the configured
guildbase database (``GUILDBASE_DATABASE_URL``, else the embedded one), which
must be migrated (``guildbase db upgrade``). Run it again at any time: it
continues where it stopped, and once everything is in it writes nothing.
"""

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn

from guildbase.cli_support import console, load_settings, reported
from guildbase.legacy.runner import DEFAULT_BATCH

__all__ = ["import_legacy"]


def import_legacy(
    source: Annotated[str, typer.Option("--from", help="The legacy database's URL (postgresql://…); only read.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Read and map everything, write nothing.")] = False,
    report: Annotated[Path | None, typer.Option("--report", help="Also write the report as JSON here.")] = None,
    batch_size: Annotated[
        int, typer.Option(min=1, max=100_000, help="Legacy rows per committed batch.")
    ] = DEFAULT_BATCH,
) -> None:
    """Import the previous schema's data (LEGACY_SCHEMA.md) into guildbase; safe to run again."""
    from guildbase.database import _resolve_url  # noqa: PLC0415 - keeps the other commands' start-up light
    from guildbase.legacy.runner import run_import  # noqa: PLC0415

    settings = load_settings()
    with reported("import-legacy", settings):
        resolved, _ = _resolve_url(settings)
        target = resolved if isinstance(resolved, str) else resolved.render_as_string(hide_password=False)
        with Progress(
            TextColumn("{task.description:<18}"), BarColumn(), MofNCompleteColumn(), console=console, transient=False
        ) as bar:
            tasks: dict[str, TaskID] = {}

            def progress(table: str, done: int, total: int) -> None:
                if table not in tasks:
                    tasks[table] = bar.add_task(table, total=total or 1)
                bar.update(tasks[table], completed=done if total else 1, total=total or 1)

            result = asyncio.run(
                run_import(
                    source,
                    target,
                    dry_run=dry_run,
                    batch_size=batch_size,
                    progress=progress,
                )
            )
        console.print(result.render(), markup=False, highlight=False)
        if report is not None:
            report.write_text(json.dumps(result.to_json(), indent=2, ensure_ascii=False, default=str))
            console.print(f"report written to {report}")
