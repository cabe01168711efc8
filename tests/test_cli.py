import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from cryptography.fernet import Fernet
from sqlalchemy.engine import URL
from typer.testing import CliRunner

from guildbase.cli import app
from guildbase.cli_support import reported
from guildbase.db.context import AuditSource, current_correlation, current_source
from guildbase.db.embedded import USERADD_FALLBACKS, closed_parents, find_useradd
from guildbase.testing import create_database, drop_database, ids, libpq


@pytest.fixture
def demo_database(server_url: URL) -> Iterator[URL]:
    url = create_database(server_url, prefix="guildbase_demo")
    yield url
    drop_database(url)


def test_demo_migrates_seeds_and_summarizes(demo_database: URL, redis_url: str | None) -> None:
    env = os.environ | {"GUILDBASE_DATABASE_URL": demo_database.render_as_string(hide_password=False)}
    if redis_url:
        env["GUILDBASE_REDIS_URL"] = redis_url
    args = [sys.executable, "-m", "guildbase.cli", "demo", "--guilds", "2", "--members", "5"]
    for _ in range(2):  # a second run upserts instead of failing or duplicating
        result = subprocess.run(args, env=env, capture_output=True, text=True, check=False, timeout=300)  # noqa: S603
        assert result.returncode == 0, result.stdout + result.stderr
    assert "What is stored now" in result.stdout
    assert "Durable jobs queued" in result.stdout
    rows = dict(re.findall(r"│ (\w+)\s+│\s+(\d+) │", result.stdout))
    assert rows["guild"] == "2"
    assert rows["guild_config"] == "2"
    assert rows["member"] == "10"
    for engagement_table in ["member_level", "afk", "starboard_entry", "reminder", "bookmark"]:
        assert int(rows[engagement_table]) > 0, engagement_table
    assert "XP leaderboard" in result.stdout
    assert "connect with" in result.stdout


def test_keys_new_prints_a_usable_fernet_key() -> None:
    result = CliRunner().invoke(app, ["keys", "new"])
    assert result.exit_code == 0
    Fernet(result.stdout.strip().encode())


def test_bad_setting_stops_the_cli_with_the_variable_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GUILDBASE_POOL_SIZE", "many")
    result = CliRunner().invoke(app, ["db", "current"])
    assert result.exit_code == 2
    assert "GUILDBASE_POOL_SIZE" in result.stdout


def test_readme_opens_with_the_two_commands_and_ci_runs_the_same_test_command(project_root: Path) -> None:
    readme = (project_root / "README.md").read_text()
    first_block = readme.split("```")[1]
    lines = [line for line in first_block.splitlines()[1:] if line.strip()]
    assert len(lines) == 2
    demo_command, test_command = lines
    assert "guildbase demo" in demo_command
    assert "pytest" in test_command
    assert test_command in (project_root / ".ci" / "run").read_text()


def test_schema_docs_are_generated_from_the_current_models(project_root: Path) -> None:
    from guildbase.models import metadata  # noqa: PLC0415
    from guildbase.schema_docs import render  # noqa: PLC0415

    rendered = render()
    for table in metadata.tables:
        assert f"## `{table}`" in rendered
    committed = (project_root / "docs" / "schema.md").read_text()
    assert committed == rendered, "docs/schema.md is stale: run `uv run guildbase db docs`"


UNREACHABLE = "postgresql://guildbase@127.0.0.1:1/guildbase"


