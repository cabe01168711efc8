"""Blacklist cog: the global blacklist (owners only) and the per-server block list (Manage Server).

The global check (``guildbase.bot.checks``) reads both before every command.
"""

from typing import Literal

import discord
from discord.ext import commands

from guildbase.bot.cog import Ctx, GuildbaseCog, hybrid
from guildbase.bot.ui import chunk_pages, send_pages, timestamp

Target = Literal["user", "guild"]


class BlacklistCog(GuildbaseCog, name="Blacklist"):
    """Who may not use the bot."""

    @hybrid(name="gblacklist")
    @commands.is_owner()
    async def global_add(self, ctx: Ctx, target: Target, target_id: str, *, reason: str | None = None) -> None:
        """Blacklist a user or a server everywhere (owners only)."""
        entry = await self.db.blacklist.add(target, _id(target_id), reason=reason, author_id=ctx.author.id)
        await ctx.send(f"{target} {entry.target_id} is blacklisted.")

    @hybrid(name="gunblacklist")
    @commands.is_owner()
    async def global_remove(self, ctx: Ctx, target: Target, target_id: str) -> None:
        """Lift a global blacklist entry (owners only)."""
        removed = await self.db.blacklist.remove(target, _id(target_id))
        await ctx.send(f"{target} {target_id} {'is no longer blacklisted' if removed else 'was not blacklisted'}.")

    @hybrid(name="gblacklisted")
    @commands.is_owner()
    async def global_list(self, ctx: Ctx, target: Target | None = None) -> None:
        """Every live global blacklist entry (owners only)."""
        entries = await self.db.blacklist.list_active(target)
        lines = [
            f"{e.target.value} `{e.target_id}` — {e.reason or 'no reason'} (until {timestamp(e.expires_at)})"
            for e in entries
        ]
        await send_pages(ctx, chunk_pages("Global blacklist", lines, empty="Nobody is blacklisted."))

    @hybrid(name="block")
    @commands.guild_only()
    @commands.has_guild_permissions(manage_guild=True)
    async def block(self, ctx: Ctx, member: discord.Member, *, reason: str | None = None) -> None:
        """Stop a member from using the bot in this server."""
        assert ctx.guild is not None  # noqa: S101
        await self.db.members.set_blacklisted(ctx.guild.id, member.id, blacklisted=True, reason=reason)
        await ctx.send(f"{member.display_name} can no longer use the bot here.")

    @hybrid(name="unblock")
    @commands.guild_only()
    @commands.has_guild_permissions(manage_guild=True)
    async def unblock(self, ctx: Ctx, member: discord.Member) -> None:
        """Let a blocked member use the bot here again."""
        assert ctx.guild is not None  # noqa: S101
        await self.db.members.set_blacklisted(ctx.guild.id, member.id, blacklisted=False)
        await ctx.send(f"{member.display_name} can use the bot here again.")


def _id(text: str) -> int:
    """A Discord ID typed by a person; the facade checks it is a plausible snowflake."""
    if not text.isdigit():
        raise commands.BadArgument(f"`{text}` is not a Discord ID.")
    return int(text)
