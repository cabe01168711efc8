"""Filters cog (R15.4): manage message filters, and the automod message listener.

The listener runs once per message, in this order, each step one facade call
on a cached, compiled matcher: ``db.filters.check`` (what rules the message
breaks) and, when it broke none, ``db.autoresponders.respond``. A caught
message is deleted (every action but ``log``), then the most severe action
runs: ``warn`` records a WARN case and ``timeout`` a TIMEOUT case through
``db.cases`` (and times the member out on Discord); every hit is posted to the
mod-log channel when the server has one. Invite hits are checked with Discord
first: an invite to this server or to one on the rule's allowlist passes.
"""

from datetime import UTC, datetime, timedelta
from typing import Literal

import discord
from discord.ext import commands

from guildbase import FilterAction, FilterVerdict
from guildbase.bot.checks import ignores_author
from guildbase.bot.cog import Ctx, GuildbaseCog, hybrid, manage_guild_only
from guildbase.bot.ui import chunk_pages, send_pages
from guildbase.matching.filters import SEVERITY, FilterKind

ActionName = Literal["delete", "warn", "timeout", "log"]
ANSWER_MENTIONS = discord.AllowedMentions(everyone=False, roles=False, users=True)


class FiltersCog(
    GuildbaseCog,
    commands.GroupCog,
    name="Filters",
    group_name="filter",
    group_description="Message filters of this server",
):
    """Message filters and autoresponders on every message (Manage Server; feature: automod)."""

    feature = "automod"

    async def cog_check(self, ctx: Ctx) -> bool:
        return manage_guild_only(ctx)

    # -- management --------------------------------------------------------------------
    @hybrid(name="filterwords")
    async def words(self, ctx: Ctx, action: ActionName, *, words: str) -> None:
        """Catch messages with any of these space-separated words (evasions folded away)."""
        assert ctx.guild is not None  # noqa: S101 - cog_check
        row = await self.db.filters.add_words(ctx.guild.id, words.split(), action)
        await ctx.send(f"Filter #{row.filter_id}: {len(row.words)} words → {action}.")

    @hybrid(name="filterregex")
    async def regex(self, ctx: Ctx, action: ActionName, *, pattern: str) -> None:
        """Catch messages matching an RE2 regular expression."""
        assert ctx.guild is not None  # noqa: S101
        row = await self.db.filters.add_regex(ctx.guild.id, pattern, action)
        await ctx.send(f"Filter #{row.filter_id}: `{row.pattern}` → {action}.")

    @hybrid(name="filterinvites")
    async def invites(self, ctx: Ctx, action: ActionName, *, allowed: str = "") -> None:
        """Catch invites to other servers (``allowed``: IDs of servers members may invite to)."""
        assert ctx.guild is not None  # noqa: S101
        row = await self.db.filters.add_invites(
            ctx.guild.id, action, allowed_guild_ids=[int(g) for g in allowed.split() if g.isdigit()]
        )
        await ctx.send(f"Filter #{row.filter_id}: invites → {action}.")

    @hybrid(name="filterdomains")
    async def domains(self, ctx: Ctx, mode: Literal["deny", "allow"], action: ActionName, *, domains: str) -> None:
        """Catch links to these domains (``deny``), or to any other domain (``allow``)."""
        assert ctx.guild is not None  # noqa: S101
        row = await self.db.filters.add_domains(ctx.guild.id, domains.split(), action, is_allowlist=mode == "allow")
        await ctx.send(f"Filter #{row.filter_id}: {mode} {len(row.words)} domains → {action}.")

    @hybrid(name="filtermentions")
    async def mentions(self, ctx: Ctx, threshold: int, action: ActionName) -> None:
        """Catch messages with at least ``threshold`` mentions."""
        assert ctx.guild is not None  # noqa: S101
        row = await self.db.filters.add_mentions(ctx.guild.id, threshold, action)
        await ctx.send(f"Filter #{row.filter_id}: {threshold}+ mentions → {action}.")

    @hybrid(name="filtercaps")
    async def caps(self, ctx: Ctx, percent: int, action: ActionName) -> None:
        """Catch messages that are at least ``percent`` capitals."""
        assert ctx.guild is not None  # noqa: S101
        row = await self.db.filters.add_caps(ctx.guild.id, percent, action)
        await ctx.send(f"Filter #{row.filter_id}: {percent}% caps → {action}.")

    @hybrid(name="filterexempt")
    async def exempt(
        self,
        ctx: Ctx,
        number: int,
        channels: commands.Greedy[discord.TextChannel],
        roles: commands.Greedy[discord.Role],
    ) -> None:
        """Replace the channels and roles a filter leaves alone."""
        assert ctx.guild is not None  # noqa: S101
        await self.db.filters.set_exemptions(
            ctx.guild.id, number, channel_ids=[c.id for c in channels], role_ids=[r.id for r in roles]
        )
        await ctx.send(f"Filter #{number} skips {len(channels)} channels and {len(roles)} roles.")

    @hybrid(name="filterremove")
    async def remove(self, ctx: Ctx, number: int) -> None:
        """Delete a filter."""
        assert ctx.guild is not None  # noqa: S101
        removed = await self.db.filters.delete(ctx.guild.id, number)
        await ctx.send(f"Filter #{number} {'removed' if removed else 'does not exist'}.")

    @hybrid(name="filters")
    async def list_all(self, ctx: Ctx) -> None:
        """The server's filters and how often each caught a message."""
        assert ctx.guild is not None  # noqa: S101
        rows = await self.db.filters.list_for(ctx.guild.id)
        lines = [f"#{r.filter_id} {r.kind.value} → {r.action.value}, {r.hits} hits" for r in rows]
        await send_pages(ctx, chunk_pages("Filters", lines, empty="No filters yet."))

    # -- every message -------------------------------------------------------------------
    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        """Filters first; a message that passes them may get an autoresponse."""
        if message.guild is None or message.author.bot or not isinstance(message.author, discord.Member):
            return
        guild, member = message.guild, message.author
        if await ignores_author(self.bot, member.id, guild.id) or not await self.enabled(guild.id):
            return
        roles = [role.id for role in member.roles if not role.is_default()]
        mentions = len(set(message.raw_mentions) | set(message.raw_role_mentions))
        verdict = await self.db.filters.check(guild.id, message.channel.id, message.content, roles, mentions)
        if verdict.action is not None and await self._caught(message, member, verdict):
            return
        answer = await self.db.autoresponders.respond(
            guild.id, message.channel.id, member.id, message.content, roles, guild_name=guild.name[:100]
        )
        if answer is not None:
            await message.channel.send(answer.text, allowed_mentions=ANSWER_MENTIONS)

    async def _caught(self, message: discord.Message, member: discord.Member, verdict: FilterVerdict) -> bool:
        """Act on a caught message; False when only allowed invites were caught (the message stands)."""
        hits = [
            hit
            for hit in verdict.hits
            if hit.kind is not FilterKind.INVITES or await self._foreign(message, hit.detail, verdict)
        ]
        if not hits:
            return False
        action = max((h.action for h in hits), key=SEVERITY.__getitem__)
        guild = member.guild
        reason = "automod: " + ", ".join(f"{h.kind.value} filter #{h.rule_id}" for h in hits)
        if action is not FilterAction.LOG:
            await message.delete()
        bot_id = self.bot.user.id if self.bot.user is not None else member.guild.me.id
        if action is FilterAction.WARN:
            await self.db.cases.create(guild.id, member.id, bot_id, "WARN", reason=reason)
        if action is FilterAction.TIMEOUT:
            length = timedelta(seconds=verdict.timeout_seconds or 600)
            until = datetime.now(UTC) + length
            await member.timeout(length, reason=reason)
            await self.db.cases.create(guild.id, member.id, bot_id, "TIMEOUT", reason=reason, expires_at=until)
        log_channel = (await self.db.guild_config.get(guild.id)).mod_log_channel_id
        if log_channel is not None:
            await self.bot.get_partial_messageable(log_channel).send(
                f"{reason} → {action.value} ({member.mention} in <#{message.channel.id}>)",
                allowed_mentions=discord.AllowedMentions.none(),
            )
        return action is not FilterAction.LOG

    async def _foreign(self, message: discord.Message, codes: tuple[str, ...], verdict: FilterVerdict) -> bool:
        """Whether any of the invite ``codes`` leads outside this server and its allowed servers."""
        allowed = verdict.allowed_guild_ids | {message.guild.id}  # type: ignore[union-attr]
        for code in codes:
            try:
                invite = await self.bot.http.get_invite(code, with_counts=False)
            except discord.NotFound:
                continue  # a dead invite leads nowhere
            guild_id = int(invite.get("guild", {}).get("id", 0))
            if guild_id not in allowed:
                return True
        return False
