"""4 bot processes on one PostgreSQL through PgBouncer (transaction mode) and one Redis Cluster lose nothing.

Four real OS processes (``w6_process.py``) run W6's mixed message path with
the writes beside it: XP awards, command-log rows, warning cases, stars,
sharing guilds, case counters, star counts, caches and rate limits. A single
process then runs the same operations on a second set of guilds. Both runs
must agree row for row, and each must hold exactly the operations it ran:
no XP, case, star or command-log row lost or written twice.

PgBouncer runs with 3 server connections for the 4 processes, so transactions
of different processes take turns on the same server connections.
"""

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import w6_process as w6
from sqlalchemy import text
from sqlalchemy.engine import URL

from guildbase import Database, Settings
from guildbase.models.core import Feature
from guildbase.testing import ids, shifted_noon, truncate_all

pytestmark = pytest.mark.slow
WORKER = Path(__file__).with_name("w6_process.py")
OPS = 120
PROCESSES = 4
BLOCK = ids.block()
FIRST = {"many": BLOCK + 1, "one": BLOCK + 101}
BINARY = shutil.which("pgbouncer") or ("/usr/sbin/pgbouncer" if Path("/usr/sbin/pgbouncer").exists() else None)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def bouncer_url(database_url: URL) -> Iterator[URL]:
    """A PgBouncer in transaction mode with 3 server connections in front of the suite's database."""
    if BINARY is None:
        pytest.fail("pgbouncer is not installed (Debian: apt-get install pgbouncer; .ci/run does it)", pytrace=False)
    with tempfile.TemporaryDirectory(prefix="guildbase-pgbouncer-") as directory:
        home = Path(directory)
        home.chmod(0o755)  # PgBouncer run as root switches to postgres, who must read its files
        port, user = _free_port(), database_url.username or "postgres"
        (home / "users.txt").write_text(f'"{user}" ""\n')
        (home / "pgbouncer.ini").write_text(
            f"[databases]\n* = host={database_url.host or '127.0.0.1'} port={database_url.port or 5432}\n"
            f"[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\nauth_type = trust\n"
            f"auth_file = {home / 'users.txt'}\npool_mode = transaction\ndefault_pool_size = 3\nmax_client_conn = 200\n"
        )
        command = [BINARY, *(["-u", "postgres"] if os.geteuid() == 0 else []), str(home / "pgbouncer.ini")]
        with (home / "stderr.txt").open("wb") as errors:
            process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=errors)  # noqa: S603
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        pytest.fail(f"pgbouncer did not start: {(home / 'stderr.txt').read_text()}")
                    time.sleep(0.05)
            yield database_url.set(host="127.0.0.1", port=port)
        finally:
            process.terminate()
            process.wait(timeout=10)


async def _seed(db: Database, first: int) -> None:
    for guild_id in range(first, first + w6.GUILDS):
        await db.guilds.join(guild_id)
        await db.guild_config.set_feature(guild_id, Feature.STARBOARD, enabled=True)
        await db.starboard.configure(guild_id, channel_id=w6.CHANNEL, threshold=1)


async def _run(processes: int, first: int, env: dict[str, str]) -> list[dict[str, int]]:
    start = shifted_noon().isoformat()
    spawned = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            str(WORKER),
            *(str(n), str(processes), str(OPS), str(first), start),
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for n in range(processes)
    ]
    outputs = [await process.communicate() for process in spawned]
    for process, (_, stderr) in zip(spawned, outputs, strict=True):
        assert process.returncode == 0, stderr.decode()[-3000:]
    return [json.loads(stdout.decode().strip().splitlines()[-1]) for stdout, _ in outputs]


async def _outcome(db: Database, first: int) -> dict[str, Any]:
    """Everything the run wrote, with guild IDs made relative to the run's first guild."""
    scope = {"first": first, "last": first + w6.GUILDS - 1}
    queries = {
        "xp": "SELECT guild_id - :first, user_id, xp, message_count FROM member_level "
        "WHERE guild_id BETWEEN :first AND :last ORDER BY 1, 2",
        "cases": "SELECT guild_id - :first, number, user_id, reason FROM mod_case "
        "WHERE guild_id BETWEEN :first AND :last ORDER BY 1, 2",
        "stars": "SELECT guild_id - :first, message_id, user_id FROM starboard_star "
        "WHERE guild_id BETWEEN :first AND :last ORDER BY 1, 2, 3",
        "star_counts": "SELECT guild_id - :first, message_id, star_count FROM starboard_entry "
        "WHERE guild_id BETWEEN :first AND :last ORDER BY 1, 2",
        "commands": "SELECT guild_id - :first, user_id, (params->>'op')::int FROM command_log "
        "WHERE guild_id BETWEEN :first AND :last ORDER BY 3",
    }
    async with db.session() as session:
        return {name: [tuple(row) for row in await session.execute(text(sql), scope)] for name, sql in queries.items()}


async def test_four_processes_through_pgbouncer_and_a_redis_cluster_match_one_process(
    bouncer_url: URL, settings: Settings, database_url: URL, redis_cluster_url: str
) -> None:
    env = {
        **os.environ,
        "GUILDBASE_DATABASE_URL": bouncer_url.render_as_string(hide_password=False),
        "GUILDBASE_PGBOUNCER": "true",
        "GUILDBASE_REDIS_URL": redis_cluster_url,
        "GUILDBASE_POOL_SIZE": "4",
        "GUILDBASE_LOG_SPILL_DIR": str(Path(tempfile.gettempdir()) / f"guildbase-spill-{BLOCK}"),
    }
    db = await Database(settings.model_copy(update={"redis_url": redis_cluster_url})).connect()
    try:
        for first in FIRST.values():
            await _seed(db, first)
        many = await _run(PROCESSES, FIRST["many"], env)
        one = await _run(1, FIRST["one"], env)
        assert all(report["commands"] > 0 for report in many)  # every process did its share
        outcomes = {name: await _outcome(db, first) for name, first in FIRST.items()}
    finally:
        await db.close()
        await asyncio.to_thread(truncate_all, database_url)
    for name, reports in (("many", many), ("one", one)):
        done = {field: sum(report[field] for report in reports) for field in reports[0]}
        outcome = outcomes[name]
        assert [op for *_, op in outcome["commands"]] == list(range(OPS)), name  # each command logged once
        assert done["commands"] == OPS
        assert sum(xp for *_, xp, _ in outcome["xp"]) == done["xp"] > 0, name  # no award lost or counted twice
        assert sum(count for *_, count in outcome["xp"]) == OPS
        assert len(outcome["cases"]) == done["cases"] == len(range(0, OPS, 5)), name
        for guild in range(w6.GUILDS):  # numbered 1..n per guild: no number skipped or used twice
            numbers = [number for g, number, *_ in outcome["cases"] if g == guild]
            assert numbers == list(range(1, len(numbers) + 1)), (name, guild)
        assert len(outcome["stars"]) == done["stars"] > 0, name
        assert sum(count for *_, count in outcome["star_counts"]) == done["stars"], name
    many_outcome, one_outcome = outcomes["many"], outcomes["one"]
    assert many_outcome["xp"] == one_outcome["xp"]
    assert many_outcome["stars"] == one_outcome["stars"]
    assert many_outcome["star_counts"] == one_outcome["star_counts"]
    assert many_outcome["commands"] == one_outcome["commands"]
    assert sorted(c[2:] for c in many_outcome["cases"]) == sorted(c[2:] for c in one_outcome["cases"])
