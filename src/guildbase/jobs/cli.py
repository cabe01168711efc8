"""``guildbase jobs …``: a standalone worker, the queue's status, and retrying a failed job."""

import asyncio
import importlib
import signal
from collections.abc import Callable
from typing import Annotated

import typer
from rich.table import Table

from guildbase.cli_support import console, load_settings, reported
from guildbase.config import Settings
from guildbase.database import Database
from guildbase.jobs.handlers import register_maintenance
from guildbase.jobs.registry import JobRegistry
from guildbase.jobs.runner import JobRunner

jobs_app = typer.Typer(help="Durable jobs: run a worker, inspect and retry.", no_args_is_help=True)


def load_registrar(path: str) -> Callable[[JobRegistry], object]:
    """``package.module:function`` → the function that registers a bot's handlers."""
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise typer.BadParameter(f"expected module:function, got {path!r}", param_hint="--handlers")
    try:
        registrar = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise typer.BadParameter(f"cannot load {path!r}: {error}", param_hint="--handlers") from None
    if not callable(registrar):
        raise typer.BadParameter(f"{path!r} is not callable", param_hint="--handlers")
    return registrar  # type: ignore[no-any-return]


async def _run_worker(
    settings: Settings, registrars: list[Callable[[JobRegistry], object]], worker: str | None
) -> None:
    registry = JobRegistry()
    register_maintenance(registry)
    for registrar in registrars:
        registrar(registry)
    async with Database(settings) as db:
        runner = JobRunner(db, registry, worker=worker)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, runner.stop)
        await runner.run()


@jobs_app.command("run")
def run(
    handlers: Annotated[
        list[str] | None,
        typer.Option("--handlers", help="module:function that registers handlers on a JobRegistry (repeatable)."),
    ] = None,
    worker: Annotated[str | None, typer.Option(help="Worker id shown in locked_by (default host:pid:random).")] = None,
) -> None:
    """Run a worker until SIGTERM/SIGINT: maintenance jobs plus the kinds --handlers registers."""
    settings = load_settings()
    registrars = [load_registrar(path) for path in handlers or []]
    with reported("jobs run", settings):
        asyncio.run(_run_worker(settings, registrars, worker))


@jobs_app.command("status")
def status(
    failed: Annotated[int, typer.Option(min=0, max=100, help="How many failed jobs to list.")] = 10,
) -> None:
    """Due, scheduled, running and failed jobs per kind, and the latest failures."""
    settings = load_settings()

    async def collect() -> tuple[list[list[str]], list[list[str]]]:
        async with Database(settings) as db:
            counts = [
                [row.kind, str(row.due), str(row.scheduled), str(row.running), str(row.failed)]
                for row in await db.jobs.status()
            ]
            errors = [
                [str(job.job_id), job.kind, str(job.attempts), (job.last_error or "")[:100]]
                for job in (await db.jobs.failed(limit=failed) if failed else [])
            ]
        return counts, errors

    with reported("jobs status", settings):
        counts, errors = asyncio.run(collect())
    table = Table("kind", "due", "scheduled", "running", "failed", title="jobs")
    for row in counts:
        table.add_row(*row)
    console.print(table if counts else "no unfinished jobs")
    if errors:
        failures = Table("job_id", "kind", "attempts", "last error", title="latest failures")
        for row in errors:
            failures.add_row(*row)
        console.print(failures)


@jobs_app.command("retry")
def retry(
    job_id: Annotated[int, typer.Argument(help="The failed job's id (see `guildbase jobs status`).")],
    attempts: Annotated[
        int | None, typer.Option(min=1, max=100, help="Further attempts (default: the budget).")
    ] = None,
) -> None:
    """Run a failed job again now."""
    settings = load_settings()

    async def go() -> str:
        async with Database(settings) as db:
            job = await db.jobs.retry(job_id, attempts=attempts)
        return f"job {job.job_id} ({job.kind}) is pending again, up to {job.max_attempts - job.attempts} more attempts"

    with reported("jobs retry", settings):
        console.print(asyncio.run(go()))
