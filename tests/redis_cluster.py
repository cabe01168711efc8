"""A throwaway 3-node Redis Cluster on loopback, for the tests that prove the services run on one.

Three ``redis-server --cluster-enabled yes`` processes (daemonized, no
persistence) on free ports, joined by ``redis-cli --cluster create`` with no
replicas, so every primary owns a third of the 16384 slots and a command
naming keys of two slots fails with ``CROSSSLOT`` exactly as in production.
"""

import contextlib
import random
import shutil
import socket
import subprocess
import time
from pathlib import Path

NODES = 3
_STARTUP_SECONDS = 30.0


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_ports(count: int) -> list[int]:
    """Ports that are free together with their cluster bus port (port + 10000)."""
    ports: list[int] = []
    candidates = list(range(21000, 40000, 7))
    random.shuffle(candidates)
    for port in candidates:
        if _free(port) and _free(port + 10_000) and all(abs(port - taken) > NODES for taken in ports):
            ports.append(port)
            if len(ports) == count:
                return ports
    msg = "no free loopback ports for a Redis Cluster"
    raise RuntimeError(msg)


class RedisClusterServer:
    """Start, wait for ``cluster_state:ok``, and stop a 3-primary cluster under ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.ports = _free_ports(NODES)

    @property
    def url(self) -> str:
        """``redis+cluster://`` URL of one startup node: the client discovers the others."""
        return f"redis+cluster://127.0.0.1:{self.ports[0]}"

    def _cli(self, *args: str, port: int | None = None, timeout: float = 10) -> str:
        binary = shutil.which("redis-cli")
        assert binary is not None
        where = ["-h", "127.0.0.1", "-p", str(port)] if port is not None else []
        done = subprocess.run([binary, *where, *args], capture_output=True, text=True, timeout=timeout, check=False)  # noqa: S603
        return done.stdout + done.stderr

    def _start_node(self, port: int) -> None:
        binary = shutil.which("redis-server")
        assert binary is not None
        node_dir = self.directory / str(port)
        node_dir.mkdir(parents=True, exist_ok=True)
        subprocess.run(  # noqa: S603
            [
                binary,
                *("--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes"),
                *("--cluster-config-file", str(node_dir / "nodes.conf"), "--dir", str(node_dir)),
                *("--save", "", "--appendonly", "no", "--daemonize", "yes"),
                *("--pidfile", str(node_dir / "redis.pid"), "--logfile", str(node_dir / "redis.log")),
            ],
            check=True,
            timeout=10,
        )

    def restart_node(self, port: int) -> None:
        """Stop one primary and start it again (it rejoins from its nodes.conf, empty, with a new ``run_id``)."""
        self._stop_node(port)
        self._start_node(port)
        deadline = time.monotonic() + _STARTUP_SECONDS
        while not all("cluster_state:ok" in self._cli("cluster", "info", port=p, timeout=2) for p in self.ports):
            if time.monotonic() > deadline:
                msg = "the restarted node did not rejoin the cluster"
                raise RuntimeError(msg)
            time.sleep(0.1)

    def start(self) -> None:
        for port in self.ports:
            self._start_node(port)
        deadline = time.monotonic() + _STARTUP_SECONDS
        while not all("PONG" in self._cli("ping", port=port, timeout=2) for port in self.ports):
            if time.monotonic() > deadline:
                self.stop()
                msg = "redis-server (cluster mode) did not start"
                raise RuntimeError(msg)
            time.sleep(0.05)
        created = self._cli(
            "--cluster", "create", *(f"127.0.0.1:{port}" for port in self.ports),
            "--cluster-replicas", "0", "--cluster-yes", timeout=60,
        )  # fmt: skip
        while not all("cluster_state:ok" in self._cli("cluster", "info", port=port) for port in self.ports):
            if time.monotonic() > deadline:
                self.stop()
                msg = f"the Redis Cluster did not reach cluster_state:ok: {created}"
                raise RuntimeError(msg)
            time.sleep(0.1)

    def stop(self) -> None:
        """SHUTDOWN NOSAVE every node, then make sure its process is gone."""
        for port in self.ports:
            self._stop_node(port)

    def _stop_node(self, port: int) -> None:
        self._cli("shutdown", "nosave", port=port, timeout=5)
        pidfile = self.directory / str(port) / "redis.pid"
        deadline = time.monotonic() + 5
        while pidfile.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
            pid = int(pidfile.read_text().strip())
            subprocess.run(["kill", "-9", str(pid)], check=False, capture_output=True)  # noqa: S603, S607
