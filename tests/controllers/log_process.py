"""A process that logs commands (driven by ``test_log_signals.py``): ``term ROWS``, ``events ROWS``,
``kill`` or ``spill ROWS``.

``term ROWS`` queues ROWS rows, says ``ready`` and idles until a signal ends
it; ``events ROWS`` does the same with ROWS reactions, ROWS member updates and
one command row (the event trail's writers); ``kill`` logs without end, one
row per loop turn like a busy bot, and prints how many rows were accepted every 100;
``spill ROWS`` queues ROWS rows without yielding to the writer (a burst), says how
many went to the spill file, and idles until it is killed.
"""

import asyncio
import sys

from guildbase import Database, Settings

USER = 1_100_000_000_000_000_101
GUILD = 1_100_000_000_000_000_201
CHANNEL = 1_100_000_000_000_000_202
ROLE = 1_100_000_000_000_000_203


async def main(mode: str, rows: int) -> None:
    db = await Database(Settings()).connect()
    db.flush_on_signals()
    if mode == "term":
        for n in range(rows):
            await db.logs.record_command(USER, "ping", params={"n": n})
        print("ready", flush=True)  # noqa: T201 - the test reads it
        await asyncio.Event().wait()
    if mode == "spill":
        for n in range(rows):
            await db.logs.record_command(USER, "ping", params={"n": n})
        print(f"spilled {db.logs.command_writer.spilled}", flush=True)  # noqa: T201
        await asyncio.Event().wait()
    if mode == "events":
        await db.guilds.join(GUILD, name="signals")
        for n in range(rows):
            await db.events.record_reaction(GUILD, CHANNEL, USER + n, USER, "⭐")
            await db.events.record_member_update(GUILD, USER + n, roles_added=[ROLE])
        await db.logs.record_command(USER, "ping")
        print("ready", flush=True)  # noqa: T201
        await asyncio.Event().wait()
    accepted = 0
    while True:
        await db.logs.record_command(USER, "ping", params={"n": accepted})
        accepted += 1
        if accepted % 100 == 0:
            print(accepted, flush=True)  # noqa: T201
        await asyncio.sleep(0)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 0))
