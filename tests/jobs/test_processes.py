"""Real worker processes (``guildbase jobs run``) sharing one queue: exactly once, and nothing lost to SIGKILL."""

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from guildbase import Database, Settings
from guildbase.db.types import make_snowflake, utcnow
from guildbase.jobs.handlers import MAINTENANCE_KINDS
from guildbase.models.moderation import CaseType

MakeDatabase = Callable[..., Awaitable[Database]]
"""The ``jobs_db`` fixture (tests/jobs/conftest.py)."""

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent
GENERIC = "test.generic"
SINCE = utcnow() - timedelta(days=200)
MOD = make_snowflake(SINCE, 1)
GUILDS = [make_snowflake(SINCE, 10 + n) for n in range(8)]
MIX = {"generic": 400, "reminder": 400, "TEMPBAN": 300, "TIMEOUT": 200, "JAIL": 200, "afk": 500}
CASE_KINDS = {"TEMPBAN": "tempban_expiry", "TIMEOUT": "timeout_expiry", "JAIL": "jail_expiry"}
CLOSING = {"TEMPBAN": CaseType.UNTEMPBAN, "TIMEOUT": CaseType.UNTIMEOUT, "JAIL": CaseType.UNJAIL}


def spawn(settings: Settings, calls: Path, *, mode: str = "normal", **jobs: object) -> subprocess.Popen[bytes]:
    """A ``guildbase jobs run`` worker process with the test handlers."""
    assert settings.database_url is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUILDBASE_")}
    env |= {
        "GUILDBASE_DATABASE_URL": settings.database_url,
        "GUILDBASE_LOG_LEVEL": "WARNING",
        "JOBS_TEST_CALLS_DIR": str(calls),
        "JOBS_TEST_MODE": mode,
        "PYTHONPATH": os.pathsep.join([str(HERE), *filter(None, [os.environ.get("PYTHONPATH")])]),
    }
    if settings.redis_url:
        env["GUILDBASE_REDIS_URL"] = settings.redis_url
    # The test server is shared: a worker gets a small pool and waits for it rather than overflow it.
    env |= {"GUILDBASE_POOL_SIZE": "4", "GUILDBASE_POOL_MAX_OVERFLOW": "0"}
    env |= {f"GUILDBASE_JOBS_{name.upper()}": str(value) for name, value in jobs.items()}
    return subprocess.Popen(
        [sys.executable, "-m", "guildbase.cli", "jobs", "run", "--handlers", "worker:register"],
        env=env,
        stderr=subprocess.PIPE,
    )


