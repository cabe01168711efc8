"""The migration chain is reviewed code: it must go up, match the models, and come back down."""

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from alembic import command
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy.engine import URL

from guildbase.db.migrations import MIGRATIONS_DIR, alembic_config, head_revisions
from guildbase.testing import create_database, drop_database, libpq


@pytest.fixture
def empty_database(server_url: URL) -> Iterator[URL]:
    url = create_database(server_url, prefix="guildbase_migrations")
    yield url
    drop_database(url)


def _cli(url: URL, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"GUILDBASE_DATABASE_URL": url.render_as_string(hide_password=False)}
    return subprocess.run(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "guildbase.cli", "db", *args], env=env, capture_output=True, text=True, check=False
    )


def _public_tables_and_enums(url: URL) -> tuple[set[str], set[str]]:
    with psycopg.connect(libpq(url)) as connection:
        tables = {row[0] for row in connection.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        enums = {
            row[0]
            for row in connection.execute(
                "SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
                "WHERE t.typtype = 'e' AND n.nspname = 'public'"
            )
        }
    return tables, enums


def test_round_trip_empty_to_head_no_drift_to_base_and_back(empty_database: URL) -> None:
    upgraded = _cli(empty_database, "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    checked = _cli(empty_database, "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "no drift" in checked.stdout
    tables, enums = _public_tables_and_enums(empty_database)
    assert {"guild", "guild_config", "member", "alembic_version"} <= tables
    assert "guild_feature_name" in enums

    downgraded = _cli(empty_database, "downgrade", "base")
    assert downgraded.returncode == 0, downgraded.stderr
    assert _public_tables_and_enums(empty_database) == ({"alembic_version"}, set())

    again = _cli(empty_database, "upgrade", "head")
    assert again.returncode == 0, again.stderr
    current = _cli(empty_database, "current")
    assert all(head in current.stdout for head in head_revisions())


def test_check_exits_non_zero_on_drift(empty_database: URL) -> None:
    assert _cli(empty_database, "upgrade").returncode == 0
    with psycopg.connect(libpq(empty_database), autocommit=True) as connection:
        connection.execute("ALTER TABLE guild ADD COLUMN surprise integer")
    drifted = _cli(empty_database, "check")
    assert drifted.returncode == 1
    assert "drift" in drifted.stdout


def test_every_revision_downgrades_one_step_at_a_time(empty_database: URL) -> None:
    config = alembic_config(empty_database)
    revisions = list(ScriptDirectory.from_config(config).walk_revisions())
    command.upgrade(config, "head")
    for _ in revisions:
        command.downgrade(config, "-1")
    assert _public_tables_and_enums(empty_database) == ({"alembic_version"}, set())


def test_a_failing_migration_leaves_the_schema_at_the_previous_revision(empty_database: URL, tmp_path: Path) -> None:
    scripts = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    (head,) = head_revisions()
    (scripts / "versions" / "9999_broken.py").write_text(
        f'''"""A migration that fails half-way."""
import sqlalchemy as sa
from alembic import op

revision = "9999"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("half_done", sa.Column("id", sa.Integer, primary_key=True))
    op.execute("SELECT * FROM no_such_table")


def downgrade() -> None:
    op.drop_table("half_done")
'''
    )
    config = alembic_config(empty_database)
    config.set_main_option("script_location", str(scripts))
    with pytest.raises(Exception, match="no_such_table"):
        command.upgrade(config, "head")
    tables, _ = _public_tables_and_enums(empty_database)
    assert "half_done" not in tables
    assert "guild" in tables
    with psycopg.connect(libpq(empty_database)) as connection:
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    assert row == (head,)
    with pytest.raises(CommandError):
        command.downgrade(config, "nonexistent")
