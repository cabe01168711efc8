"""Read routing over streaming replicas: which server answers ``Database.read_session``.

Reads that may lag (reports, leaderboards, stats, history: the controllers'
``self._read()``) go to a replica, in turn. A replica answers a read only
once one probe query, run on the very connection that then serves the read,
shows all three of:

- it is a hot standby (``pg_is_in_recovery()``); a server that is not, e.g. a
  promoted replica or a URL pointing at the writer, would answer from another
  timeline or hide a misconfiguration, so it is skipped, said once;
- its replay lag is within ``replica_max_lag_seconds``: zero when it replayed
  everything it received, else the age of the last transaction it replayed
  (``pg_last_xact_replay_timestamp()``);
- it has replayed this process's own writes (**read-your-writes by LSN**):
  every writer commit of this ``Database`` bumps a counter; the first replica
  read after one takes the writer's ``pg_current_wal_insert_lsn()`` (an upper
  bound of every commit before it, asynchronous commits included) and the
  replica must have replayed up to it (``pg_last_wal_replay_lsn()``). The
  read waits up to ``replica_wait_ms`` for that, then reads the writer. So no
  read misses a write this process committed before it started, however far
  the replica lags, while a replica that keeps up still takes the reads.
  Writes of *other* processes are seen within the lag bound.

A replica that cannot be reached (refused, reset, shut down, a connection
cut mid-read) is skipped for ``replica_retry_seconds``, with one warning; the
first read after that tries it again and, when it answers, says so and uses
it. With no replica fit to answer, the read goes to the writer: a read never
fails because of a replica.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from guildbase.config import Settings
from guildbase.db.connection import is_disconnect
from guildbase.db.engine import async_session_factory, create_async

log = logging.getLogger("guildbase.db")

__all__ = ["ReplicaRouter", "lsn"]

_PROBE = text(
    "SELECT pg_is_in_recovery() AS standby, pg_last_wal_replay_lsn()::text AS replayed, "
    "CASE WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0 "
    "ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 'Infinity') END AS lag"
)
_REPLAYED = text("SELECT pg_last_wal_replay_lsn()::text")
_WRITER_LSN = text("SELECT pg_current_wal_insert_lsn()::text")
_POLL_SECONDS = 0.005
_BEHIND = "behind"


def lsn(value: str | None) -> int:
    """A WAL position ``X/Y`` as an integer (``None``, nothing replayed yet, is 0)."""
    if not value:
        return 0
    high, _, low = value.partition("/")
    return (int(high, 16) << 32) | int(low, 16)


@dataclass
class _Replica:
    """One replica: its engine, sessions, and whether (and until when) it is skipped."""

    name: str
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    retry_at: float = 0.0
    down: bool = False
    refused: str | None = None
    """Why probes turn it away ("lagging", "not a standby"): logged once per episode, and its end."""


class ReplicaRouter:
    """Picks the server of each read: a fit replica, else the writer (see the module docstring)."""

    def __init__(
        self,
        writer: AsyncEngine | None,
        replicas: list[AsyncEngine],
        *,
        max_lag_seconds: float = 5.0,
        wait_seconds: float = 0.05,
        retry_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._writer = writer
        self._replicas = [_Replica(_name(engine), engine, async_session_factory(engine)) for engine in replicas]
        self._max_lag = max_lag_seconds
        self._wait = wait_seconds
        self._retry = retry_seconds
        self._clock = clock
        self._next = 0
        self._writes = 0
        self._fenced_writes = 0
        self._token = 0
        self._token_lock = asyncio.Lock()

    @classmethod
    def from_settings(cls, writer: AsyncEngine, settings: Settings) -> "ReplicaRouter":
        """The router over ``settings.replica_urls`` (a connect gives up after ``pool_timeout``, as a checkout)."""
        timeout = settings.pool_timeout
        return cls(
            writer,
            [create_async(url, settings, connect_timeout=timeout) for url in settings.replica_urls],
            max_lag_seconds=settings.replica_max_lag_seconds,
            wait_seconds=settings.replica_wait_ms / 1000,
            retry_seconds=settings.replica_retry_seconds,
        )

    @property
    def engines(self) -> list[AsyncEngine]:
        """The replicas' engines, in configuration order."""
        return [replica.engine for replica in self._replicas]

    def wrote(self) -> None:
        """A writer unit of this process committed: the next replica read must have replayed it."""
        self._writes += 1

    async def pick(self, writer_sessions: async_sessionmaker[AsyncSession]) -> AsyncSession:
        """An open session for one read: on the first fit replica in turn, else on the writer."""
        if not self._replicas:
            return writer_sessions()
        token = await self._writer_token()
        count = len(self._replicas)
        start, self._next = self._next, (self._next + 1) % count
        for offset in range(count):
            replica = self._replicas[(start + offset) % count]
            if replica.down and self._clock() < replica.retry_at:
                continue
            session = await self._admit(replica, token)
            if session is not None:
                return session
        return writer_sessions()

    def failed(self, session: AsyncSession, error: BaseException) -> None:
        """A read on ``session`` died with ``error``: a replica that lost its connection is skipped for a while."""
        if not is_disconnect(error):
            return
        for replica in self._replicas:
            if session.bind is replica.engine:
                self._mark_down(replica, error)

    async def dispose(self) -> None:
        """Close every replica pool."""
        for replica in self._replicas:
            await replica.engine.dispose()

    async def _writer_token(self) -> int:
        """The WAL position a replica must have replayed: the writer's, taken after this process's last write."""
        if self._writes == self._fenced_writes or self._writer is None:
            return self._token
        async with self._token_lock:
            writes = self._writes  # every write counted here committed before the position is read
            if writes != self._fenced_writes:
                async with self._writer.connect() as connection:
                    self._token = lsn((await connection.execute(_WRITER_LSN)).scalar_one())
                self._fenced_writes = writes
        return self._token

    async def _admit(self, replica: _Replica, token: int) -> AsyncSession | None:
        """``replica``'s session when it may serve the read, else None (it is closed)."""
        session = replica.sessions()
        try:
            refusal = await self._refusal(session, token)
        except Exception as error:
            await _discard(session, dead=is_disconnect(error))
            if not is_disconnect(error):
                raise
            self._mark_down(replica, error)
            return None
        if replica.down:
            replica.down = False
            log.warning("read replica %s answers again: reads go to it", replica.name)
        if refusal is not None:
            await _discard(session, dead=False)
            kind, reason = refusal
            if kind not in {_BEHIND, replica.refused}:  # behind: this read needs the writer, nothing to say
                log.warning("read replica %s skipped: %s; reads go elsewhere", replica.name, reason)
                replica.refused = kind
            return None
        if replica.refused is not None:
            log.warning("read replica %s is fit again (%s before): reads go to it", replica.name, replica.refused)
        replica.refused = None
        return session

    async def _refusal(self, session: AsyncSession, token: int) -> tuple[str, str] | None:
        """Why ``session``'s replica may not serve the read now, as (kind, reason); None: it may."""
        row = (await session.execute(_PROBE)).one()
        if not row.standby:
            return "not a standby", "it is not a hot standby (pg_is_in_recovery() is false)"
        if float(row.lag) > self._max_lag:
            return "lagging", f"its replay lags {float(row.lag):.1f} s (more than {self._max_lag:g} s)"
        replayed = lsn(row.replayed)
        deadline = self._clock() + self._wait
        while replayed < token:
            if self._clock() >= deadline:
                return _BEHIND, "it has not replayed this process's last write yet"
            await asyncio.sleep(_POLL_SECONDS)
            replayed = lsn((await session.execute(_REPLAYED)).scalar_one())
        # Read committed: each statement of the read takes a snapshot after this one, replay only moves on.
        return None

    def _mark_down(self, replica: _Replica, error: BaseException) -> None:
        replica.retry_at = self._clock() + self._retry
        if not replica.down:
            replica.down = True
            log.warning(
                "read replica %s is down (%s: %s): reads go elsewhere; it is tried again every %g s",
                replica.name,
                type(error).__name__,
                str(error).splitlines()[0] if str(error) else "",
                self._retry,
            )


async def _discard(session: AsyncSession, *, dead: bool) -> None:
    """Close a probe session; a ``dead`` connection is dropped from the pool, a live one goes back to it."""
    with contextlib.suppress(Exception):
        if dead:
            await session.invalidate()
        await session.close()


def _name(engine: AsyncEngine) -> str:
    url = engine.url
    return f"{url.host or 'localhost'}:{url.port or 5432}/{url.database or ''}"
