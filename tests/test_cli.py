import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy.engine import URL
from typer.testing import CliRunner

from guildbase.cli import app
from guildbase.testing import create_database, drop_database


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