@pytest.mark.parametrize("args", [["db", "current"], ["db", "upgrade"], ["jobs", "status"], ["demo"]])
def test_an_unreachable_database_gives_one_line_that_says_what_to_do(
    args: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GUILDBASE_DATABASE_URL", UNREACHABLE)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.stdout
    assert "cannot reach PostgreSQL at postgresql://guildbase@127.0.0.1:1/guildbase" in lines[0]
    assert "GUILDBASE_DATABASE_URL" in lines[0]
    assert "Traceback" not in result.output


def _cli(url: URL, *args: str) -> subprocess.CompletedProcess[str]:
    """``guildbase ARGS`` in a fresh process, so logging starts unconfigured as it does for a user."""
    env = os.environ | {"GUILDBASE_DATABASE_URL": url.render_as_string(hide_password=False)}
    command = [sys.executable, "-m", "guildbase.cli", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, check=False, timeout=120)  # noqa: S603


def test_db_downgrade_takes_a_relative_revision_and_alembic_chatter_needs_verbose(demo_database: URL) -> None:
    upgraded = _cli(demo_database, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert "Running upgrade" in upgraded.stderr
    assert "Context impl" not in upgraded.stderr
    assert "Will assume" not in upgraded.stderr
    heads = _cli(demo_database, "db", "current").stdout
    down = _cli(demo_database, "db", "downgrade", "-1")
    assert down.returncode == 0, down.stdout + down.stderr
    assert "Running downgrade" in down.stderr
    after = _cli(demo_database, "db", "current").stdout
    assert after != heads
    verbose = _cli(demo_database, "--verbose", "db", "upgrade", "+1")
    assert verbose.returncode == 0, verbose.stdout + verbose.stderr
    assert "Context impl PostgresqlImpl" in verbose.stderr
    assert _cli(demo_database, "db", "current").stdout == heads


def test_jobs_cli_loads_without_the_top_level_cli() -> None:
    code = "import sys, guildbase.jobs.cli; sys.exit('guildbase.cli' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60)  # noqa: S603
    assert result.returncode == 0, result.stderr or "guildbase.jobs.cli imported guildbase.cli"


def _demo(url: URL, redis_url: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"GUILDBASE_DATABASE_URL": url.render_as_string(hide_password=False)}
    if redis_url:
        env["GUILDBASE_REDIS_URL"] = redis_url
    command = [sys.executable, "-m", "guildbase.cli", "demo", "--guilds", "1", "--members", "2", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, check=False, timeout=300)  # noqa: S603


def _scalar(url: URL, query: str) -> object:
    with psycopg.connect(libpq(url)) as connection:
        row = connection.execute(query).fetchone()
    return None if row is None else row[0]


def test_demo_refuses_a_database_with_other_tables_and_writes_nothing(
    demo_database: URL, redis_url: str | None
) -> None:
    with psycopg.connect(libpq(demo_database), autocommit=True) as connection:
        connection.execute("CREATE TABLE orders (id int); INSERT INTO orders VALUES (1)")
    refused = _demo(demo_database, redis_url)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "table public.orders" in refused.stdout
    assert "--yes" in refused.stdout
    assert _scalar(demo_database, "SELECT to_regclass('alembic_version')::text") is None  # not even migrated


BLOCK = ids.block()  # this module's IDs: fixed offsets from a clock-derived base


def test_demo_refuses_real_guilds_unless_yes_and_then_keeps_them(demo_database: URL, redis_url: str | None) -> None:
    first = _demo(demo_database, redis_url)
    assert first.returncode == 0, first.stdout + first.stderr
    again = _demo(demo_database, redis_url)  # only demo data: re-running needs no --yes
    assert again.returncode == 0, again.stdout + again.stderr
    real_guild = BLOCK
    with psycopg.connect(libpq(demo_database), autocommit=True) as connection:
        connection.execute("INSERT INTO guild (guild_id, name) VALUES (%s, 'A real server')", [real_guild])
    refused = _demo(demo_database, redis_url)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "1 guild(s) that are not demo guilds" in refused.stdout
    assert "--yes" in refused.stdout
    assert _scalar(demo_database, "SELECT count(*) FROM guild") == 2
    forced = _demo(demo_database, redis_url, "--yes")
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert _scalar(demo_database, f"SELECT name FROM guild WHERE guild_id = {real_guild}") == "A real server"


def test_useradd_is_found_in_sbin_when_path_lacks_it() -> None:
    if not any(os.access(candidate, os.X_OK) for candidate in USERADD_FALLBACKS):
        pytest.skip("no useradd on this machine")
    found = find_useradd(path="/bin:/usr/bin")
    assert found in USERADD_FALLBACKS


def test_closed_parents_names_the_folders_the_server_user_could_not_enter(tmp_path: Path) -> None:
    private = tmp_path / "home"
    data = private / "project" / ".guildbase" / "pgdata"
    data.mkdir(parents=True)
    private.chmod(0o700)
    (private / "project").chmod(0o755)
    try:
        closed = closed_parents(data)
    finally:
        private.chmod(0o755)
    assert private in closed
    assert private / "project" not in closed


def test_every_cli_command_audits_its_writes_as_the_cli_under_one_correlation_id() -> None:
    with reported("demo"):
        correlation = current_correlation()
        assert (current_source(), correlation is not None) == (AuditSource.CLI, True)
    with reported("demo"):
        assert current_correlation() != correlation
    assert (current_source(), current_correlation()) == (None, None)
