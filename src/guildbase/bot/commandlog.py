"""Every prefix and slash command, recorded once in ``db.logs`` with its duration and outcome.

The bot calls ``record`` from exactly two events: ``on_command_completion`` (success)
and ``on_command_error`` (failure, including a refusal by the global check). Hybrid
commands invoked as slash commands raise the same two events, so each invocation
is one row. The duration runs from the moment discord.py built the context
(``GuildbaseContext.started``) to the event. Rows go through the facade's buffered
writer; ``Database.close`` (and so the bot's shutdown) writes out what is queued.
The same two events feed the process's runtime metrics (``guildbase.metrics``:
the latency histogram per command and the error counter), whatever the log does.
"""

import logging
import time
from typing import Any

from discord.ext import commands

from guildbase import Database, GuildbaseError
from guildbase.metrics import RuntimeMetrics

log = logging.getLogger("guildbase.bot")
PARAM_MAX_LENGTH = 200


def _params(ctx: commands.Context[Any]) -> dict[str, str]:
    """The parsed arguments by name, as short strings (IDs of Discord objects, not their repr).

    Prefix invocations pass positional arguments in ``ctx.args`` (after the cog and the
    context); slash invocations pass everything in ``ctx.kwargs``. A command declared with
    ``extras={"log_params": False}`` keeps its arguments out of the log (the privacy
    erase: its argument is the user being erased, who must not reappear in the log).
    """
    assert ctx.command is not None  # noqa: S101 - only called for commands
    if ctx.command.extras.get("log_params") is False:
        return {}
    skip = 2 if ctx.command.cog is not None else 1
    named = dict(zip(ctx.command.clean_params, ctx.args[skip:], strict=False)) | ctx.kwargs
    shown: dict[str, str] = {}
    for name, value in named.items():
        text = str(getattr(value, "id", value))
        shown[name] = text[:PARAM_MAX_LENGTH]
    return shown


class CommandLog:
    """Writes one ``command_log`` row per invocation; a logging failure never breaks a command."""

    def __init__(self, db: Database, metrics: RuntimeMetrics | None = None) -> None:
        self.db = db
        self.metrics = metrics

    async def record(self, ctx: commands.Context[Any], error: BaseException | None = None) -> None:
        """Queue the row for ``ctx``; ``error`` None means success."""
        if ctx.command is None:
            return
        started = getattr(ctx, "started", None)
        seconds = 0.0 if started is None else max(0.0, time.perf_counter() - started)
        duration_ms = round(seconds * 1000)
        if self.metrics is not None:
            self.metrics.observe_command(ctx.command.qualified_name, seconds, error=error)
        try:
            await self.db.logs.record_command(
                ctx.author.id,
                ctx.command.qualified_name,
                guild_id=None if ctx.guild is None else ctx.guild.id,
                channel_id=ctx.channel.id,
                params=_params(ctx),
                success=error is None,
                error=None if error is None else f"{type(error).__name__}: {error}",
                duration_ms=duration_ms,
            )
        except GuildbaseError:
            log.exception("command log row for %s was refused", ctx.command.qualified_name)
