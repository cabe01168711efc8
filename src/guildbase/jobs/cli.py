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
from guildbase.jobs.premium import register_premium
from guildbase.jobs.registry import JobRegistry
from guildbase.jobs.runner import JobRunner
from guildbase.metrics import RuntimeMetrics

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
    # Signals first: a SIGTERM while the handlers load or the pools connect is a clean stop too.
    stop_requested = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop_requested.set)
    registry = JobRegistry()
    register_maintenance(registry)
    register_premium(registry)  # a downgrade happens whether or not a bot is running
    for registrar in registrars:
        registrar(registry)
    async with Database(settings) as db:
        if stop_requested.is_set():
            return
        runner = JobRunner(db, registry, worker=worker)
        metrics = RuntimeMetrics(db, role="jobs")  # /metrics on GUILDBASE_METRICS_PORT, samples; off by default
        await metrics.start()
        stopper = asyncio.create_task(_stop_when(stop_requested, runner))
        try:
            await runner.run()
        finally:
            stopper.cancel()
            await metrics.stop()


async def _stop_when(requested: asyncio.Event, runner: JobRunner) -> None:
    await requested.wait()
    runner.stop()


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
    handlers: Annotated[
        list[str] | None,
        typer.Option(
            "--handlers",
            help="module:function registering the bot's handlers (repeatable); kinds none of them handle are flagged.",
        ),
    ] = None,
) -> None:
    """Due, scheduled, running and failed jobs per kind, and the latest failures.

    With --handlers, every kind with unfinished jobs that no registrar handles
    is flagged, and the command exits 1: those jobs would wait forever.
    """
    settings = load_settings()

    registry = _registry(handlers) if handlers else None

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
    table, unhandled = _counts_table(counts, registry)
    console.print(table if counts else "no unfinished jobs")
    if errors:
        failures = Table("job_id", "kind", "attempts", "last error", title="latest failures")
        for row in errors:
            failures.add_row(*row)
        console.print(failures)
    if unhandled:
        console.print(
            f"[bold red]no handler for {', '.join(unhandled)}: these jobs wait until a worker registers one[/bold red]"
        )
        raise typer.Exit(1)


def _registry(paths: list[str]) -> JobRegistry:
    """The registry a worker started with these ``--handlers`` would run (maintenance included)."""
    registry = JobRegistry()
    register_maintenance(registry)
    register_premium(registry)  # a downgrade happens whether or not a bot is running
    for path in paths:
        load_registrar(path)(registry)
    return registry


def _counts_table(counts: list[list[str]], registry: JobRegistry | None) -> tuple[Table, list[str]]:
    """The per-kind table, and the kinds with due, scheduled or running jobs that ``registry`` cannot handle."""
    columns = ["kind", "due", "scheduled", "running", "failed"] + (["handler"] if registry else [])
    table = Table(*columns, title="jobs")
    unhandled: list[str] = []
    for row in counts:
        if registry is None:
            table.add_row(*row)
            continue
        handled = registry.get(row[0]) is not None
        if not handled and any(int(count) for count in row[1:4]):
            unhandled.append(row[0])
        table.add_row(*row, "yes" if handled else "[bold red]NONE[/bold red]")
    return table, unhandled


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
