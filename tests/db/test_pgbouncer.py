"""The hot paths through a real PgBouncer in transaction pooling mode (``GUILDBASE_PGBOUNCER=true``).

PgBouncer hands each transaction to whichever server connection is free, so a
named prepared statement made on one server connection is missing on the
next, and startup parameters it does not track are refused. Three server
connections shared by many concurrent client operations make both show up
at once if guildbase relied on either.

The test starts its own PgBouncer (Debian's ``pgbouncer`` package; ``.ci/run``
installs it) in front of the suite's PostgreSQL. Outside CI, a machine
without it skips this module, saying so.
"""

import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from guildbase import Database, Settings
from guildbase.testing import ids, shifted_noon, truncate_all

BLOCK = ids.block()  # this module's IDs: fixed offsets from a clock-derived base
GUILD = BLOCK + 1
CHANNEL = BLOCK + 301
USER = BLOCK + 100_000
NOW = shifted_noon()
pytestmark = pytest.mark.clock  # run again with the clock a year ahead (.ci/run)
BINARY = shutil.which("pgbouncer") or ("/usr/sbin/pgbouncer" if Path("/usr/sbin/pgbouncer").exists() else None)

if BINARY is None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail("CI=true but pgbouncer is not installed (.ci/run installs Debian's pgbouncer)", pytrace=False)
    pytest.skip("pgbouncer is not installed on this machine (apt-get install pgbouncer)", allow_module_level=True)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def bouncer_url(database_url: URL) -> Iterator[URL]:
    """A PgBouncer (transaction mode, 3 server connections) in front of the suite's database."""
    assert BINARY is not None
    with tempfile.TemporaryDirectory(prefix="guildbase-pgbouncer-") as directory:
        yield from _run_pgbouncer(BINARY, Path(directory), database_url)


def _run_pgbouncer(binary: str, home: Path, database_url: URL) -> Iterator[URL]:
    # Run as root, PgBouncer must switch to another user (-u postgres), who has
    # to read this directory: pytest's own tmp_path is private to root.
    home.chmod(0o755)
    port = _free_port()
    user = database_url.username or "postgres"
    (home / "users.txt").write_text(f'"{user}" ""\n')
    (home / "pgbouncer.ini").write_text(
        f"""[databases]
* = host={database_url.host or "127.0.0.1"} port={database_url.port or 5432}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {home / "users.txt"}
pool_mode = transaction
default_pool_size = 3
max_client_conn = 100
"""
    )
    command = [binary, *(["-u", "postgres"] if os.geteuid() == 0 else []), str(home / "pgbouncer.ini")]
    stderr = home / "stderr.txt"
    with stderr.open("wb") as errors:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=errors)  # noqa: S603
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"pgbouncer did not start: {stderr.read_text()}")
                time.sleep(0.05)
        yield database_url.set(host="127.0.0.1", port=port)
    finally:
        process.terminate()
        process.wait(timeout=10)


async def test_every_hot_path_works_through_pgbouncer_under_concurrency(
    bouncer_url: URL, settings: Settings, database_url: URL
) -> None:
    through = settings.model_copy(
        update={
            "database_url": bouncer_url.render_as_string(hide_password=False),
            "pgbouncer": True,
            "statement_timeout_ms": 30_000,  # would be refused as a startup parameter if it were sent
            "pool_size": 10,
        }
    )
    database = await Database(through).connect()
    try:
        await database.guilds.join(GUILD)
        for n in range(3):
            await database.afk.set(GUILD, USER + n, reason="away")

        async def one_message(n: int) -> tuple[object, ...]:
            config = await database.guild_config.get(GUILD)
            away = await database.afk.get_many(GUILD, [USER + n % 5, USER + 1])
            banned = await database.blacklist.is_blacklisted("user", USER + n)
            award = await database.levels.award_message_xp(
                GUILD, USER + n, CHANNEL, [], NOW + timedelta(minutes=n), roll=0.0
            )
            case = await database.cases.create(GUILD, USER + n, USER, "WARN", reason=f"#{n}")
            overview = await database.cases.overview(GUILD, USER + n)
            await database.logs.record_command(USER + n, "ping", guild_id=GUILD)
            return config.prefix, bool(away), banned, award.awarded_xp, case.number, len(overview.cases)

        outcomes = await asyncio.gather(*(one_message(n) for n in range(60)))
        # The writer may have flushed some rows in the background already: count what
        # reached the table, not which flush wrote it.
        await database.logs.flush()
        logged = await database.logs.recent_commands(guild_id=GUILD, limit=100)
        assert sorted(row.user_id for row in logged) == [USER + n for n in range(60)]
        assert sorted(number for *_, number, _ in outcomes) == list(range(1, 61))  # no gap, no duplicate
        assert {(prefix, banned, xp, seen) for prefix, _, banned, xp, _, seen in outcomes} == {("$", False, 15, 1)}
        assert all(away for _, away, *_ in outcomes)  # USER + 1 is always asked for, and is AFK
        # The ORM paths too: a multi-statement unit of work and a locked read-modify-write.
        assert (await database.members.ensure(GUILD, USER)).user_id == USER
        assert await database.guild_config.add_prefix(GUILD, "!") == ["$", "!"]
    finally:
        await database.close()
        await asyncio.to_thread(truncate_all, database_url)