@contextmanager
def workers(*processes: subprocess.Popen[bytes]) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Stop every worker still alive on the way out (a failing test leaves no orphans)."""
    alive = list(processes)  # the test extends this list; every process in it is stopped
    try:
        yield alive
    finally:
        for process in alive:
            if process.poll() is None:
                process.kill()
                process.wait()


def stop(process: subprocess.Popen[bytes], calls: Path) -> None:
    """SIGTERM (graceful shutdown) once the worker can take it, and expect a clean exit."""
    ready = calls / f"ready-{process.pid}"
    for _ in range(600):  # a worker on a loaded machine may still be importing
        if ready.exists() or process.poll() is not None:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr.decode()


def read_calls(calls: Path) -> list[tuple[str, str, int, int]]:
    rows = []
    for path in calls.glob("calls-*.log"):
        for line in path.read_text().splitlines():
            kind, ref, attempt, pid = line.split()
            rows.append((kind, ref, int(attempt), int(pid)))
    return rows


@asynccontextmanager
async def effect_table(db: Database) -> AsyncIterator[None]:
    """``test_job_effect``: deliberately no unique key, so a duplicate effect is counted, not refused."""
    async with db.engine.begin() as connection:
        await connection.execute(text("CREATE TABLE test_job_effect (job_id bigint NOT NULL, pid int NOT NULL)"))
    try:
        yield
    finally:
        async with db.engine.begin() as connection:
            await connection.execute(text("DROP TABLE test_job_effect"))


async def scalar(db: Database, sql: str) -> int:
    async with db.engine.connect() as connection:
        return int((await connection.execute(text(sql))).scalar_one())


MAINTENANCE = ", ".join(f"'{kind}'" for kind in MAINTENANCE_KINDS)
"""The recurring maintenance kinds (their next run is always pending), as a SQL list."""


async def wait_until(db: Database, sql: str, *, within: float) -> None:
    """Poll ``sql`` (a boolean query) until true; fail after ``within`` seconds."""
    deadline = asyncio.get_running_loop().time() + within
    while not await scalar(db, f"SELECT ({sql})::int"):
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"not reached within {within}s: {sql}")
        await asyncio.sleep(0.2)


DUE_IN_SECONDS = 5


async def create_mixed_items(db: Database) -> set[tuple[str, str]]:
    """2,000 items of six kinds, each due seconds after it is created; returns (kind, ref) of each.

    The margin is wide enough that an item is still in the future when its create call checks it, even on a
    loaded machine (reminders refuse a time already past).
    """
    for guild_id in GUILDS:
        await db.guilds.join(guild_id)
    gate = asyncio.Semaphore(10)
    expected: set[tuple[str, str]] = set()
    counter = iter(range(1, 10**6))

    async def make(what: str) -> None:
        n = next(counter)
        guild_id, user_id = GUILDS[n % len(GUILDS)], make_snowflake(SINCE, 1000 + n)
        async with gate:
            due = utcnow() + timedelta(seconds=DUE_IN_SECONDS)
            if what == "generic":
                job = await db.jobs.enqueue(GENERIC, run_at=due)
                expected.add((GENERIC, str(job.job_id)))
            elif what == "reminder":
                reminder = await db.reminders.create(user_id, content=f"r{n}", remind_at=due, guild_id=guild_id)
                expected.add(("reminder_delivery", str(reminder.reminder_id)))
            elif what == "afk":
                await db.afk.set(guild_id, user_id, until=due)
                expected.add(("afk_expiry", f"{guild_id}:{user_id}"))
            else:
                case = await db.cases.create(guild_id, user_id, MOD, what, expires_at=due, role_ids=[MOD])
                expected.add((CASE_KINDS[what], str(case.case_id)))

    await asyncio.gather(*(make(what) for what, count in MIX.items() for _ in range(count)))
    return expected


async def test_four_workers_handle_2000_mixed_items_exactly_once(
    jobs_db: MakeDatabase, settings: Settings, tmp_path: Path
) -> None:
    db = await jobs_db(pool_size=5, pool_max_overflow=5)
    fast = {"poll_interval_seconds": 0.5, "lease_seconds": 30, "concurrency": 25, "batch_size": 25}
    async with effect_table(db):
        with workers(*(spawn(settings, tmp_path, **fast) for _ in range(4))) as processes:
            expected = await create_mixed_items(db)
            assert len(expected) == sum(MIX.values())
            await wait_until(
                db,
                f"NOT EXISTS (SELECT 1 FROM job WHERE status <> 'done' AND kind NOT IN ({MAINTENANCE})) "
                f"AND (SELECT count(*) FROM afk) = 0 AND (SELECT count(*) FROM test_job_effect) >= {MIX['generic']}",
                within=45,
            )
            for process in processes:
                stop(process, tmp_path)
        calls = read_calls(tmp_path)
        per_item = Counter((kind, ref) for kind, ref, _, _ in calls)
        duplicates = {item: n for item, n in per_item.items() if n > 1}
        effects = await scalar(db, "SELECT count(*) FROM test_job_effect")
        distinct_effects = await scalar(db, "SELECT count(DISTINCT job_id) FROM test_job_effect")

    assert duplicates == {}
    assert set(per_item) == expected, "every item handled, none missing, nothing extra"
    assert len({pid for *_, pid in calls}) == 4, "all four workers took part"
    assert effects == distinct_effects == MIX["generic"]
    for case_type, closing in CLOSING.items():
        closed = await scalar(db, f"SELECT count(*) FROM mod_case WHERE type = '{closing.value}'")
        expired = await scalar(db, f"SELECT count(*) FROM mod_case WHERE type = '{case_type}' AND status = 'expired'")
        assert closed == expired == MIX[case_type]
    assert await scalar(db, "SELECT count(*) FROM reminder WHERE status = 'sent' AND attempts = 1") == MIX["reminder"]


async def test_a_worker_killed_mid_batch_loses_nothing_and_nothing_runs_twice(
    jobs_db: MakeDatabase, settings: Settings, tmp_path: Path
) -> None:
    db = await jobs_db(pool_size=5, pool_max_overflow=0)
    batch, total = 20, 100
    fast = {"poll_interval_seconds": 0.2, "lease_seconds": 1.5, "concurrency": batch, "batch_size": batch}
    async with effect_table(db):
        for _ in range(total):
            await db.jobs.enqueue(GENERIC)
        victim = spawn(settings, tmp_path, mode="hang", **fast)
        with workers(victim) as processes:
            await wait_until_calls(tmp_path, victim.pid, batch)
            healthy = [spawn(settings, tmp_path, **fast) for _ in range(2)]
            processes.extend(healthy)
            victim.send_signal(signal.SIGKILL)
            victim.wait()
            await wait_until(
                db, f"(SELECT count(*) FROM job WHERE kind = '{GENERIC}' AND status = 'done') = {total}", within=30
            )
            for process in healthy:
                stop(process, tmp_path)
        with suppress(subprocess.TimeoutExpired):
            victim.communicate(timeout=1)
        calls = read_calls(tmp_path)
        taken_by_victim = {int(ref) for _, ref, _, pid in calls if pid == victim.pid}
        async with db.engine.connect() as connection:
            rows = await connection.execute(text("SELECT job_id, pid FROM test_job_effect"))
            effects = Counter((job_id, pid) for job_id, pid in rows)
            attempts = dict(
                (await connection.execute(text(f"SELECT job_id, attempts FROM job WHERE kind = '{GENERIC}'"))).all()
            )

    completed = Counter(job_id for job_id, _ in effects.elements())
    assert len(taken_by_victim) == batch
    assert set(completed) == set(attempts), "every job completed"
    assert set(completed.values()) == {1}, "each exactly once"
    assert not any(pid == victim.pid for _, pid in effects), "the killed worker committed nothing"
    assert {attempts[job_id] for job_id in taken_by_victim} == {2}, "retaken after the lease, as attempt 2"


async def wait_until_calls(calls: Path, pid: int, count: int, within: float = 20) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while sum(1 for *_, p in read_calls(calls) if p == pid) < count:
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"worker {pid} did not start {count} jobs within {within}s")
        await asyncio.sleep(0.1)
