"""Real ``guildbase bot`` processes against the fake Discord (REST and gateway), sharing PostgreSQL and Redis.

Each process is the CLI itself (``python -m guildbase.cli bot``) with a token,
shards and URLs from the environment, exactly as in production; only Discord
is faked. Two processes split two shards: a tempban that expires while both
run is lifted once, a change made through one is seen by the other, each
command is logged once. One process gets a real SIGTERM in the middle of a
burst of commands, with a command and a job held in flight: every command that
started is answered and logged, the held command and job finish, the process
exits cleanly.
"""

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from fake_discord import FakeDiscord, user_payload
from fake_gateway import FakeGateway, shard_of
from harness import Harness, Person, until

from guildbase import Database, ReminderStatus, Settings
from guildbase.db.types import utcnow

pytestmark = [pytest.mark.slow, pytest.mark.clock]

SHUTDOWN_BEGAN = "waiting for"
"""What the bot logs when its shutdown starts waiting for in-flight commands."""
CLEAN_EXIT_FORBIDS = ("Traceback", "Task was destroyed", "Unclosed", "non-checked-in connection", "never awaited")


class RemoteGuild(Harness):
    """A guild of the fake whose events travel through the gateway to whichever process holds its shard."""

    def __init__(self, fake: FakeDiscord, gateway: FakeGateway, shard_id: int) -> None:
        super().__init__(fake)
        while shard_of(self.guild_id, gateway.shard_count) != shard_id:
            self.guild_id = fake.snowflake()
        self.gateway = gateway
        for person in (self.mod, self.alice, self.bob, self.stranger):
            fake.users[person.user_id] = user_payload(person.user_id, person.name)
        for person in (self.mod, self.alice, self.bob):
            fake.members[(self.guild_id, person.user_id)] = self.member_payload(person)
        gateway.guilds[self.guild_id] = self.guild_payload()
        self.commands: list[str] = []
        """The name of every command sent, in order."""

    async def send(self, person: Person, content: str, *, channel_id: int | None = None) -> None:
        """``person`` posts ``content``; the message reaches the bot process over its gateway connection."""
        payload = self.message_event(person, content, mentions=(), channel_id=channel_id)
        self.commands.append(content.removeprefix("$").split()[0])
        await self.gateway.dispatch(self.guild_id, "MESSAGE_CREATE", payload)

    async def logged(self, db: Database) -> list[str]:
        """The names in the guild's command log (the test process's buffer has nothing to flush)."""
        return sorted(r.command for r in await db.logs.recent_commands(guild_id=self.guild_id, limit=100))

    def replies(self, text: str, channel_id: int | None = None) -> list[str]:
        """The bot's messages in a channel of the guild (content and embeds) that hold ``text``."""
        return [m for m in self.fake.texts(channel_id or self.channel_id) if text in m]


@asynccontextmanager
async def fake_discord(shard_count: int) -> AsyncIterator[tuple[FakeDiscord, FakeGateway]]:
    fake = FakeDiscord(bot_user={}, application_id=0)
    fake.application_id = fake.snowflake()
    fake.bot_user = user_payload(fake.snowflake(), "guildbase", bot=True)
    fake.gateway = FakeGateway(fake.bot_user, fake.application_id, shard_count=shard_count)
    await fake.start()
    try:
        yield fake, fake.gateway
    finally:
        await fake.stop()


class BotProcess:
    """One ``guildbase bot`` process; its log goes to a file (read by the test, never a full pipe)."""

    def __init__(self, process: asyncio.subprocess.Process, log: Path) -> None:
        self.process = process
        self.log = log

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    async def wait_for_line(self, text: str) -> None:
        async def seen() -> bool:
            assert self.process.returncode is None, self.output()[-3000:]
            return text in self.output()

        await until(seen, f"the bot to log {text!r}")

    async def terminate(self) -> int:
        """SIGTERM, then the exit code."""
        self.process.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.process.wait(), timeout=60)


