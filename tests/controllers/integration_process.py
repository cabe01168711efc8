"""A process that fetches one integration when told to (driven by ``test_integrations.py``).

It connects, says ``ready``, waits for ``go`` on stdin so that every process
fetches at the same moment, fetches once and prints what it posted.
"""

import asyncio
import sys

from guildbase import Database, Settings


async def main(guild_id: int, integration_id: int) -> None:
    db = await Database(Settings()).connect()
    try:
        print("ready", flush=True)  # noqa: T201 - the test reads it
        await asyncio.to_thread(sys.stdin.readline)
        outcome = await db.integrations.fetch(guild_id, integration_id)
        print(outcome.status, [item.item_id for item in outcome.posted], flush=True)  # noqa: T201
    finally:
        await db.close()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
