"""Native enum changes go through ``guildbase db revision --autogenerate`` and come back down (R20.2-R20.4).

Each test works on a scratch database and a scratch copy of the migration
directory, with a throwaway table (``enum_probe``) and enum (``probe_colour``)
added to the models' metadata for the duration: the real models and the
shipped migrations are never touched. The CLI runs in process (its own
commands, the shipped ``env.py`` with its alembic-postgresql-enum settings);
after every step the test reads the labels PostgreSQL actually holds.
"""

import enum
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL
from typer.testing import CliRunner, Result

from guildbase.cli import app
from guildbase.db import migrations
from guildbase.db.types import pg_enum
from guildbase.models import metadata
from guildbase.testing import create_database, drop_database, libpq

ENUM = "probe_colour"


@pytest.fixture
def scratch(server_url: URL, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[URL, Path]]:
    """A migrated scratch database and the scratch migration directory the CLI now uses."""
    url = create_database(server_url, prefix="guildbase_enums")
    directory = tmp_path / "migrations"
    shutil.copytree(migrations.MIGRATIONS_DIR, directory, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(migrations, "MIGRATIONS_DIR", directory)
    monkeypatch.setenv("GUILDBASE_DATABASE_URL", url.render_as_string(hide_password=False))
    try:
        assert db("upgrade").exit_code == 0
        yield url, directory
    finally:
        _forget_probe()
        drop_database(url)


def db(*args: str) -> Result:
    """Run ``guildbase db ARGS`` in process; the result has exit_code, output and exception."""
    return CliRunner().invoke(app, ["db", *args])


def probe_model(*labels: str) -> None:
    """(Re)declare the throwaway model: ``enum_probe.colour`` of a native enum with ``labels``, in order."""
    _forget_probe()
    colour = enum.StrEnum("ProbeColour", {label.upper(): label for label in labels})  # type: ignore[misc]
    sa.Table(
        "enum_probe",
        metadata,
        sa.Column("probe_id", sa.Integer, primary_key=True),
        sa.Column("colour", pg_enum(colour, ENUM), nullable=False),
    )


def _forget_probe() -> None:
    if "enum_probe" in metadata.tables:
        metadata.remove(metadata.tables["enum_probe"])


def labels(url: URL) -> list[str]:
    """The labels of ``probe_colour`` as PostgreSQL holds them, in sort order ([] when the type is gone)."""
    with psycopg.connect(libpq(url)) as connection:
        rows = connection.execute(
            "SELECT e.enumlabel FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid "
            "WHERE t.typname = %s ORDER BY e.enumsortorder",
            (ENUM,),
        )
        return [row[0] for row in rows]


def sql(url: URL, statement: str) -> list[tuple[object, ...]]:
    with psycopg.connect(libpq(url), autocommit=True) as connection:
        cursor = connection.execute(statement)
        return cursor.fetchall() if cursor.description else []


def version(url: URL) -> str:
    (row,) = sql(url, "SELECT version_num FROM alembic_version")
    return str(row[0])


def autogenerate(directory: Path, message: str, edit: Callable[[str], str] | None = None) -> tuple[str, str]:
    """``guildbase db revision --autogenerate -m MESSAGE``; returns the new revision id and its script."""
    before = set((directory / "versions").glob("*.py"))
    result = db("revision", "--autogenerate", "-m", message)
    assert result.exit_code == 0, result.output
    (script,) = set((directory / "versions").glob("*.py")) - before
    text = script.read_text()
    if edit is not None:
        text = edit(text)
        script.write_text(text)
    match = re.search(r"^revision: str = ['\"](\w+)['\"]", text, re.MULTILINE)
    assert match is not None, text
    return match[1], text


def colours(url: URL) -> list[str]:
    return sorted(str(row[0]) for row in sql(url, "SELECT colour FROM enum_probe"))


def said(result: Result) -> str:
    return " ".join(result.output.split())  # the console wraps long lines


def rename(old: str, new: str) -> Callable[[str], str]:
    """The one hand edit a rename needs: tell both directions which label becomes which (data follows)."""

    def edit(script: str) -> str:
        assert script.count("enum_values_to_rename=[]") == 2, script  # upgrade first, then downgrade
        script = script.replace("enum_values_to_rename=[]", f"enum_values_to_rename=[({old!r}, {new!r})]", 1)
        return script.replace("enum_values_to_rename=[]", f"enum_values_to_rename=[({new!r}, {old!r})]", 1)

    return edit


def test_adding_renaming_and_removing_enum_values_migrate_up_and_back_down(scratch: tuple[URL, Path]) -> None:
    url, directory = scratch
    base = version(url)

    probe_model("red", "green")
    created, script = autogenerate(directory, "enum probe")
    assert "sa.Enum('red', 'green', name='probe_colour').create" in script
    assert db("upgrade").exit_code == 0
    assert labels(url) == ["red", "green"]
    sql(url, "INSERT INTO enum_probe (colour) VALUES ('red'), ('green')")

    probe_model("red", "green", "blue")
    added, script = autogenerate(directory, "add blue")
    assert "add_enum_value" in script
    assert db("upgrade").exit_code == 0
    assert labels(url) == ["red", "green", "blue"]
    assert db("check").exit_code == 0  # models and database agree again
    sql(url, "INSERT INTO enum_probe (colour) VALUES ('blue')")

    probe_model("red", "green", "azure")
    renamed, _ = autogenerate(directory, "rename blue to azure", rename("blue", "azure"))
    assert db("upgrade").exit_code == 0
    assert labels(url) == ["red", "green", "azure"]
    assert colours(url) == ["azure", "green", "red"]  # the row moved with its label
    assert db("check").exit_code == 0

    sql(url, "DELETE FROM enum_probe WHERE colour = 'green'")
    probe_model("red", "azure")
    _, script = autogenerate(directory, "remove green")
    assert "new_values=['red', 'azure']" in script
    assert db("upgrade").exit_code == 0
    assert labels(url) == ["red", "azure"]
    assert db("check").exit_code == 0

    # …and every step back down, checking the labels each time.
    assert db("downgrade", renamed).exit_code == 0
    assert labels(url) == ["red", "green", "azure"]
    assert db("downgrade", added).exit_code == 0
    assert labels(url) == ["red", "green", "blue"]
    assert colours(url) == ["blue", "red"]
    sql(url, "DELETE FROM enum_probe WHERE colour = 'blue'")
    assert db("downgrade", created).exit_code == 0
    assert labels(url) == ["red", "green"]
    assert db("downgrade", base).exit_code == 0
    assert labels(url) == []
    assert sql(url, "SELECT to_regclass('enum_probe')") == [(None,)]
    assert version(url) == base


def test_removing_a_value_still_in_use_fails_clearly_and_leaves_the_schema_as_it_was(
    scratch: tuple[URL, Path],
) -> None:
    url, directory = scratch
    probe_model("red", "green")
    created, _ = autogenerate(directory, "enum probe")
    assert db("upgrade").exit_code == 0
    sql(url, "INSERT INTO enum_probe (colour) VALUES ('red'), ('green')")

    probe_model("red")
    autogenerate(directory, "remove green")
    refused = db("upgrade")
    assert refused.exit_code == 1
    assert "upgrade failed: migration failed and was rolled back" in said(refused)
    assert 'invalid input value for enum probe_colour: "green"' in said(refused)
    assert "update or delete them first" in said(refused)
    assert "Traceback" not in refused.output

    assert version(url) == created
    assert labels(url) == ["red", "green"]
    assert colours(url) == ["green", "red"]
    assert sql(url, "SELECT to_regtype('probe_colour_old')") == [(None,)]  # no half-done swap left behind

    sql(url, "DELETE FROM enum_probe WHERE colour = 'green'")  # what the message says to do
    assert db("upgrade").exit_code == 0
    assert labels(url) == ["red"]
