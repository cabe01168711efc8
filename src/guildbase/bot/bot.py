"""``GuildbaseBot``: the reference discord.py bot, an ``AutoShardedBot`` on the guildbase facade.

What it wires, once, for every cog:

- prefixes from ``db.guild_config`` (cached), plus a mention of the bot;
- guild records: ``db.guilds.join`` whenever a guild becomes available or is joined;
- the global check (``guildbase.bot.checks``) before every command;
- one error mapper (``guildbase.bot.errors``) answering every failed command, and
  every unexpected error recorded in the error log (``db.logs.record_error``)
  under the error ID its reply shows, and every refusal for want of a permission,
  a role or ownership recorded as an ``access_denied`` security event (``db.security``);
- the command log (``guildbase.bot.commandlog``) from the completion and error events, which
  also feed the runtime metrics (``guildbase.metrics``: ``/metrics`` on ``GUILDBASE_METRICS_PORT``);
- the Discord event trail (``cogs/events.py``: joins, updates, reactions, voice, invites) into ``db.events``;
- ``acting_as(author)`` and ``audit_context("bot", <message or interaction ID>)``
  around every command, so audit columns and audit rows name the invoker, the
  source and the invocation (guild joins from gateway events are audited as the bot too);
- the job worker for the Discord side of timed work (``guildbase.bot.jobs``);
- shutdown (``close``, which SIGTERM and SIGINT call in ``guildbase bot``), once,
  in this order: stop taking new work (gateway events that would start a
  command or a listener are dropped, slash commands are told to retry); let
  the commands and listeners already running finish while the job worker
  finishes its running jobs (both within ``GUILDBASE_JOBS_SHUTDOWN_TIMEOUT_SECONDS``),
  with the HTTP session still open for their replies; close the gateway and
  HTTP; write out the buffered command log and close the pools. Every command
  that started is answered and logged; one that arrives after the start of
  the shutdown never starts.

The REST base URL comes from ``GUILDBASE_DISCORD_API_URL`` (``discord.http.Route.BASE``,
which webhooks and interaction responses share) and the gateway URL from
``GUILDBASE_DISCORD_GATEWAY_URL``, so tests run against a local fake.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from typing import Any

import discord
import yarl
from discord import app_commands
from discord.ext import commands

from guildbase import AuditSource, Database, NotFoundError, acting_as, audit_context
from guildbase.bot.checks import global_check
from guildbase.bot.cog import GuildbaseCog
from guildbase.bot.commandlog import CommandLog
from guildbase.bot.errors import ErrorMapper, unwrap
from guildbase.bot.settings import BotSettings
from guildbase.errors import PermissionDeniedError
from guildbase.metrics import RuntimeMetrics
from guildbase.models.security import SecurityEventKind

log = logging.getLogger("guildbase.bot")
_DENIALS = (
    commands.MissingPermissions,
    commands.MissingRole,
    commands.MissingAnyRole,
    commands.NotOwner,
    PermissionDeniedError,
)
"""Refusals recorded as ``access_denied`` security events (R10.4); a blocked user is not (it is its own record)."""
COMMAND_TASKS = ("discord.py:", "CommandTree-invoker")
"""Names discord.py gives the tasks that run event listeners (prefix commands among them) and app commands."""
INTAKE_EVENTS = frozenset(
    {"message", "raw_reaction_add", "raw_reaction_remove", "member_join", "guild_join", "guild_available"}
)
"""Gateway events that start work; dropped once the shutdown has begun."""


class GuildbaseContext(commands.Context["GuildbaseBot"]):
    """A context that remembers when it was built (the command log's start time)."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.started = time.perf_counter()
        self.acting: contextlib.ExitStack | None = None


def point_rest_at(base_url: str) -> None:
    """Send every REST call (and interaction/webhook call) of this process to ``base_url``."""
    discord.http.Route.BASE = base_url


def point_gateway_at(url: str) -> None:
    """Connect (and reconnect) every shard of this process to the gateway at ``url``."""
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)


