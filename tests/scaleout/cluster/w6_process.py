"""One bot process of the scale-out run (driven by ``test_processes.py``): ``WORKER WORKERS OPS FIRST_GUILD NOW``.

It runs its share of W6's mixed message path (config, blacklist, AFK,
filters, autoresponders, the XP award; ``bench/composite.py``) plus the
writes a bot makes beside it: a command-log row per message, a warning case
every 5th, a star every 3rd. Operation ``i`` is the same whatever the number
of processes; a user's operations all run in one process and one task, in
order, so every per-user outcome (XP cooldowns included) is the same in a
4-process and a 1-process run, while guilds, case numbers, star counts,
caches and rate limits are shared by every process at once. Settings (the
PgBouncer URL, the Redis Cluster URL) come from the environment, as in
production. Prints one JSON line: what this process did.
"""

import asyncio
import json
import sys
from datetime import datetime, timedelta

from guildbase import Database, Settings

GUILDS = 4
MEMBERS = 24
TASKS = 4
CHANNEL = 1_100_000_000_000_000_302
MOD = 1_100_000_000_000_000_303
AUTHOR = 1_100_000_000_000_000_304
USER0 = 1_100_000_000_000_100_000
MESSAGE0 = 1_100_000_000_000_200_000
MESSAGES = 10
TEXTS = ("hello there", "gm everyone", "what a nice day", "buy cheap gold", "lol", "see you tomorrow")


def target(index: int, first_guild: int) -> tuple[int, int]:
    """Operation ``index``'s guild and user index (users are numbered per run, not per guild)."""
    return first_guild + index % GUILDS, (index // GUILDS) % MEMBERS


def roll(index: int) -> float:
    """The XP roll of operation ``index`` (deterministic: the runs must award the same XP)."""
    return (index * 0.6180339887) % 1.0


async def one(db: Database, index: int, first_guild: int, start: datetime, done: dict[str, int]) -> None:
    guild_id, member = target(index, first_guild)
    user_id = USER0 + member
    now = start + timedelta(minutes=2 * index)  # past the XP cooldown between a user's messages
    await db.guild_config.get(guild_id)
    if await db.blacklist.is_blacklisted("user", user_id):
        return
    await db.afk.get_many(guild_id, [user_id, USER0 + (member * 7) % MEMBERS])
    text = TEXTS[index % len(TEXTS)]
    verdict = await db.filters.check(guild_id, CHANNEL, text, (), 2)
    if not verdict.action:
        await db.autoresponders.respond(guild_id, CHANNEL, user_id, text)
    award = await db.levels.award_message_xp(guild_id, user_id, CHANNEL, [], now, roll=roll(index))
    done["xp"] += award.awarded_xp
    await db.ratelimits.hit_command(guild_id, user_id, "rank", "1000/minute")
    await db.logs.record_command(user_id, "w6", guild_id=guild_id, channel_id=CHANNEL, params={"op": index})
    done["commands"] += 1
    if index % 5 == 0:
        await db.cases.create(guild_id, user_id, MOD, "WARN", reason=f"op {index}")
        done["cases"] += 1
    if index % 3 == 0:
        message_id = MESSAGE0 + index % MESSAGES
        change = await db.starboard.add_star(guild_id, message_id, user_id, channel_id=CHANNEL, author_id=AUTHOR)
        done["stars"] += int(change.is_changed)


async def main(worker: int, workers: int, ops: int, first_guild: int, start: datetime) -> None:
    db = await Database(Settings()).connect()
    done = {"xp": 0, "commands": 0, "cases": 0, "stars": 0}
    mine = [index for index in range(ops) if target(index, first_guild)[1] % workers == worker]

    async def lane(lane_number: int) -> None:
        for index in mine:
            if target(index, first_guild)[1] // workers % TASKS == lane_number:
                await one(db, index, first_guild, start, done)

    try:
        await asyncio.gather(*(lane(n) for n in range(TASKS)))
    finally:
        await db.close()  # flushes the buffered command-log rows
    print(json.dumps(done), flush=True)  # noqa: T201 - the test reads it


if __name__ == "__main__":
    worker_, workers_, ops_, first_, start_ = sys.argv[1:6]
    asyncio.run(main(int(worker_), int(workers_), int(ops_), int(first_), datetime.fromisoformat(start_)))