async def spawn(
    settings: Settings, fake: FakeDiscord, tmp: Path, *, shard_ids: list[int], owner: int, **extra: object
) -> BotProcess:
    """Start ``guildbase bot`` for ``shard_ids`` of the fake's gateway."""
    assert settings.database_url is not None
    assert fake.gateway is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUILDBASE_") and k != "DISCORD_TOKEN"}
    env |= {
        "DISCORD_TOKEN": "process-test-token",
        "GUILDBASE_DATABASE_URL": settings.database_url,
        "GUILDBASE_DISCORD_API_URL": fake.url,
        "GUILDBASE_DISCORD_GATEWAY_URL": fake.gateway_url,
        "GUILDBASE_BOT_SHARD_COUNT": str(fake.gateway.shard_count),
        "GUILDBASE_BOT_SHARD_IDS": ",".join(map(str, shard_ids)),
        "GUILDBASE_OWNER_IDS": str(owner),
        "GUILDBASE_LOG_LEVEL": "INFO",
        # The test server is shared: small pools that wait rather than overflow.
        "GUILDBASE_POOL_SIZE": "3",
        "GUILDBASE_POOL_MAX_OVERFLOW": "0",
        # A process keeps cached values this long: only an invalidation can show it a change sooner.
        "GUILDBASE_LOCAL_CACHE_TTL_SECONDS": "600",
        "GUILDBASE_JOBS_POLL_INTERVAL_SECONDS": "0.2",
    }
    if settings.redis_url:
        env["GUILDBASE_REDIS_URL"] = settings.redis_url
    env |= {f"GUILDBASE_{name.upper()}": str(value) for name, value in extra.items()}
    log = tmp / f"bot-{'-'.join(map(str, shard_ids))}.log"
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "guildbase.cli", "bot", env=env, stdout=out, stderr=asyncio.subprocess.STDOUT
        )
    return BotProcess(process, log)


@contextmanager
def stopped_on_exit(processes: list[BotProcess]) -> Iterator[list[BotProcess]]:
    """Kill every process still running when the test ends (a failing test leaves no orphans)."""
    try:
        yield processes
    finally:
        for bot in processes:
            if bot.process.returncode is None:
                bot.process.kill()


def assert_clean_exit(bot: BotProcess, code: int) -> None:
    output = bot.output()
    assert code == 0, output[-3000:]
    for text in CLEAN_EXIT_FORBIDS:
        assert text not in output, output[-3000:]
    assert "command log flushed, pools closed" in output, output[-3000:]


# -- two processes, two shards ------------------------------------------------------------------
async def test_two_bot_processes_split_the_shards_and_share_the_work(
    bot_db: Database, settings: Settings, tmp_path: Path
) -> None:
    async with fake_discord(shard_count=2) as (fake, gateway):
        first, second = RemoteGuild(fake, gateway, 0), RemoteGuild(fake, gateway, 1)
        for world in (first, second):
            await bot_db.guilds.join(world.guild_id)
        with stopped_on_exit([]) as processes:
            for shard in (0, 1):
                processes.append(await spawn(settings, fake, tmp_path, shard_ids=[shard], owner=first.mod.user_id))
            await asyncio.gather(gateway.identified(0), gateway.identified(1))
            await tempbans_expire_and_are_lifted_once(bot_db, fake, first, second)
            await a_change_through_one_is_seen_by_the_other(first, second)

            async def all_logged() -> bool:  # every command once, by the process that ran it
                logged = [await w.logged(bot_db) for w in (first, second)]
                return logged == [sorted(first.commands), sorted(second.commands)]

            await until(all_logged, "every command in the log, once")
            for bot in processes:
                assert_clean_exit(bot, await bot.terminate())
        assert sorted(first.commands) == ["gblacklist", "tempban", "tempban"]
        assert second.commands.count("reminders") >= 2


async def tempbans_expire_and_are_lifted_once(
    db: Database, fake: FakeDiscord, first: RemoteGuild, second: RemoteGuild
) -> None:
    """Tempbans in both guilds, each made by its shard's process, expire while both run: one unban each."""
    for world in (first, second):
        for person in (world.alice, world.bob):
            await world.send(world.mod, f"$tempban {person.user_id} 2s cool down")

    async def lifted() -> bool:
        closing = [await db.cases.by_type(w.guild_id, "untempban") for w in (first, second)]
        return sum(len(found) for found in closing) == 4 and not fake.bans

    await until(lifted, "every tempban to be lifted")
    for world in (first, second):
        for person in (world.alice, world.bob):
            unbans = fake.calls("DELETE", rf"/guilds/{world.guild_id}/bans/{person.user_id}")
            assert len(unbans) == 1, (world.guild_id, person.user_id, unbans)
    assert [k for k in await db.jobs.status() if k.kind == "tempban_expiry"] == []  # every job done


