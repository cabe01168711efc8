"""Custom commands cog (R15.2): staff define ``$greet`` → ``Hi {1}, welcome to {guild}!``; members run it.

Running one is a message with a prefix and the command's name (no built-in
command has that name: the facade refuses such names). ``db.custom_commands.invoke``
applies the rank, the argument count and the member's cooldown in one
statement; this cog renders the reply (``render``: plain substitution).

``member_rank`` is the rank check point on the bot's side: until the
permissions domain lands it maps Discord permissions to a rank (Administrator
100, Manage Server 50, Manage Messages 10, everyone 0); the permissions domain
replaces it with the member's configured rank.
"""

import discord
from discord.ext import commands

from guildbase.bot.checks import ignores_author
from guildbase.bot.cog import Ctx, GuildbaseCog, given_or_none, hybrid
from guildbase.bot.cogs.snippets import NO_MENTIONS, invoked_name, reserve_builtins
from guildbase.bot.ui import chunk_pages, send_pages
from guildbase.controllers.custom_commands import render
from guildbase.models.custom_commands import MAX_RANK

ADMIN_RANK = MAX_RANK
MANAGER_RANK = 50
MODERATOR_RANK = 10
RANK = given_or_none(int, "the rank needed (leave out: everyone)")


def member_rank(member: discord.Member | discord.User) -> int:
    """The rank custom commands check ``required_rank`` against (see the module docstring)."""
    if not isinstance(member, discord.Member):
        return 0
    permissions = member.guild_permissions
    if permissions.administrator:
        return ADMIN_RANK
    if permissions.manage_guild:
        return MANAGER_RANK
    return MODERATOR_RANK if permissions.manage_messages else 0


class CustomCommandsCog(
    GuildbaseCog,
    commands.GroupCog,
    name="Custom commands",
    group_name="customcmd",
    group_description="Custom commands of this server",
):
    """This server's own commands (feature: custom_commands); defining them needs Manage Server."""

    feature = "custom_commands"

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        """``$greet bob``: run the custom command of that name, if this server has one."""
        found = await invoked_name(self.bot, message)
        if found is None or message.guild is None:
            return
        guild = message.guild
        if await ignores_author(self.bot, message.author.id, guild.id) or not await self.enabled(guild.id):
            return
        if await self.db.members.is_blacklisted(guild.id, message.author.id):
            return
        name, rest = found
        run = await self.db.custom_commands.invoke(
            guild.id, name, message.author.id, rank=member_rank(message.author), args=rest
        )
        if run is None:
            return
        channel = message.channel
        if not run.is_allowed:
            await channel.send(f"`{run.command.name}` needs rank {run.command.required_rank}.")
        elif len(run.arguments) < run.command.arg_count:
            await channel.send(f"`{run.command.name}` needs {run.command.arg_count} argument(s).")
        elif not run.is_run:
            await channel.send(f"`{run.command.name}` is cooling down: try again in {run.retry_after_seconds:.0f}s.")
        else:
            mention = getattr(channel, "mention", "")
            text = render(
                run.command.template, user=message.author.mention, channel=mention, guild=guild.name, args=run.arguments
            )
            await channel.send(text, allowed_mentions=discord.AllowedMentions(users=[message.author]))

    async def cog_check(self, ctx: Ctx) -> bool:
        if ctx.guild is None:
            raise commands.NoPrivateMessage
        if ctx.command is not None and ctx.command.name != "commands" and not ctx.author.guild_permissions.manage_guild:  # type: ignore[union-attr]
            raise commands.MissingPermissions(["manage_guild"])
        return True

    @hybrid(name="ccadd")
    async def add(self, ctx: Ctx, name: str, *, template: str) -> None:
        """Define a command: ``ccadd greet Hi {1}, welcome to {guild}!`` ({user} {channel} {guild} {args} {1}…{9})."""
        assert ctx.guild is not None  # noqa: S101 - cog_check
        reserve_builtins(self.bot)
        created = await self.db.custom_commands.create(ctx.guild.id, name, template, author_id=ctx.author.id)
        await ctx.send(f"Custom command `{created.name}` saved.", allowed_mentions=NO_MENTIONS)

    @hybrid(name="ccrank")
    async def rank(self, ctx: Ctx, name: str, rank: int | None = RANK) -> None:
        """Set the rank a member needs to run a command (no rank: everyone)."""
        assert ctx.guild is not None  # noqa: S101
        edited = await self.db.custom_commands.edit(ctx.guild.id, name, required_rank=rank)
        who = "everyone" if edited.required_rank is None else f"rank {edited.required_rank} and above"
        await ctx.send(f"`{edited.name}` can be run by {who}.")

    @hybrid(name="cccooldown")
    async def cooldown(self, ctx: Ctx, name: str, seconds: int) -> None:
        """Set how long each member waits between two runs of a command."""
        assert ctx.guild is not None  # noqa: S101
        edited = await self.db.custom_commands.edit(ctx.guild.id, name, cooldown_seconds=seconds)
        await ctx.send(f"`{edited.name}`: {edited.cooldown_seconds}s between runs per member.")

    @hybrid(name="ccdel")
    async def delete(self, ctx: Ctx, name: str) -> None:
        """Delete a custom command."""
        assert ctx.guild is not None  # noqa: S101
        removed = await self.db.custom_commands.delete(ctx.guild.id, name)
        await ctx.send(f"Custom command `{name}` deleted." if removed else f"No custom command `{name}` here.")

    @hybrid(name="commands")
    async def list_all(self, ctx: Ctx) -> None:
        """This server's custom commands."""
        assert ctx.guild is not None  # noqa: S101
        found = await self.db.custom_commands.list_for_guild(ctx.guild.id)
        lines = [f"`{c.name}` — {c.template[:60]}" for c in found]
        await send_pages(ctx, chunk_pages("Custom commands", lines, size=20, empty="No custom commands yet."))
