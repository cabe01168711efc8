"""Levels cog: XP on every message, rank, leaderboards per period, level roles, XP admin.

The message listener makes one facade call (``award_message_xp``: cooldown, XP
range, multipliers and level roles are decided in SQL) and acts on what it
returns: a level-up message and the reward roles to add or remove.
"""

from datetime import UTC, datetime
from typing import Literal

import discord
from discord.ext import commands

from guildbase.bot.checks import ignores_author
from guildbase.bot.cog import Ctx, GuildbaseCog, hybrid
from guildbase.bot.ui import chunk_pages, embed, send_pages

PeriodName = Literal["all", "month", "week", "day"]
BOARD_SIZE = 100


class LevelsCog(GuildbaseCog, name="Levels"):
    """XP and levels (feature: levels)."""

    feature = "levels"

    async def cog_check(self, ctx: Ctx) -> bool:
        if ctx.guild is None:
            raise commands.NoPrivateMessage
        return True

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        """Award XP for a message; announce a level-up and apply reward roles."""
        if message.guild is None or message.author.bot or not isinstance(message.author, discord.Member):
            return
        if await ignores_author(self.bot, message.author.id, message.guild.id) or not await self.enabled(
            message.guild.id
        ):
            return
        member = message.author
        award = await self.db.levels.award_message_xp(
            message.guild.id,
            member.id,
            message.channel.id,
            role_ids=[role.id for role in member.roles if not role.is_default()],
            now=datetime.now(UTC),
        )
        if award.roles_to_grant:
            await member.add_roles(*(discord.Object(r) for r in award.roles_to_grant), reason=f"level {award.level}")
        if award.roles_to_remove:
            await member.remove_roles(
                *(discord.Object(r) for r in award.roles_to_remove), reason=f"level {award.level}"
            )
        if award.leveled_up:
            await message.channel.send(f"{member.mention} reached level {award.level}!")

    @hybrid(name="rank")
    async def rank(self, ctx: Ctx, member: discord.Member | None = None) -> None:
        """Your (or a member's) level, XP and place."""
        assert ctx.guild is not None  # noqa: S101 - cog_check
        target = member or ctx.author
        card = await self.db.levels.rank(ctx.guild.id, target.id)
        if card is None:
            await ctx.send(f"{target.display_name} has no XP yet.")
            return
        place = "unranked" if card.rank is None else f"#{card.rank} of {card.ranked_members}"
        await ctx.send(
            embed=embed(
                f"{target.display_name}",
                None,
                level=card.level,
                xp=f"{card.xp_into_level}/{card.xp_for_level} (total {card.xp})",
                rank=place,
                messages=card.message_count,
            )
        )

    @hybrid(name="leaderboard", aliases=["lb"])
    async def leaderboard(self, ctx: Ctx, period: PeriodName = "all") -> None:
        """The top members, all-time or this month/week/day (UTC)."""
        assert ctx.guild is not None  # noqa: S101
        board, me = await self.db.leaderboards.top_with_rank(ctx.guild.id, ctx.author.id, BOARD_SIZE, period=period)
        lines = [f"**{e.rank}.** <@{e.user_id}> — {e.xp} XP" for e in board.entries]
        pages = chunk_pages(f"Leaderboard ({period})", lines, empty="Nobody has XP in this period yet.")
        if me is not None:
            for page in pages:
                page.add_field(name="You", value=f"#{me.rank} with {me.xp} XP", inline=False)
        await send_pages(ctx, pages)

    @hybrid(name="setxp")
    @commands.has_guild_permissions(manage_guild=True)
    async def set_xp(self, ctx: Ctx, member: discord.Member, xp: int) -> None:
        """Set a member's XP (the level follows)."""
        assert ctx.guild is not None  # noqa: S101
        row = await self.db.levels.set_xp(ctx.guild.id, member.id, xp)
        await ctx.send(f"{member.display_name} now has {row.xp} XP (level {row.level}).")

    @hybrid(name="resetxp")
    @commands.has_guild_permissions(manage_guild=True)
    async def reset_xp(self, ctx: Ctx, member: discord.Member) -> None:
        """Zero a member's XP and level."""
        assert ctx.guild is not None  # noqa: S101
        await self.db.levels.reset(ctx.guild.id, member.id)
        await ctx.send(f"{member.display_name}'s XP was reset.")

    @hybrid(name="levelrole")
    @commands.has_guild_permissions(manage_roles=True)
    async def level_role(self, ctx: Ctx, level: int, role: discord.Role | None = None) -> None:
        """Reward a role at a level (without a role: stop rewarding that level)."""
        assert ctx.guild is not None  # noqa: S101
        if role is None:
            removed = await self.db.levels.remove_level_role(ctx.guild.id, level)
            await ctx.send(f"Level {level} {'no longer rewards a role' if removed else 'had no reward role'}.")
            return
        await self.db.levels.set_level_role(ctx.guild.id, level, role.id)
        await ctx.send(f"Level {level} now rewards {role.name}.")

    @hybrid(name="levelroles")
    async def level_roles(self, ctx: Ctx) -> None:
        """The roles rewarded by level."""
        assert ctx.guild is not None  # noqa: S101
        rows = await self.db.levels.level_roles(ctx.guild.id)
        await send_pages(ctx, chunk_pages("Level roles", [f"Level {r.level}: <@&{r.role_id}>" for r in rows]))