class GuildbaseTree(app_commands.CommandTree["GuildbaseBot"]):
    """The slash command tree: during the shutdown, a new slash command is told to retry instead of started."""

    async def interaction_check(self, interaction: discord.Interaction["GuildbaseBot"], /) -> bool:
        if self.client.accepting:
            return True
        if interaction.type is discord.InteractionType.application_command:
            await interaction.response.send_message("I am restarting; try again in a moment.", ephemeral=True)
        return False


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
            tree_cls=GuildbaseTree,
        )
        self.settings = settings
        self.db = db or Database(settings)
        self._owns_db = db is None
        self.errors = ErrorMapper()
        self.metrics = RuntimeMetrics(self.db, role="bot", settings=settings)
        """Prometheus endpoint and samples (``guildbase.metrics``); started with the bot, off by default."""
        self.command_log = CommandLog(self.db, self.metrics)
        self._cog_types = default_cogs() if cogs is None else list(cogs)
        self._run_jobs = settings.bot_run_jobs if run_jobs is None else run_jobs
        self.jobs: Any = None
        self.accepting = True
        """False once the shutdown has begun: no new command or listener starts."""
        self._shutdown: asyncio.Task[None] | None = None
        if settings.discord_api_url:
            point_rest_at(settings.discord_api_url)
        if settings.discord_gateway_url:
            point_gateway_at(settings.discord_gateway_url)

    # -- lifecycle ---------------------------------------------------------------------
    async def setup_hook(self) -> None:
        """Connect the facade, install the global check and hooks, load the cogs, start jobs."""
        await self.db.connect()
        await self.metrics.start()
        self.add_check(global_check(self))
        self.before_invoke(_act_as_author)
        self.after_invoke(_stop_acting)
        for cog in self._cog_types:
            await self.add_cog(cog(self))
        # The command tree rules and ranks are validated against, in every process (db.permissions).
        await self.db.permissions.register_commands({c.qualified_name: c.cog_name for c in self.walk_commands()})
        if self._run_jobs:
            from guildbase.bot.jobs import BotJobs  # noqa: PLC0415 - only bots that run jobs load the runner

            self.jobs = BotJobs(self)
            self.jobs.start()

    async def close(self) -> None:
        """Shut down once (see the module docstring); later calls wait for the same shutdown."""
        if self._shutdown is None:
            self._shutdown = asyncio.get_running_loop().create_task(self._close(), name="guildbase-bot-shutdown")
        await asyncio.shield(self._shutdown)

    async def _close(self) -> None:
        self.accepting = False
        grace = self.settings.jobs_shutdown_timeout_seconds
        finished = await asyncio.gather(self._drain_commands(grace), self._stop_jobs())
        await super().close()
        await self.metrics.stop()  # its last sample is written before the pools close
        if self._owns_db:
            await self.db.close()  # writes out the buffered command log and event trail first
        else:
            await self.db.logs.flush()
            await self.db.events.flush()
            await self.db.permissions.flush()
        log.info(
            "guildbase bot stopped: %s in-flight commands finished; command log flushed, pools closed", finished[0]
        )

    async def _stop_jobs(self) -> None:
        if self.jobs is not None:
            await self.jobs.stop()

    async def _drain_commands(self, grace: float) -> int:
        """Wait (at most ``grace`` seconds) until no command or listener task is left; how many there were.

        Checked again after each wait: a running listener may itself have started a command.
        """
        current = asyncio.current_task()
        deadline = asyncio.get_running_loop().time() + grace
        waited: set[asyncio.Task[Any]] = set()
        while True:
            running = {
                task
                for task in asyncio.all_tasks()
                if task is not current and not task.done() and task.get_name().startswith(COMMAND_TASKS)
            }
            left = deadline - asyncio.get_running_loop().time()
            if not running or left <= 0:
                if running:
                    log.warning("%s commands still running after the shutdown grace", len(running))
                return len(waited)
            if not waited:
                log.info("waiting for %s in-flight commands before closing", len(running))
            waited |= running
            await asyncio.wait(running, timeout=left)

    def dispatch(self, event_name: str, /, *args: Any, **kwargs: Any) -> None:
        """Every gateway event, except the ones that would start new work once the shutdown has begun."""
        if not self.accepting and event_name in INTAKE_EVENTS:
            return
        super().dispatch(event_name, *args, **kwargs)

    async def get_context(self, origin: Any, /, *, cls: Any = GuildbaseContext) -> Any:
        return await super().get_context(origin, cls=cls)

    # -- events --------------------------------------------------------------------------
    async def on_ready(self) -> None:
        shards = sorted(self.shards)
        log.info("guildbase bot ready: shards %s of %s, %s guilds", shards, self.shard_count, len(self.guilds))

    async def on_guild_available(self, guild: discord.Guild) -> None:
        with audit_context(AuditSource.BOT):
            await self.db.guilds.join(guild.id, name=guild.name)

    async def on_guild_join(self, guild: discord.Guild) -> None:
        with audit_context(AuditSource.BOT):
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
        if reply.error_id is not None:
            await self._record_error(ctx, error, name, reply.error_id)
        if isinstance(unwrap(error), _DENIALS):
            await self._record_denial(ctx, unwrap(error), name)
        try:
            await ctx.send(reply.text, ephemeral=True)
        except discord.HTTPException:
            log.warning("could not send the error reply for %s", name)
        await self.command_log.record(ctx, error)

    async def _record_denial(self, ctx: commands.Context[Any], error: BaseException, name: str) -> None:
        """A refused command is an ``access_denied`` security event: who, where, which command (never raises)."""
        detail: dict[str, Any] = {"command": name, "reason": type(error).__name__}
        if isinstance(error, commands.MissingPermissions):
            detail["missing"] = list(error.missing_permissions)
        try:
            await self.db.security.record(
                SecurityEventKind.ACCESS_DENIED,
                user_id=ctx.author.id,
                guild_id=ctx.guild.id if ctx.guild else None,
                detail=detail,
            )
        except Exception:  # the reply must still happen
            log.exception("could not record the access denial of %s", name)

    async def _record_error(self, ctx: commands.Context[Any], error: BaseException, name: str, error_id: str) -> None:
        """Put an unexpected error in the error log under the ID the user is shown (never raises)."""
        guild = ctx.guild
        try:
            await self.db.logs.record_error(
                unwrap(error),
                guild_id=guild.id if guild else None,
                channel_id=ctx.channel.id if ctx.channel else None,
                user_id=ctx.author.id,
                command=name,
                context={"invocation_id": str(invocation_id(ctx)), "slash": ctx.interaction is not None},
                error_id=error_id,
                shard_id=guild.shard_id if guild else None,
            )
        except Exception:  # the reply and the log line must still happen
            log.exception("could not record error %s in the error log", error_id)


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
    stack.enter_context(audit_context(AuditSource.BOT, correlation_id=str(invocation_id(ctx))))
    ctx.acting = stack  # type: ignore[attr-defined]


def invocation_id(ctx: commands.Context[Any]) -> int:
    """The Discord ID of one invocation: the interaction's for a slash command, else the message's."""
    return ctx.interaction.id if ctx.interaction is not None else ctx.message.id


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
    try:
        async with bot:
            await bot.start(settings.discord_token.get_secret_value())
    finally:
        await bot.close()  # the shutdown a signal began, or the one an error needs
