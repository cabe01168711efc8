"""A real primary and streaming replica on loopback, from Debian's PostgreSQL binaries.

``initdb`` makes the primary, ``pg_basebackup -R -X stream`` clones it into a
hot standby (``-R`` writes ``standby.signal`` and ``primary_conninfo``), and
``pg_ctl`` starts, stops and reloads both. Each listens on a free 127.0.0.1
port and on no Unix socket, so nothing collides with the suite's own server.

PostgreSQL refuses to run as root: under uid 0 every command runs as the
``postgres`` OS user (``runuser -u postgres --``, the user Debian's package
creates) in a data folder that user owns; as anyone else the commands run
directly. The replica's replay delay lives in ``delay.conf``, included by its
``postgresql.conf``, so a test can delay and undo replay with a reload.
"""

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from guildbase.db.replicas import lsn

SERVER_USER = "postgres"
_TOOLS = ("initdb", "pg_basebackup", "pg_ctl")


def find_bin_dir() -> Path:
    """The newest ``/usr/lib/postgresql/<version>/bin`` holding every tool, else the tools on PATH."""
    versions = [path for path in Path("/usr/lib/postgresql").glob("*/bin") if path.parent.name.isdigit()]
    for candidate in sorted(versions, key=lambda path: int(path.parent.name), reverse=True):
        if all((candidate / tool).exists() for tool in _TOOLS):
            return candidate
    on_path = shutil.which("pg_basebackup")
    if on_path is not None:
        return Path(on_path).parent
    msg = "no PostgreSQL server binaries: install Debian's postgresql package (initdb, pg_basebackup, pg_ctl)"
    raise RuntimeError(msg)


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _as_server_user() -> list[str]:
    return ["runuser", "-u", SERVER_USER, "--"] if os.geteuid() == 0 else []


@dataclass
class Node:
    """One PostgreSQL server of the pair: its data folder, port and log."""

    bin_dir: Path
    data: Path
    port: int
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.data.parent / f"{self.data.name}.log"

    def url(self, database: str = "postgres") -> str:
        """A ``postgresql://`` URL to ``database`` on this node."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def run(self, tool: str, *args: str) -> str:
        """Run ``tool`` (as the server user under root); its output, or an error carrying it and the log."""
        command = [*_as_server_user(), str(self.bin_dir / tool), *args]
        result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603 - fixed tools
        if result.returncode != 0:
            log = self.log.read_text()[-2000:] if self.log.exists() else ""
            msg = f"{tool} {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}\n{log}"
            raise RuntimeError(msg)
        return result.stdout

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        self.run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start")

    def stop(self) -> None:
        """Fast shutdown: open sessions are ended, as a crash or failover of the host would."""
        self.run("pg_ctl", "-D", str(self.data), "-w", "-t", "60", "-m", "fast", "stop")

    def reload(self) -> None:
        """Re-read the configuration files (SIGHUP)."""
        self.run("pg_ctl", "-D", str(self.data), "reload")

    def running(self) -> bool:
        """Whether ``pg_ctl status`` finds the server up."""
        command = [*_as_server_user(), str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "status"]
        return subprocess.run(command, capture_output=True, check=False).returncode == 0  # noqa: S603

    def append_conf(self, text: str, name: str = "postgresql.conf") -> None:
        """Append ``text`` to one of the node's configuration files."""
        path = self.data / name
        with path.open("a") as handle:
            handle.write(text)

    def write_conf(self, name: str, text: str) -> None:
        """Replace an included configuration file (owned by the server user, readable by it)."""
        path = self.data / name
        path.write_text(text)
        if os.geteuid() == 0:
            user = pwd.getpwnam(SERVER_USER)
            os.chown(path, user.pw_uid, user.pw_gid)


_SERVER_CONF = """
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = ''
fsync = off
full_page_writes = off
shared_buffers = 32MB
max_connections = 60
wal_level = replica
max_wal_senders = 4
hot_standby = on
hot_standby_feedback = on
"""


