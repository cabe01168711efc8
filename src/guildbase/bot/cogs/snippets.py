"""Snippets cog (R7.3, R15.1): ``snippet faq`` (or just ``$faq``), add, edit, alias, lock, delete, list.

A miss answers with the closest names (``db.snippets.suggest``, pg_trgm). Staff
(Manage Messages) may edit any snippet, locked or not, and lock them; everyone
else edits unlocked snippets and their own. The facade validates the name
(length, whitespace, mentions) and the error mapper quotes its message.
"""

from typing import TYPE_CHECKING

import discord
from discord.ext import commands

from guildbase.bot.checks import ignores_author
from guildbase.bot.cog import Ctx, GuildbaseCog, hybrid
from guildbase.bot.ui import chunk_pages, send_pages
from guildbase.controllers.names import reserve_builtin_names

if TYPE_CHECKING:
    from guildbase.bot.bot import GuildbaseBot

NO_MENTIONS = discord.AllowedMentions.none()
"""Snippet text is the members' own: it never pings anyone."""


def reserve_builtins(bot: "GuildbaseBot") -> None:
    """Tell the facade every built-in command name and alias, so no snippet or custom command takes one."""
    names = {name for command in bot.walk_commands() for name in (command.name, *command.aliases)}
    names |= {command.name for command in bot.tree.get_commands()}
    reserve_builtin_names(bot.db, names)


def is_staff(ctx: Ctx) -> bool:
    """Staff for snippets: Manage Messages in this server."""
    return isinstance(ctx.author, discord.Member) and ctx.author.guild_permissions.manage_messages


async def invoked_name(bot: "GuildbaseBot", message: discord.Message) -> tuple[str, str] | None:
    """``(name, rest)`` when ``message`` is ``<prefix><name> rest`` and ``name`` is no built-in command."""
    if message.guild is None or message.author.bot or not message.content:
        return None
    ctx = await bot.get_context(message)
    if ctx.prefix is None or ctx.command is not None or not ctx.invoked_with:
        return None
    rest = message.content[len(ctx.prefix) + len(ctx.invoked_with) :].strip()
    return ctx.invoked_with, rest


