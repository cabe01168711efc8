"""The global check that runs before every command.

In this order:

1. the global blacklist (user): a blacklisted user is refused everywhere;
2. the global blacklist (guild): every command in a blacklisted guild is refused;
3. the guild-level blacklist (``db.members.set_blacklisted``);
4. the feature toggle of the command's cog (``GuildbaseCog.feature``), if it has one.

The permissions issue adds its step here, after 4. Every command of the reference
bot is a hybrid command, so ``bot.check`` covers slash invocations too (discord.py
runs a hybrid command's global checks for interactions). A refusal raises
``BlockedError`` with the sentence the user sees; the error mapper sends it
(ephemeral for slash) and the command log records it as a failure.
"""

from typing import TYPE_CHECKING, Any

from discord.ext import commands

from guildbase.bot.errors import BlockedError

if TYPE_CHECKING:
    from guildbase.bot.bot import GuildbaseBot


async def refusal(bot: "GuildbaseBot", ctx: commands.Context[Any]) -> str | None:
    """Why ``ctx`` may not run, or None when it may."""
    db = bot.db
    if await db.blacklist.is_blacklisted("user", ctx.author.id):
        return "You are blacklisted from using this bot."
    if ctx.guild is None:
        return None
    if await db.blacklist.is_blacklisted("guild", ctx.guild.id):
        return "This server is blacklisted from using this bot."
    if await db.members.is_blacklisted(ctx.guild.id, ctx.author.id):
        return "You are blocked from using this bot in this server."
    feature = getattr(ctx.cog, "feature", None)
    if feature is not None and not await db.guild_config.is_enabled(ctx.guild.id, feature):
        return f"The {feature} feature is turned off in this server (`feature {feature} on` turns it on)."
    return None


def global_check(bot: "GuildbaseBot") -> Any:
    """The ``bot.check`` predicate: raises ``BlockedError`` with the reason, else True."""

    async def predicate(ctx: commands.Context[Any]) -> bool:
        reason = await refusal(bot, ctx)
        if reason is not None:
            raise BlockedError(reason)
        return True

    return predicate


async def ignores_author(bot: "GuildbaseBot", user_id: int, guild_id: int | None) -> bool:
    """Whether message listeners (AFK, XP) skip this author: globally blacklisted user or guild.

    Two in-memory answers on the hot path (the facade caches the live blacklist).
    """
    if await bot.db.blacklist.is_blacklisted("user", user_id):
        return True
    return guild_id is not None and await bot.db.blacklist.is_blacklisted("guild", guild_id)
