"""Autoresponders cog (R15.2): manage the server's triggers (Manage Server); the automod cog answers them.

``autoresponder add word hello Hi {user}!`` adds a trigger with one response;
``autoresponder respond 3 a | b | c`` replaces its responses (one is picked at
random). The facade validates everything (RE2 refuses a bad regex by name).
"""

from datetime import timedelta
from typing import Literal

from discord.ext import commands

from guildbase.bot.cog import Ctx, GuildbaseCog, hybrid, manage_guild_only
from guildbase.bot.durations import DURATION, format_duration
from guildbase.bot.ui import chunk_pages, send_pages

MatchName = Literal["exact", "contains", "starts_with", "word", "regex"]


class AutorespondersCog(
    GuildbaseCog,
    commands.GroupCog,
    name="Autoresponders",
    group_name="autorespond",
    group_description="Autoresponder triggers of this server",
):
    """Automatic answers to trigger words (Manage Server; feature: automod)."""

    feature = "automod"

    async def cog_check(self, ctx: Ctx) -> bool:
        return manage_guild_only(ctx)

    @hybrid(name="autoresponder")
    async def add(self, ctx: Ctx, match: MatchName, trigger: str, *, response: str) -> None:
        """Answer ``trigger`` (matched as ``match``) with ``response``; {user} {channel} {guild} are filled in."""
        assert ctx.guild is not None  # noqa: S101 - cog_check
        row = await self.db.autoresponders.create(ctx.guild.id, trigger, [response], match_type=match)
        await ctx.send(f"Autoresponder #{row.autoresponder_id} answers {match} `{row.pattern}`.")

    @hybrid(name="arresponses")
    async def responses(self, ctx: Ctx, number: int, *, responses: str) -> None:
        """Replace an autoresponder's responses: ``a | b | c`` (one is picked at random)."""
        assert ctx.guild is not None  # noqa: S101
        parts = [part.strip() for part in responses.split("|") if part.strip()]
        row = await self.db.autoresponders.set_responses(ctx.guild.id, number, parts)
        await ctx.send(f"Autoresponder #{row.autoresponder_id} has {len(row.responses)} responses.")

    @hybrid(name="arcooldown")
    async def cooldown(
        self, ctx: Ctx, number: int, per: Literal["user", "channel"], duration: timedelta = DURATION
    ) -> None:
        """Let an autoresponder answer each user (or channel) at most once per ``duration``."""
        assert ctx.guild is not None  # noqa: S101
        await self.db.autoresponders.update(ctx.guild.id, number, cooldown=duration, cooldown_scope=per)
        await ctx.send(f"Autoresponder #{number}: once per {per} every {format_duration(duration)}.")

    @hybrid(name="artoggle")
    async def toggle(self, ctx: Ctx, number: int, state: bool) -> None:
        """Turn an autoresponder on or off."""
        assert ctx.guild is not None  # noqa: S101
        await self.db.autoresponders.update(ctx.guild.id, number, is_enabled=state)
        await ctx.send(f"Autoresponder #{number} is {'on' if state else 'off'}.")

    @hybrid(name="arremove")
    async def remove(self, ctx: Ctx, number: int) -> None:
        """Delete an autoresponder."""
        assert ctx.guild is not None  # noqa: S101
        removed = await self.db.autoresponders.delete(ctx.guild.id, number)
        await ctx.send(f"Autoresponder #{number} {'removed' if removed else 'does not exist'}.")

    @hybrid(name="arlist")
    async def list_all(self, ctx: Ctx) -> None:
        """The server's autoresponders and how often each answered."""
        assert ctx.guild is not None  # noqa: S101
        rows = await self.db.autoresponders.list_for(ctx.guild.id)
        lines = [
            f"#{r.autoresponder_id} {r.match_type.value} `{r.pattern}` → {len(r.responses)} responses, "
            f"{r.hits} hits{'' if r.is_enabled else ' (off)'}"
            for r in rows
        ]
        await send_pages(ctx, chunk_pages("Autoresponders", lines, empty="No autoresponders yet."))
