"""``GuildbaseCog``: what every cog of the reference bot shares, and its parameter helpers.

A cog holds the bot and the facade and nothing else: no sessions, no SQL. Its
``feature`` names the ``guild_feature`` toggle that gates all of its commands
(the global check reads it) and its listeners (they call ``enabled``).
"""

from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, ClassVar, cast

from discord.ext import commands

from guildbase import Database

if TYPE_CHECKING:
    from guildbase.bot.bot import GuildbaseBot

Ctx = commands.Context[Any]
"""The context type of every command (``GuildbaseContext`` at run time)."""
Callback = Callable[..., Coroutine[Any, Any, None]]


def hybrid(name: str, **attrs: Any) -> Callable[[Callback], "commands.HybridCommand[Any, ..., None]"]:
    """``commands.hybrid_command`` with a signature mypy can check (discord.py's is typed for pyright)."""
    return cast(
        "Callable[[Callback], commands.HybridCommand[Any, ..., None]]", commands.hybrid_command(name=name, **attrs)
    )


def given_or_none(converter: Any, description: str) -> Any:
    """An optional argument that must convert when it is given.

    ``X | None = None`` makes discord.py skip an argument that fails to convert
    (and pass it on to the next parameter, or drop it), so ``setchannel mod_log
    nowhere`` would clear the channel; with this default a wrong value is an error.
    """
    return commands.parameter(converter=converter, default=None, description=description)


class GuildbaseCog(commands.Cog):
    """Base of the domain cogs; ``feature`` is None for cogs that are always on."""

    feature: ClassVar[str | None] = None

    def __init__(self, bot: "GuildbaseBot") -> None:
        self.bot = bot

    @property
    def db(self) -> Database:
        """The facade the bot runs on."""
        return self.bot.db

    async def enabled(self, guild_id: int) -> bool:
        """Whether this cog's feature is on in the guild (always, for cogs without one)."""
        return self.feature is None or await self.db.guild_config.is_enabled(guild_id, self.feature)


def manage_guild_only(ctx: "commands.Context[Any]") -> bool:
    """The check of the server-settings cogs: in a server, by a member with Manage Server."""
    if ctx.guild is None:
        raise commands.NoPrivateMessage
    if not ctx.author.guild_permissions.manage_guild:  # type: ignore[union-attr]
        raise commands.MissingPermissions(["manage_guild"])
    return True