async def a_change_through_one_is_seen_by_the_other(first: RemoteGuild, second: RemoteGuild) -> None:
    """The owner blacklists bob through the first process; the second, which cached bob as allowed, refuses him."""
    await second.send(second.bob, "$reminders")

    async def answered() -> bool:
        return bool(second.replies("No pending reminders.")) and bool(first.replies("is blacklisted"))

    await first.send(first.mod, f"$gblacklist user {second.bob.user_id} spam")
    await until(answered, "bob's first answer and the blacklist reply")

    async def refused() -> bool:
        await second.send(second.bob, "$reminders")
        await asyncio.sleep(0.2)
        return bool(second.replies("You are blacklisted from using this bot."))

    await until(refused, "the second process to refuse bob")


# -- SIGTERM during a burst --------------------------------------------------------------------------
BURST = 60


async def test_sigterm_during_a_burst_loses_no_command_and_finishes_what_is_in_flight(
    bot_db: Database, settings: Settings, tmp_path: Path
) -> None:
    async with fake_discord(shard_count=1) as (fake, gateway):
        world = RemoteGuild(fake, gateway, 0)
        await bot_db.guilds.join(world.guild_id)
        # Two channels (discord.py sends one request at a time per channel until it learns the rate limits).
        slow_channel, job_channel = world.board_channel_id, fake.snowflake()
        held = fake.hold("POST", rf"/channels/({slow_channel}|{job_channel})/messages")
        with stopped_on_exit([]) as processes:
            bot = await spawn(settings, fake, tmp_path, shard_ids=[0], owner=world.mod.user_id)
            processes.append(bot)
            await gateway.identified(0)
            # In flight when SIGTERM comes: a command whose reply is held, and a reminder job whose delivery is.
            await world.send(world.alice, "$remind 1h held reply", channel_id=slow_channel)
            due = await bot_db.reminders.create(
                world.bob.user_id,
                content="held delivery",
                remind_at=utcnow() + timedelta(milliseconds=200),
                guild_id=world.guild_id,
                channel_id=job_channel,
            )
            await until(lambda: _true(len(held.arrived) == 2), "the held reply and the held delivery")
            for index in range(BURST):
                await world.send(world.alice, f"$remind 1h burst {index}")
            await until(lambda: _true(len(world.replies("Reminder #")) >= BURST // 4), "the burst to be under way")
            bot.process.send_signal(signal.SIGTERM)
            await bot.wait_for_line(SHUTDOWN_BEGAN)
            for index in range(5):  # arrive after the shutdown began: these never start
                await world.send(world.alice, f"$remind 1h late {index}")
            held.release()
            code = await asyncio.wait_for(bot.process.wait(), timeout=60)
            assert_clean_exit(bot, code)

        reminders = await bot_db.reminders.list_for_user(world.alice.user_id, limit=100)
        started = {r.content for r in reminders}
        rows = await bot_db.logs.recent_commands(guild_id=world.guild_id, limit=100)
        answered = world.replies("Reminder #") + world.replies("Reminder #", slow_channel)
        assert "held reply" in started  # the in-flight command finished: its row, its reply
        assert len(rows) == len(started) == len(answered), (len(rows), len(started), len(answered))
        assert all(r.command == "remind" and r.is_success for r in rows)
        assert not any(content.startswith("late") for content in started)
        delivered = await bot_db.reminders.get(due.reminder_id)
        assert delivered is not None
        assert delivered.status is ReminderStatus.SENT  # the in-flight job finished, once
        assert [text for text in fake.texts(job_channel) if "held delivery" in text] == [
            f"<@{world.bob.user_id}> ⏰ reminder #{due.reminder_id}: held delivery"
        ]


async def _true(value: bool) -> bool:
    return value