class SnippetsCog(GuildbaseCog, name="Snippets"):
    """Saved texts recalled by name (feature: snippets)."""

    feature = "snippets"

    async def cog_check(self, ctx: Ctx) -> bool:
        if ctx.guild is None:
            raise commands.NoPrivateMessage
        return True

    async def _show(self, ctx: Ctx | discord.abc.Messageable, guild_id: int, name: str, *, quiet: bool) -> None:
        snippet = await self.db.snippets.use(guild_id, name)
        if snippet is not None:
            await ctx.send(snippet.content, allowed_mentions=NO_MENTIONS)
            return
        if quiet:
            return
        close = await self.db.snippets.suggest(guild_id, name)
        hint = f" Did you mean: {', '.join(f'`{found}`' for found in close)}?" if close else ""
        await ctx.send(f"No snippet `{name}` here.{hint}", allowed_mentions=NO_MENTIONS)

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        """``$faq``: a prefix and a snippet's name (or alias) shows it; any other unknown word stays quiet."""
        found = await invoked_name(self.bot, message)
        if found is None or message.guild is None:
            return
        if await ignores_author(self.bot, message.author.id, message.guild.id) or not await self.enabled(
            message.guild.id
        ):
            return
        if await self.db.members.is_blacklisted(message.guild.id, message.author.id):
            return
        await self._show(message.channel, message.guild.id, found[0], quiet=True)

    @hybrid(name="snippet")
    async def snippet(self, ctx: Ctx, name: str) -> None:
        """Show a snippet by its name or an alias (any letter case)."""
        assert ctx.guild is not None  # noqa: S101 - cog_check
        await self._show(ctx, ctx.guild.id, name, quiet=False)

    @hybrid(name="snippetadd")
    async def add(self, ctx: Ctx, name: str, *, content: str) -> None:
        """Save a snippet, e.g. ``snippetadd faq Read the pinned messages first``."""
        assert ctx.guild is not None  # noqa: S101
        reserve_builtins(self.bot)
        created = await self.db.snippets.create(ctx.guild.id, name, content, author_id=ctx.author.id)
        await ctx.send(f"Snippet `{created.name}` saved.")

    @hybrid(name="snippetedit")
    async def edit(self, ctx: Ctx, name: str, *, content: str) -> None:
        """Replace a snippet's text (a locked one: its author or staff only)."""
        assert ctx.guild is not None  # noqa: S101
        edited = await self.db.snippets.edit(
            ctx.guild.id, name, content, editor_id=ctx.author.id, is_staff=is_staff(ctx)
        )
        await ctx.send(f"Snippet `{edited.name}` updated.")

    @hybrid(name="snippetalias")
    async def alias(self, ctx: Ctx, name: str, alias: str) -> None:
        """Let a snippet answer to another name too."""
        assert ctx.guild is not None  # noqa: S101
        reserve_builtins(self.bot)
        found = await self.db.snippets.add_alias(
            ctx.guild.id, name, alias, editor_id=ctx.author.id, is_staff=is_staff(ctx)
        )
        await ctx.send(f"`{found.name}` also answers to: {', '.join(f'`{a}`' for a in found.aliases)}.")

    @hybrid(name="snippetunalias")
    async def unalias(self, ctx: Ctx, alias: str) -> None:
        """Remove an alias."""
        assert ctx.guild is not None  # noqa: S101
        found = await self.db.snippets.remove_alias(
            ctx.guild.id, alias, editor_id=ctx.author.id, is_staff=is_staff(ctx)
        )
        await ctx.send(f"`{alias}` no longer shows `{found.name}`.")

    @hybrid(name="snippetdel")
    async def delete(self, ctx: Ctx, name: str) -> None:
        """Delete a snippet and all its aliases."""
        assert ctx.guild is not None  # noqa: S101
        removed = await self.db.snippets.delete(ctx.guild.id, name, editor_id=ctx.author.id, is_staff=is_staff(ctx))
        await ctx.send(f"Snippet `{name}` deleted." if removed else f"No snippet `{name}` here.")

    @hybrid(name="snippetlock")
    @commands.has_permissions(manage_messages=True)
    async def lock(self, ctx: Ctx, name: str, locked: bool = True) -> None:
        """Lock a snippet (only its author and staff may then change it), or unlock it."""
        assert ctx.guild is not None  # noqa: S101
        found = await self.db.snippets.set_locked(ctx.guild.id, name, locked=locked)
        await ctx.send(f"Snippet `{found.name}` {'locked' if found.is_locked else 'unlocked'}.")

    @hybrid(name="snippetinfo")
    async def info(self, ctx: Ctx, name: str) -> None:
        """Who wrote a snippet, how often it was used, its aliases and lock."""
        assert ctx.guild is not None  # noqa: S101
        found = await self.db.snippets.get(ctx.guild.id, name)
        if found is None:
            await ctx.send(f"No snippet `{name}` here.")
            return
        aliases = ", ".join(found.aliases) or "none"
        await ctx.send(
            f"`{found.name}` by <@{found.author_id}>: used {found.uses} times; aliases: {aliases}; "
            f"{'locked' if found.is_locked else 'unlocked'}.",
            allowed_mentions=NO_MENTIONS,
        )

    @hybrid(name="snippets")
    async def list_all(self, ctx: Ctx) -> None:
        """Every snippet of this server, by name."""
        assert ctx.guild is not None  # noqa: S101
        found = await self.db.snippets.list_for_guild(ctx.guild.id, limit=200)
        lines = [f"`{s.name}`" + (f" ({', '.join(s.aliases)})" if s.aliases else "") for s in found]
        await send_pages(ctx, chunk_pages("Snippets", lines, size=20, empty="No snippets yet."))
