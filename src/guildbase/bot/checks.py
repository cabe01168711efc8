"""The global check that runs before every command.

In this order:

1. the global blacklist (user): a blacklisted user is refused everywhere;
2. the global blacklist (guild): every command in a blacklisted guild is refused;
3. the guild-level blacklist (``db.members.set_blacklisted``);
4. the feature toggle of the command's cog (``GuildbaseCog.feature``), if it has one;
5. ``db.permissions.check``: the guild's ranks and access rules (``docs/permissions.md``);
   a refusal says which rule or rank decided it.

Every command of the reference
bot is a hybrid command, so ``bot.check`` covers slash invocations too (discord.py
runs a hybrid command's global checks for interactions). A refusal raises
``BlockedError`` with the sentence the user sees; the error mapper sends it
(ephemeral for slash) and the command log records it as a failure.
"""

from typing import TYPE_CHECKING, Any

import discord
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
    return await permission_refusal(bot, ctx)


async def permission_refusal(bot: "GuildbaseBot", ctx: commands.Context[Any]) -> str | None:
    """Step 5: the guild's ranks and rules (``db.permissions.check``, which logs the check)."""
    assert ctx.guild is not None  # noqa: S101 - refusal() answered for direct messages
    decision = await bot.db.permissions.check(ctx.guild.id, ctx.author.id, **await use_of(bot, ctx, ctx.author))
    if decision.allowed:
        return None
    return f"You can't use `{ctx.command.qualified_name if ctx.command else '?'}` here: {decision.reason()}."


async def use_of(
    bot: "GuildbaseBot", ctx: commands.Context[Any], who: Any, channel: Any = None, command: Any = None
) -> dict[str, Any]:
    """The context ``db.permissions.check`` takes for ``who`` running ``command`` in ``channel``.

    Defaults: the invoking command in the invoking channel. Roles go highest
    first; a thread's parent is the channel level's second entry.
    """
    channel = ctx.channel if channel is None else channel
    command = ctx.command if command is None else command
    guild = ctx.guild
    parent = getattr(channel, "parent", None) if isinstance(channel, discord.Thread) else None
    holder = parent if parent is not None else channel
    category_id = getattr(holder, "category_id", None)
    voice = getattr(getattr(who, "voice", None), "channel", None)
    cog = command.cog if command is not None else None
    return {
        "command": command.qualified_name if command is not None else "?",
        "role_ids": tuple(role.id for role in reversed(getattr(who, "roles", ()))),
        "channel_id": getattr(channel, "id", None),
        "parent_id": None if parent is None else parent.id,
        "category_id": category_id,
        "voice_channel_id": None if voice is None else voice.id,
        "module": None if cog is None else cog.qualified_name,
        "feature": getattr(cog, "feature", None),
        "is_guild_owner": guild is not None and guild.owner_id == who.id,
        "is_bot_owner": await bot.is_owner(who),
    }


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