@dataclass
class ReplicaPair:
    """The primary and its streaming replica."""

    primary: Node
    replica: Node

    def set_replay_delay(self, delay: str) -> None:
        """``recovery_min_apply_delay`` on the replica (``'0'`` undoes it), applied by a reload."""
        self.replica.write_conf("delay.conf", f"recovery_min_apply_delay = '{delay}'\n")
        self.replica.reload()

    def stop(self) -> None:
        """Stop both servers (whatever state they are in)."""
        for node in (self.replica, self.primary):
            if node.running():
                with contextlib.suppress(RuntimeError):
                    node.stop()


def _workspace() -> Path:
    """An empty folder the server user owns (under root, ``postgres``; the folder above stays root's)."""
    home = Path(tempfile.mkdtemp(prefix="guildbase-replica-"))
    if os.geteuid() == 0:
        home.chmod(0o755)  # the server user must reach its data folders inside it
        user = pwd.getpwnam(SERVER_USER)
        for name in ("primary", "replica"):
            (home / name).mkdir(mode=0o700)
            os.chown(home / name, user.pw_uid, user.pw_gid)
        os.chown(home, user.pw_uid, user.pw_gid)
    return home


@contextlib.contextmanager
def replica_pair() -> Iterator[ReplicaPair]:
    """Start a primary and a streaming replica of it; both are stopped and deleted afterwards."""
    bin_dir = find_bin_dir()
    home = _workspace()
    primary = Node(bin_dir, home / "primary", free_port())
    replica = Node(bin_dir, home / "replica", free_port())
    pair = ReplicaPair(primary, replica)
    try:
        primary.run("initdb", "-D", str(primary.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        primary.append_conf(_SERVER_CONF.format(port=primary.port))
        primary.start()
        replica.run(
            "pg_basebackup",
            *("-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres"),
            *("-D", str(replica.data), "-R", "-X", "stream", "--no-sync"),
        )
        replica.append_conf(f"port = {replica.port}\ninclude_if_exists = 'delay.conf'\n")
        replica.start()
        yield pair
    finally:
        pair.stop()
        shutil.rmtree(home, ignore_errors=True)


DATABASE = "guildbase"
PROBE_TABLE = "replica_probe"
"""A scratch table of these tests (id, value): what a write changed, and whether a read saw it."""


@dataclass
class Cluster:
    """The running pair, with URLs to the migrated ``guildbase`` database on each."""

    pair: ReplicaPair
    writer_url: str
    replica_url: str

    def caught_up(self) -> None:
        """Block until the replica replayed everything the primary wrote so far (no replay delay set)."""
        wait_replayed(self.writer_url, self.replica_url, received_only=False)

    def received(self) -> None:
        """Block until the replica *received* everything the primary wrote (it may not have replayed it)."""
        wait_replayed(self.writer_url, self.replica_url, received_only=True)


def wait_replayed(writer_url: str, replica_url: str, *, received_only: bool) -> None:
    """Poll the replica until its receive (or replay) position reaches the primary's; fails after 60 s."""
    with psycopg.connect(writer_url, autocommit=True) as writer:
        target = lsn(writer.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0])  # type: ignore[index]
    function = "pg_last_wal_receive_lsn" if received_only else "pg_last_wal_replay_lsn"
    with psycopg.connect(replica_url, autocommit=True) as replica:
        for _ in range(6000):
            row = replica.execute(f"SELECT {function}()::text").fetchone()
            if row is not None and lsn(row[0]) >= target:
                return
            replica.execute("SELECT pg_sleep(0.01)")
    msg = f"the replica's {function}() did not reach the primary's position within 60 s"
    raise RuntimeError(msg)


@contextlib.contextmanager
def migrated_cluster() -> Iterator[Cluster]:
    """A pair whose primary holds a ``guildbase`` database at head (and ``PROBE_TABLE``), replayed by the replica."""
    from alembic import command  # noqa: PLC0415 - only the harness migrates

    from guildbase.db.migrations import alembic_config  # noqa: PLC0415

    with replica_pair() as pair:
        with psycopg.connect(pair.primary.url(), autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {DATABASE}")
        writer_url = pair.primary.url(DATABASE)
        command.upgrade(alembic_config(writer_url), "head")
        with psycopg.connect(writer_url, autocommit=True) as writer:
            writer.execute(f"CREATE TABLE {PROBE_TABLE} (id int PRIMARY KEY, value int NOT NULL)")
        found = Cluster(pair, writer_url, pair.replica.url(DATABASE))
        found.caught_up()
        yield found
