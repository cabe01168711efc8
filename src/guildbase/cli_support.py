"""What every ``guildbase`` command shares: the console, settings, quiet logging, one-line errors.

``cli.py`` and ``jobs/cli.py`` both import this module and neither imports
the other, so the command groups can be loaded (and tested) on their own.

Guarantees:
- every write a command makes is audited with source ``cli``;
- a bad setting stops a command with exit code 2 and the variable named;
- a ``GuildbaseError``, or PostgreSQL being missing or unreachable, stops it
  with exit code 1 and one line that says what to do, never a traceback;
- Alembic's per-connection chatter ("Context impl …", "Will assume …") is
  hidden unless ``guildbase --verbose`` is given; its "Running upgrade …"
  lines stay.
"""

import logging
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from guildbase.config import Settings
from guildbase.db.context import AuditSource, audit_context
from guildbase.errors import DatabaseUnavailableError, GuildbaseError

console = Console()
verbose = {"on": False}
"""Set by ``guildbase --verbose``: show every log line, Alembic's included."""

_ALEMBIC_CHATTER = ("Context impl ", "Will assume ")
# SQLSTATE classes that mean "no usable server": connection (08), authorization (28),
# missing database (3D), server starting or shutting down (57P).
_UNREACHABLE_STATES = ("08", "28", "3D", "57P")


class _HideAlembicChatter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(_ALEMBIC_CHATTER)


_chatter_filter = _HideAlembicChatter()


def configure_logging(settings: Settings) -> None:
    """Log at the configured level; hide Alembic's per-connection lines unless verbose."""
    level = logging.DEBUG if verbose["on"] else settings.log_level
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    migration_log = logging.getLogger("alembic.runtime.migration")
    if verbose["on"]:
        migration_log.removeFilter(_chatter_filter)
    else:
        migration_log.addFilter(_chatter_filter)


def load_settings() -> Settings:
    """The settings from the environment, or exit 2 naming the bad variable."""
    try:
        settings = Settings()
    except GuildbaseError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None
    configure_logging(settings)
    return settings


def _chain(error: BaseException) -> Iterator[BaseException]:
    """``error`` and everything it wraps: causes, contexts and SQLAlchemy's ``orig``."""
    seen: set[int] = set()
    pending: list[BaseException] = [error]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        linked = (current.__context__, current.__cause__, getattr(current, "orig", None))
        pending.extend(link for link in linked if isinstance(link, BaseException))


def _is_unreachable(error: BaseException) -> bool:
    if isinstance(error, (OSError, socket.gaierror)):
        return True
    state = getattr(error, "sqlstate", None)
    if isinstance(state, str) and state.startswith(_UNREACHABLE_STATES):
        return True
    # psycopg's connection failures carry no SQLSTATE; they say so in their class.
    return type(error).__name__ == "OperationalError" and "connection" in str(error).lower()


def _where(settings: Settings | None) -> str:
    if settings is None or not settings.database_url:
        return "the embedded PostgreSQL"
    try:
        return make_url(settings.database_url).render_as_string(hide_password=True)
    except ArgumentError:
        return "GUILDBASE_DATABASE_URL"


def connection_problem(error: BaseException, settings: Settings | None = None) -> str | None:
    """One line saying what to do when ``error`` means PostgreSQL is missing or unreachable, else None."""
    cause = next((link for link in _chain(error) if _is_unreachable(link)), None)
    if cause is None:
        return None
    reason = " ".join(str(cause).split()) or type(cause).__name__
    return (
        f"cannot reach PostgreSQL at {_where(settings)} ({reason}): start the server, fix "
        "GUILDBASE_DATABASE_URL, or unset it to use the embedded PostgreSQL"
    )


@contextmanager
def reported(action: str, settings: Settings | None = None) -> Iterator[None]:
    """Turn a GuildbaseError or an unreachable database into one red line and exit code 1.

    Every write the command makes is audited as coming from the CLI, under one
    correlation ID (``audit_context``).
    """
    try:
        with audit_context(AuditSource.CLI):
            yield
    except (typer.Exit, typer.Abort, typer.TyperException):
        raise  # the command already said what went wrong
    except GuildbaseError as error:
        # DatabaseUnavailableError wraps the driver's refusal: say where, in the one line used for it.
        problem = connection_problem(error, settings) if isinstance(error, DatabaseUnavailableError) else None
        console.print(f"[red]{action} failed:[/red] {problem or error}", soft_wrap=problem is not None)
        raise typer.Exit(1) from None
    except Exception as error:
        problem = connection_problem(error, settings)
        if problem is None:
            raise
        console.print(f"[red]{action} failed:[/red] {problem}", soft_wrap=True)
        raise typer.Exit(1) from None
