"""``GuildbaseBot``: the reference discord.py bot, an ``AutoShardedBot`` on the guildbase facade.

What it wires, once, for every cog:

- prefixes from ``db.guild_config`` (cached), plus a mention of the bot;
- guild records: ``db.guilds.join`` whenever a guild becomes available or is joined;
- the global check (``guildbase.bot.checks``) before every command;
- one error mapper (``guildbase.bot.errors``) answering every failed command;
- the command log (``guildbase.bot.commandlog``) from the completion and error events;
- the Discord event trail (``cogs/events.py``: joins, updates, reactions, voice, invites) into ``db.events``;
- ``acting_as(author)`` around every command, so audit columns name the invoker;
- the job worker for the Discord side of timed work (``guildbase.bot.jobs``);
- shutdown: ``close`` stops the worker (running jobs finish), then closes the
  facade, which writes out the buffered command log, then the gateway.

The REST base URL comes from ``GUILDBASE_DISCORD_API_URL`` (``discord.http.Route.BASE``,
which webhooks and interaction responses share), so tests run against a local fake.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from typing import Any

import discord
from discord.ext import commands

from guildbase import Database, NotFoundError, acting_as
from guildbase.bot.checks import global_check
from guildbase.bot.cog import GuildbaseCog
from guildbase.bot.commandlog import CommandLog
from guildbase.bot.errors import ErrorMapper
from guildbase.bot.settings import BotSettings

log = logging.getLogger("guildbase.bot")
COMMAND_TASKS = ("discord.py: on_message", "CommandTree-invoker")
"""Names discord.py gives the tasks that run prefix commands (and message listeners) and app commands."""


class GuildbaseContext(commands.Context["GuildbaseBot"]):
    """A context that remembers when it was built (the command log's start time)."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.started = time.perf_counter()
        self.acting: contextlib.ExitStack | None = None


def point_rest_at(base_url: str) -> None:
    """Send every REST call (and interaction/webhook call) of this process to ``base_url``."""
    discord.http.Route.BASE = base_url


def default_cogs() -> list[type[GuildbaseCog]]:
    """One cog per domain, in load order."""
    from guildbase.bot.cogs import COGS  # noqa: PLC0415 - cogs import the bot module's types

    return list(COGS)


class GuildbaseBot(commands.AutoShardedBot):
    """The bot; pass ``db`` to share an already connected facade (tests, embedding)."""

    def __init__(
        self,
        settings: BotSettings,
        *,
        db: Database | None = None,
        cogs: Iterable[type[GuildbaseCog]] | None = None,
        run_jobs: bool | None = None,
    ) -> None:
        super().__init__(
            command_prefix=_prefixes,
            intents=settings.intents(),
            owner_ids=set(settings.owner_ids),
            shard_count=settings.bot_shard_count,
            shard_ids=settings.bot_shard_ids or None,  # type: ignore[arg-type] # None means all shards
            chunk_guilds_at_startup=False,
            allowed_mentions=discord.AllowedMentions(everyone=False, roles=False, users=True, replied_user=False),
        )
        self.settings = settings
        self.db = db or Database(settings)
        self._owns_db = db is None
        self.errors = ErrorMapper()
        self.command_log = CommandLog(self.db)
        self._cog_types = default_cogs() if cogs is None else list(cogs)
        self._run_jobs = settings.bot_run_jobs if run_jobs is None else run_jobs
        self.jobs: Any = None
        if settings.discord_api_url:
            point_rest_at(settings.discord_api_url)

    # -- lifecycle ---------------------------------------------------------------------
    async def setup_hook(self) -> None:
        """Connect the facade, install the global check and hooks, load the cogs, start jobs."""
        await self.db.connect()
        self.add_check(global_check(self))
        self.before_invoke(_act_as_author)
        self.after_invoke(_stop_acting)
        for cog in self._cog_types:
            await self.add_cog(cog(self))
        if self._run_jobs:
            from guildbase.bot.jobs import BotJobs  # noqa: PLC0415 - only bots that run jobs load the runner

            self.jobs = BotJobs(self)
            self.jobs.start()

    async def close(self) -> None:
        """Stop the job worker, let in-flight commands finish, close the gateway, flush the command log.

        In-flight commands get the jobs' shutdown grace (``GUILDBASE_JOBS_SHUTDOWN_TIMEOUT_SECONDS``)
        while the HTTP session is still open, so their replies and rows are not lost.
        """
        if self.jobs is not None:
            await self.jobs.stop()
        await self._drain_commands(self.settings.jobs_shutdown_timeout_seconds)
        await super().close()
        await self.db.logs.flush()
        await self.db.events.flush()
        if self._owns_db:
            await self.db.close()

    async def _drain_commands(self, grace: float) -> None:
        """Wait (at most ``grace`` seconds) for the tasks running commands and listeners."""
        current = asyncio.current_task()
        running = [
            task
            for task in asyncio.all_tasks()
            if task is not current and not task.done() and task.get_name().startswith(COMMAND_TASKS)
        ]
        if running:
            log.info("waiting for %s in-flight commands before closing", len(running))
            await asyncio.wait(running, timeout=grace)

    async def get_context(self, origin: Any, /, *, cls: Any = GuildbaseContext) -> Any:
        return await super().get_context(origin, cls=cls)

    # -- events --------------------------------------------------------------------------
    async def on_guild_available(self, guild: discord.Guild) -> None:
        await self.db.guilds.join(guild.id, name=guild.name)

    async def on_guild_join(self, guild: discord.Guild) -> None:
        await self.db.guilds.join(guild.id, name=guild.name)

    async def on_command_completion(self, ctx: commands.Context[Any]) -> None:
        await self.command_log.record(ctx)

    async def on_command_error(self, ctx: commands.Context[Any], error: commands.CommandError) -> None:
        """Answer through the error mapper, then log the failure (once)."""
        _release_actor(ctx)
        if isinstance(error, commands.CommandNotFound):
            return
        name = ctx.command.qualified_name if ctx.command else "?"
        reply = self.errors.reply_for(error, context=f"command {name} (guild {ctx.guild and ctx.guild.id})")
        try:
            await ctx.send(reply.text, ephemeral=True)
        except discord.HTTPException:
            log.warning("could not send the error reply for %s", name)
        await self.command_log.record(ctx, error)


async def _prefixes(bot: GuildbaseBot, message: discord.Message) -> list[str]:
    prefixes = [bot.settings.bot_default_prefix]
    if message.guild is not None:
        try:
            prefixes = await bot.db.guild_config.get_prefixes(message.guild.id)
        except NotFoundError:
            await bot.db.guilds.join(message.guild.id, name=message.guild.name)
            prefixes = await bot.db.guild_config.get_prefixes(message.guild.id)
    return commands.when_mentioned_or(*prefixes)(bot, message)


async def _act_as_author(ctx: commands.Context[Any]) -> None:
    stack = contextlib.ExitStack()
    stack.enter_context(acting_as(ctx.author.id))
    ctx.acting = stack  # type: ignore[attr-defined]


async def _stop_acting(ctx: commands.Context[Any]) -> None:
    """After-hook: runs in the command's own task, so the actor is reset exactly."""
    _release_actor(ctx)


def _release_actor(ctx: commands.Context[Any]) -> None:
    """End ``acting_as`` for ``ctx`` once.

    A hybrid command invoked by slash skips its after-hooks when it fails, so the
    error event releases it too, from another task: the context variable's reset
    then refuses (``ValueError``), which is harmless because the command's task and
    its context are gone. Closing here keeps the context manager from being
    finalized later, at an arbitrary point, by the garbage collector.
    """
    stack = getattr(ctx, "acting", None)
    if stack is not None:
        ctx.acting = None  # type: ignore[attr-defined]
        with contextlib.suppress(ValueError):
            stack.close()


async def run(settings: BotSettings) -> None:
    """Run the bot until SIGTERM/SIGINT, then shut down cleanly (``guildbase bot``)."""
    import signal  # noqa: PLC0415

    if settings.discord_token is None:
        from guildbase.errors import ConfigurationError  # noqa: PLC0415

        msg = "DISCORD_TOKEN: set the bot token (or GUILDBASE_DISCORD_TOKEN)"
        raise ConfigurationError(msg)
    bot = GuildbaseBot(settings)
    loop = asyncio.get_running_loop()
    stopping: list[asyncio.Task[None]] = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, lambda: stopping.append(loop.create_task(bot.close())))
    async with bot:
        await bot.start(settings.discord_token.get_secret_value())
    for task in stopping:
        await task
