"""Bookmarks cog: reacting with 🔖 saves the message and DMs it to you; ``bookmarks`` lists them."""

import contextlib

import discord
from discord.ext import commands

from guildbase import ConflictError
from guildbase.bot.cog import Ctx, GuildbaseCog, hybrid
from guildbase.bot.ui import chunk_pages, send_pages, timestamp

BOOKMARK_EMOJI = "🔖"


class BookmarksCog(GuildbaseCog, name="Bookmarks"):
    """Saved messages (feature: bookmarks)."""

    feature = "bookmarks"

    @commands.Cog.listener()
    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        """Save the message for the reacting user and DM them a copy.

        Discord sends one add event per user and emoji, so a DM per event is a DM per
        deliberate 🔖 (removing and adding it again sends another copy); the row is
        saved once whatever the repeats.
        """
        if payload.guild_id is None or str(payload.emoji) != BOOKMARK_EMOJI or payload.user_id == self.bot.user.id:  # type: ignore[union-attr]
            return
        if not await self.enabled(payload.guild_id):
            return
        message = await self.bot.get_partial_messageable(payload.channel_id).fetch_message(payload.message_id)
        with contextlib.suppress(ConflictError):  # saved before: the copy is sent again all the same
            await self.db.bookmarks.add(
                payload.guild_id,
                payload.user_id,
                message.id,
                channel_id=message.channel.id,
                author_id=message.author.id,
                content=message.content,
            )
        user = self.bot.get_user(payload.user_id) or await self.bot.fetch_user(payload.user_id)
        copy = discord.Embed(description=message.content or "*(no text)*", colour=discord.Colour.blurple())
        copy.set_author(name=message.author.display_name)
        copy.add_field(name="Source", value=f"[Jump]({message.jump_url})")
        try:
            await user.send("🔖 Bookmarked:", embed=copy)
        except discord.Forbidden:
            return  # DMs closed: the bookmark is saved all the same

    @hybrid(name="bookmarks")
    async def bookmarks(self, ctx: Ctx) -> None:
        """Your bookmarks in this server, newest first."""
        found = await self.db.bookmarks.list_for_user(
            ctx.author.id, guild_id=None if ctx.guild is None else ctx.guild.id, limit=100
        )
        lines = [
            f"{timestamp(b.created_at)} https://discord.com/channels/{b.guild_id}/{b.channel_id}/{b.message_id}"
            f"\n> {b.excerpt or '*(no text)*'}"
            for b in found
        ]
        await send_pages(ctx, chunk_pages("Your bookmarks", lines, size=5, empty="No bookmarks yet."), ephemeral=True)

    @hybrid(name="unbookmark")
    async def unbookmark(self, ctx: Ctx, message_id: str) -> None:
        """Remove one of your bookmarks (by message ID)."""
        if not message_id.isdigit():
            raise commands.BadArgument(f"`{message_id}` is not a message ID.")
        removed = await self.db.bookmarks.delete(ctx.author.id, int(message_id))
        await ctx.send("Bookmark removed." if removed else "You had no bookmark of that message.", ephemeral=True)
