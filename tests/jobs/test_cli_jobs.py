"""``guildbase jobs status`` and ``guildbase jobs retry`` against a real database."""

import asyncio
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

from guildbase import Database, Settings
from guildbase.db.types import utcnow
from guildbase.models.jobs import JobStatus

MakeDatabase = Callable[..., Awaitable[Database]]
"""The ``jobs_db`` fixture (tests/jobs/conftest.py)."""


HERE = Path(__file__).parent


def cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    assert settings.database_url is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUILDBASE_")}
    env |= {"GUILDBASE_DATABASE_URL": settings.database_url, "COLUMNS": "200"}
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), *filter(None, [os.environ.get("PYTHONPATH")])])
    if settings.redis_url:
        env["GUILDBASE_REDIS_URL"] = settings.redis_url
    return subprocess.run(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "guildbase.cli", "jobs", *args], env=env, capture_output=True, text=True, check=False
    )


async def test_status_shows_counts_per_kind_and_the_latest_failure(jobs_db: MakeDatabase, settings: Settings) -> None:
    db = await jobs_db()
    await db.jobs.enqueue("digest")
    await db.jobs.enqueue("digest", run_at=utcnow() + timedelta(hours=1))
    await db.jobs.enqueue("export", max_attempts=1)
    (job,) = (await db.jobs.claim(["export"], worker="w", limit=1, lease=timedelta(minutes=1))).jobs
    await db.jobs.fail(job, error="S3 said 403", retry_after=timedelta(0))

    shown = await asyncio.to_thread(cli, settings, "status")

    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert _row(lines, "digest") == ["digest", "1", "1", "0", "0"]
    assert _row(lines, "export") == ["export", "0", "0", "0", "1"]
    assert "S3 said 403" in shown.stdout
    assert str(job.job_id) in shown.stdout


async def test_status_with_the_bots_handlers_flags_kinds_nobody_handles_and_exits_1(
    jobs_db: MakeDatabase, settings: Settings
) -> None:
    db = await jobs_db()
    await db.jobs.enqueue("test.generic")
    await db.jobs.enqueue("ticket.autoclose", run_at=utcnow() + timedelta(hours=1))

    flagged = await asyncio.to_thread(cli, settings, "status", "--handlers", "worker:register")
    plain = await asyncio.to_thread(cli, settings, "status")

    assert flagged.returncode == 1, flagged.stdout + flagged.stderr
    lines = flagged.stdout.splitlines()
    assert _row(lines, "test.generic") == ["test.generic", "1", "0", "0", "0", "yes"]
    assert _row(lines, "ticket.autoclose") == ["ticket.autoclose", "0", "1", "0", "0", "NONE"]
    assert "no handler for ticket.autoclose" in flagged.stdout
    assert plain.returncode == 0, "without --handlers nothing is known about handlers"


async def test_retry_puts_a_failed_job_back_and_refuses_unknown_ones(jobs_db: MakeDatabase, settings: Settings) -> None:
    db = await jobs_db()
    queued = await db.jobs.enqueue("export", max_attempts=1)
    (job,) = (await db.jobs.claim(["export"], worker="w", limit=1, lease=timedelta(minutes=1))).jobs
    await db.jobs.fail(job, error="boom", retry_after=timedelta(0))

    retried = await asyncio.to_thread(cli, settings, "retry", str(queued.job_id), "--attempts", "2")
    missing = await asyncio.to_thread(cli, settings, "retry", "999999999")

    assert retried.returncode == 0, retried.stderr
    assert "pending again" in retried.stdout
    again = await db.jobs.get(queued.job_id)
    assert again is not None
    assert (again.status, again.max_attempts) == (JobStatus.PENDING, 3)
    assert missing.returncode == 1
    assert "does not exist" in missing.stdout


def _row(lines: list[str], kind: str) -> list[str]:
    for line in lines:
        cells = [cell.strip() for cell in line.replace("┃", "│").split("│")]
        cells = [cell for cell in cells if cell]
        if cells and cells[0] == kind:
            return cells
    return []
