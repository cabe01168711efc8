"""The wake-up line: a dedicated connection LISTENing on the job channel.

NOTIFY is an optimization, never a requirement: the runner polls anyway, so a
lost connection (or PgBouncer in transaction mode, where LISTEN cannot work)
only costs latency. After a reconnect the listener wakes the runner once,
because notifications sent while it was away are gone.

The connection comes from its own pool-less engine, not from the writer pool:
a LISTEN holds its connection for the life of the process.
"""

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import pool
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import create_async_engine

from guildbase.db.engine import APPLICATION_NAME, with_driver
from guildbase.models.jobs import NOTIFY_CHANNEL

log = logging.getLogger("guildbase.jobs")


class JobListener:
    """Calls ``on_notify(kind)`` for every notification on ``guildbase_jobs`` until cancelled."""

    def __init__(self, url: URL, on_notify: Callable[[str], None], *, retry_seconds: float = 5.0) -> None:
        server_settings = {"application_name": f"{APPLICATION_NAME}-jobs-listener"}
        self._engine = create_async_engine(
            with_driver(url, "asyncpg"), poolclass=pool.NullPool, connect_args={"server_settings": server_settings}
        )
        self._on_notify = on_notify
        self._retry_seconds = retry_seconds
        self.connected = asyncio.Event()

    async def run(self) -> None:
        """Stay connected and listening; reconnect after a pause when the connection fails."""
        try:
            while True:
                try:
                    await self._listen_once()
                    log.warning("job listener connection lost; polling until it is back")
                except Exception as error:  # noqa: BLE001 - any failure means: poll, then try again
                    log.warning("job listener cannot LISTEN (%s); polling until it can", error)
                await asyncio.sleep(self._retry_seconds)
        finally:
            await self._engine.dispose()

    async def _listen_once(self) -> None:
        lost = asyncio.Event()
        async with self._engine.connect() as connection:
            driver: Any = (await connection.get_raw_connection()).driver_connection
            driver.add_termination_listener(lambda _connection: lost.set())
            await driver.add_listener(NOTIFY_CHANNEL, self._notified)
            self.connected.set()
            try:
                self._on_notify("")  # anything sent while we were not listening is lost: look once
                await lost.wait()
            finally:
                self.connected.clear()

    def _notified(self, _connection: object, _pid: int, _channel: str, payload: str) -> None:
        self._on_notify(payload)
