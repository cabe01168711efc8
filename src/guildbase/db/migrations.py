"""Alembic, driven from code: the config object, head checks, and upgrades.

The migration scripts ship inside the package (``guildbase/migrations``) so an
installed guildbase can migrate a database without a checkout.
"""

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.engine import URL

from guildbase.errors import SchemaNotAtHeadError

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(url: str | URL | None = None) -> Config:
    """An Alembic config pointing at the packaged migrations (and ``url`` if given)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    config.set_main_option("file_template", "%%(year)d%%(month).2d%%(day).2d_%%(rev)s_%%(slug)s")
    if url is not None:
        rendered = url if isinstance(url, str) else url.render_as_string(hide_password=False)
        config.attributes["url"] = rendered
    return config


def head_revisions() -> set[str]:
    """The revisions the code expects the database to be at."""
    return set(ScriptDirectory.from_config(alembic_config()).get_heads())


def current_revisions(connection: Connection) -> set[str]:
    """The revisions recorded in the database's ``alembic_version`` table."""
    return set(MigrationContext.configure(connection).get_current_heads())


def ensure_at_head(connection: Connection) -> None:
    """Refuse to run against a schema the code does not match, and say how to fix it."""
    current = current_revisions(connection)
    heads = head_revisions()
    if current == heads:
        return
    shown = ", ".join(sorted(current)) or "empty (no migrations applied)"
    expected = ", ".join(sorted(heads))
    msg = (
        f"database schema is at {shown} but this guildbase expects {expected}; "
        "run `guildbase db upgrade` (or Database.migrate()) first"
    )
    raise SchemaNotAtHeadError(msg)


def upgrade_on(connection: Connection, revision: str = "head") -> None:
    """Run ``alembic upgrade`` on an open connection (used from async code via run_sync)."""
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)
