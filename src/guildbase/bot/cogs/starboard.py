"""Starboard cog: reaction listeners → ``starboard.add_star`` / ``remove_star`` → post, edit or delete.

The facade decides (idempotent stars, race-free counts, ``crossed_up`` /
``crossed_down``); the cog only mirrors the decision on the board channel and
remembers the posted message with ``set_posted_message``.
"""

import contextlib

import discord
from discord.ext import commands

from guildbase import StarboardRead, StarChange
from guildbase.bot.cog import Ctx, GuildbaseCog, hybrid


def board_content(emoji: str, count: int, channel_id: int) -> str:
    """The line above a board post: ``⭐ 3 | <#channel>``."""
    return f"{emoji} **{count}** | <#{channel_id}>"


def board_embed(message: discord.Message) -> discord.Embed:
    """The copy of a starred message on the board."""
    result = discord.Embed(description=message.content or None, colour=discord.Colour.gold())
    result.set_author(name=message.author.display_name, icon_url=message.author.display_avatar.url)
    result.add_field(name="Source", value=f"[Jump]({message.jump_url})")
    result.timestamp = message.created_at
    return result


class StarboardCog(GuildbaseCog, name="Starboard"):
    """Messages the server starred (feature: starboard)."""

    feature = "starboard"

    @hybrid(name="starboard")
    @commands.guild_only()
    @commands.has_guild_permissions(manage_guild=True)
    async def configure(self, ctx: Ctx, channel: discord.TextChannel, threshold: int = 3, emoji: str = "⭐") -> None:
        """Create or change the starboard: where starred messages go and how many stars they need."""
        assert ctx.guild is not None  # noqa: S101
        board = await self.db.starboard.configure(ctx.guild.id, channel_id=channel.id, threshold=threshold, emoji=emoji)
        await ctx.send(f"Starboard: {channel.mention}, {board.threshold} x {board.emoji}.")

    async def _board(self, payload: discord.RawReactionActionEvent) -> StarboardRead | None:
        if payload.guild_id is None or not await self.enabled(payload.guild_id):
            return None
        board = await self.db.starboard.get_config(payload.guild_id)
        return board if board is not None and str(payload.emoji) == board.emoji else None

    @commands.Cog.listener()
    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        board = await self._board(payload)
        if board is None or payload.guild_id is None or payload.message_author_id is None:
            return
        change = await self.db.starboard.add_star(
            payload.guild_id,
            payload.message_id,
            payload.user_id,
            channel_id=payload.channel_id,
            author_id=payload.message_author_id,
        )
        await self._mirror(board, change, payload.channel_id)

    @commands.Cog.listener()
    async def on_raw_reaction_remove(self, payload: discord.RawReactionActionEvent) -> None:
        board = await self._board(payload)
        if board is None or payload.guild_id is None:
            return
        change = await self.db.starboard.remove_star(payload.guild_id, payload.message_id, payload.user_id)
        await self._mirror(board, change, payload.channel_id)

    async def _mirror(self, board: StarboardRead, change: StarChange, source_channel_id: int) -> None:
        """Post on the way up, delete on the way down, edit the count otherwise."""
        if not change.is_changed:
            return
        target = self.bot.get_partial_messageable(board.channel_id)
        content = board_content(board.emoji, change.star_count, source_channel_id)
        if change.crossed_up and change.posted_message_id is None:
            source = await self.bot.get_partial_messageable(source_channel_id).fetch_message(change.message_id)
            posted = await target.send(content, embed=board_embed(source))
            await self.db.starboard.set_posted_message(change.guild_id, change.message_id, posted.id)
        elif change.crossed_down and change.posted_message_id is not None:
            with contextlib.suppress(discord.NotFound):  # deleted by hand: forgetting it is all that is left
                await target.get_partial_message(change.posted_message_id).delete()
            await self.db.starboard.set_posted_message(change.guild_id, change.message_id, None)
        elif change.posted_message_id is not None:
            await target.get_partial_message(change.posted_message_id).edit(content=content)
