"""Stop signals and a logging process: SIGTERM writes everything and still stops it; SIGKILL loses a bounded tail.

Real processes (``log_process.py``) and real signals; rows are counted in
PostgreSQL, nothing is timed.
"""

import asyncio
import signal

from log_children import child, stored_rows
from sqlalchemy.engine import URL

from guildbase import Database, Settings
from guildbase.testing import truncate_all


async def test_sigterm_writes_every_buffered_row_and_still_stops_the_process(
    settings: Settings, database_url: URL
) -> None:
    rows = 3000
    try:
        with child(settings, "term", str(rows), log_flush_seconds="60", log_flush_rows="100000") as process:
            assert process.stdout is not None
            assert await asyncio.to_thread(process.stdout.readline) == "ready\n"
            assert await stored_rows(database_url) == 0  # everything is still in the buffer
            process.send_signal(signal.SIGTERM)
            await asyncio.to_thread(process.wait, 60)
            assert process.returncode == -signal.SIGTERM  # the default action ran: it did not swallow the signal
        assert await stored_rows(database_url) == rows
    finally:
        await asyncio.to_thread(truncate_all, database_url)


async def test_sigterm_writes_the_buffered_event_trail_too(settings: Settings, database_url: URL) -> None:
    rows = 1500
    try:
        with child(settings, "events", str(rows), log_flush_seconds="60", log_flush_rows="100000") as process:
            assert process.stdout is not None
            assert await asyncio.to_thread(process.stdout.readline) == "ready\n"
            assert await stored_rows(database_url, "reaction_event") == 0  # the trail waits in its buffers
            assert await stored_rows(database_url, "guild_event") == 0
            process.send_signal(signal.SIGTERM)
            await asyncio.to_thread(process.wait, 60)
            assert process.returncode == -signal.SIGTERM
        assert await stored_rows(database_url, "reaction_event") == rows
        assert await stored_rows(database_url, "guild_event") == rows
        assert await stored_rows(database_url, "command_log") == 1
    finally:
        await asyncio.to_thread(truncate_all, database_url)


async def test_sigkill_loses_at_most_the_pending_bound_of_rows(settings: Settings, database_url: URL) -> None:
    bound = 2000
    limits = {"log_flush_seconds": "0.2", "log_flush_rows": "500", "log_max_pending_rows": str(bound)}
    try:
        with child(settings, "kill", **limits) as process:
            assert process.stdout is not None
            accepted = 0
            while accepted < 5000:
                accepted = int(await asyncio.to_thread(process.stdout.readline))
            process.send_signal(signal.SIGKILL)
            rest, _ = await asyncio.to_thread(process.communicate, None, 60)
            accepted = max([accepted, *(int(line) for line in rest.split())])
        restarted = await Database(settings).connect()  # writes what the killed process had spilled to disk
        await restarted.close()
        stored = await stored_rows(database_url)
        assert stored > 0
        assert accepted - stored <= bound  # only memory is lost: at most log_max_pending_rows; spilled rows are kept
        print(f"SIGKILL after {accepted} accepted rows: {stored} stored, {accepted - stored} lost")  # noqa: T201
    finally:
        await asyncio.to_thread(truncate_all, database_url)
