"""AFK cog: set it; the member's next message clears it; mentioning an AFK member gets a note.

The listener costs one facade call per message (``afk.get_many`` for the author
and every mention, one primary-key query) and writes only when an AFK ends.
"""

import discord
from discord.ext import commands

from guildbase.bot.checks import ignores_author
from guildbase.bot.cog import Ctx, GuildbaseCog, hybrid
from guildbase.bot.ui import timestamp

AFK_COMMANDS = frozenset({"afk"})


class AFKCog(GuildbaseCog, name="AFK"):
    """Away status (feature: afk)."""

    feature = "afk"

    @hybrid(name="afk")
    @commands.guild_only()
    async def afk(self, ctx: Ctx, *, reason: str = "AFK") -> None:
        """Mark yourself away; your next message ends it."""
        assert ctx.guild is not None  # noqa: S101 - guild_only
        nickname = getattr(ctx.author, "nick", None)
        await self.db.afk.set(ctx.guild.id, ctx.author.id, reason=reason, nickname=nickname)
        await ctx.send(f"{ctx.author.mention} is now AFK: {reason}")

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        """End the author's AFK (unless this message sets it) and note mentioned AFK members."""
        if message.guild is None or message.author.bot:
            return
        mentioned = [user.id for user in message.mentions if user.id != message.author.id][:100]
        if await ignores_author(self.bot, message.author.id, message.guild.id) or not await self.enabled(
            message.guild.id
        ):
            return
        away = await self.db.afk.get_many(message.guild.id, [message.author.id, *mentioned])
        if not away:
            return
        if message.author.id in away and not away[message.author.id].is_enforced and not await self._sets_afk(message):
            await self.db.afk.clear(message.guild.id, message.author.id)
            await message.channel.send(f"Welcome back {message.author.mention}, your AFK has ended.")
        notes = [
            f"{_name(message.guild, uid)} is AFK: {away[uid].reason} (since {timestamp(away[uid].since)})"
            for uid in mentioned
            if uid in away
        ]
        if notes:
            await message.channel.send("\n".join(notes))

    async def _sets_afk(self, message: discord.Message) -> bool:
        ctx = await self.bot.get_context(message)
        return ctx.command is not None and ctx.command.qualified_name in AFK_COMMANDS


def _name(guild: discord.Guild, user_id: int) -> str:
    """The member's display name, without pinging anyone."""
    member = guild.get_member(user_id)
    return discord.utils.escape_mentions(member.display_name) if member else f"User {user_id}"
