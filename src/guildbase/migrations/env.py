"""Alembic environment: async (asyncpg), enum-aware, one transaction per migration.

Three ways in, all sharing this file:
- ``guildbase db …`` / ``alembic …``: the URL comes from the config or settings;
- ``Database.migrate()``: an open connection is passed in ``config.attributes``;
- no URL at all: the embedded PostgreSQL is started, as for the bot itself.
"""

import asyncio
import re
from typing import Any, Literal

import alembic_postgresql_enum
from alembic import context
from alembic.util.exc import CommandError
from sqlalchemy import Connection, pool
from sqlalchemy.ext.asyncio import create_async_engine

from guildbase.config import Settings
from guildbase.db.embedded import start_embedded
from guildbase.db.encryption import EncryptedText
from guildbase.db.engine import with_driver
from guildbase.db.types import SnowflakeType
from guildbase.errors import MigrationError
from guildbase.models import metadata

alembic_postgresql_enum.set_configuration(
    alembic_postgresql_enum.Config(add_type_ignore=True, drop_unused_enums=True, detect_enum_values_changes=True)
)

config = context.config


def _url() -> Any:
    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    if url:
        return url
    settings = Settings()
    if settings.database_url:
        return settings.database_url
    return start_embedded(settings.data_dir)


def _render_item(type_: str, obj: Any, _autogen_context: Any) -> str | Literal[False]:
    """Write snowflake columns as ``sa.BigInteger()``, encrypted ones as ``sa.Text()``: migrations import nothing of ours."""
    if type_ == "type" and isinstance(obj, SnowflakeType):
        return "sa.BigInteger()"
    if type_ == "type" and isinstance(obj, EncryptedText):
        return "sa.Text()"  # the stored Fernet token; the type holds no key, so none can be rendered
    return False


_PARTITION = re.compile(r"^(?P<parent>\w+)_p\d{6}$")


def _include_name(name: str | None, type_: str, _parent_names: Any) -> bool:
    """Leave monthly partitions (``<table>_pYYYYMM`` of a partitioned model) out of comparisons."""
    if type_ == "table" and name and (match := _PARTITION.match(name)):
        parent = metadata.tables.get(match["parent"])
        return parent is None or not parent.dialect_options["postgresql"]["partition_by"]
    return True


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        compare_type=True,
        compare_server_default=True,
        render_item=_render_item,
        include_name=_include_name,
        # Each migration commits on its own: a failure leaves the schema at the
        # last revision that succeeded, never half-way through one.
        transaction_per_migration=True,
    )


_ENUM_VALUE_IN_USE = "invalid input value for enum"


def _failure(error: BaseException) -> MigrationError:
    """One line a person can act on: the database's own words, and what to do for an enum value still in use."""
    cause: BaseException | None = error
    reason = str(error)
    while cause is not None:  # the driver's error is the precise one; SQLAlchemy's repeats the whole SQL
        if type(cause).__module__.startswith("asyncpg"):
            reason = str(cause)
        cause = cause.__cause__ or cause.__context__
    message = f"migration failed and was rolled back; the schema stays at the last revision that succeeded: {reason}"
    if _ENUM_VALUE_IN_USE in reason:
        message += (
            " (rows still hold an enum value this migration removes: update or delete them first, "
            "or map the old value to a new one with sync_enum_values(enum_values_to_rename=[(old, new)]))"
        )
    return MigrationError(message)


def _run(connection: Connection) -> None:
    _configure(connection)
    try:
        with context.begin_transaction():
            context.run_migrations()
    except (MigrationError, CommandError):  # ours, or Alembic's own (an unknown revision): already clear
        raise
    except Exception as error:
        raise _failure(error) from error


async def _run_async() -> None:
    engine = create_async_engine(with_driver(_url(), "asyncpg"), poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


def run_migrations_offline() -> None:
    """Render SQL instead of executing it (``--sql``)."""
    context.configure(
        url=with_driver(_url(), "asyncpg"),
        target_metadata=metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Use a connection handed in by ``Database.migrate()``, else open one."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
    else:
        asyncio.run(_run_async())


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
