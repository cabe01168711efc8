"""The overflow file of a ``BufferedWriter``: rows that did not fit in memory, kept on disk, written later.

A command handler must never wait for the log (issue 24): when the writer's
buffer is full, the row is appended to this process's spill file instead of
making the caller wait. The writer moves spilled rows back into its buffer as
soon as there is room again, and ``close`` writes them before it returns, so a
clean shutdown still loses nothing.

Each process owns its file (``<name>-<database>-<pid>.jsonl``) and holds an
exclusive ``flock`` on it while it lives. A file whose lock can be taken
belongs to a process that is gone (killed, crashed): ``claim_orphans`` takes
such files for replay at the next start, so rows spilled before a SIGKILL
are written by whichever process starts next against the same database.
The database is part of the name, so a file is never replayed into another
database. Every row is one ``os.write`` of one line: a SIGKILL loses at most
the line being written, never earlier lines (the kernel holds them).

Values are JSON, with ``datetime`` and ``date`` tagged so that they come back
as the same types (the COPY encoders need them exact).
"""

import fcntl
import hashlib
import json
import logging
import os
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger("guildbase.bulk")

Row = tuple[Any, ...]

__all__ = ["SpillFile", "decode_row", "encode_row"]

_DATETIME = "$dt"
_DATE = "$d"


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return {_DATETIME: value.isoformat()}
    if isinstance(value, date):
        return {_DATE: value.isoformat()}
    msg = f"a spilled row holds a {type(value).__name__}, which the spill file cannot keep"
    raise TypeError(msg)


def _hook(value: dict[str, Any]) -> Any:
    if len(value) == 1:
        if _DATETIME in value:
            return datetime.fromisoformat(value[_DATETIME])
        if _DATE in value:
            return date.fromisoformat(value[_DATE])
    return value


def encode_row(row: Row) -> bytes:
    """One line of the spill file."""
    return json.dumps(list(row), default=_default, separators=(",", ":")).encode() + b"\n"


def decode_row(line: bytes) -> Row:
    """The row of one spill-file line."""
    return tuple(json.loads(line, object_hook=_hook))


def database_tag(url: str) -> str:
    """A short, stable, secret-free name for a database URL (a file name part; the URL may hold a password)."""
    return hashlib.sha256(url.encode()).hexdigest()[:12]


class SpillFile:
    """This process's overflow file for one writer, opened on first use and locked while it is open."""

    def __init__(self, directory: Path, name: str, database: str) -> None:
        self.directory = directory
        self.prefix = f"{name}-{database_tag(database)}-"
        self.path = directory / f"{self.prefix}{os.getpid()}.jsonl"
        self._fd: int | None = None
        self.rows = 0
        """Rows in this process's file not yet taken back (``take`` resets it)."""

    def append(self, row: Row) -> None:
        """Keep ``row`` on disk (one write of one line)."""
        if self._fd is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.write(self._fd, encode_row(row))
        self.rows += 1

    def take(self) -> list[Row]:
        """Every row of this process's own file, which is emptied (the caller now holds them in memory)."""
        if self._fd is None or not self.rows:
            return []
        rows = list(_read(self.path))
        os.ftruncate(self._fd, 0)
        self.rows = 0
        return rows

    def close(self) -> None:
        """Release the file; an empty one is removed, a non-empty one stays for the next start."""
        if self._fd is None:
            return
        if not self.rows:
            self.path.unlink(missing_ok=True)
        os.close(self._fd)  # closing drops the flock
        self._fd = None

    def claim_orphans(self) -> Iterator[tuple[Path, list[Row]]]:
        """Files of processes that are gone, with their rows; the caller unlinks each once its rows are written.

        A file still locked belongs to a living process and is left alone.
        """
        if not self.directory.is_dir():
            return
        for path in sorted(self.directory.glob(f"{self.prefix}*.jsonl")):
            if path == self.path:
                continue
            try:
                fd = os.open(path, os.O_RDWR)
            except FileNotFoundError:
                continue  # another process claimed and removed it first
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # its owner is alive
                if not path.exists():
                    continue
                rows = list(_read(path))
                log.warning("replaying %d rows spilled by a process that stopped (%s)", len(rows), path.name)
                yield path, rows
            finally:
                os.close(fd)


def _read(path: Path) -> Iterator[Row]:
    with path.open("rb") as lines:
        for line in lines:
            if line.endswith(b"\n"):  # a line cut by a SIGKILL mid-write is the only one that can be partial
                yield decode_row(line)
