"""Moderation cog: warn, kick, ban, tempban, unban, timeout; cases, reasons, notes, history.

Order of work for an action: the case is created first (the facade validates the
reason, the expiry and the IDs, and numbers the case), then Discord is asked. If
Discord refuses, the case is voided and the user is told, so the history never
shows an action that did not happen. A bad duration, an unknown member or a
missing case number is refused before anything is written.

Tempbans and timeouts carry ``expires_at``; the database enqueues their expiry
job with the case, and the bot's job handlers (``guildbase.bot.jobs``) unban.
"""

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import discord
from discord import app_commands
from discord.ext import commands

from guildbase import CaseRead, NotFoundError
from guildbase.bot.cog import Ctx, GuildbaseCog, hybrid
from guildbase.bot.durations import DURATION, format_duration
from guildbase.bot.ui import chunk_pages, embed, send_pages, timestamp

MAX_TIMEOUT = timedelta(days=28)  # Discord's limit
ActionCall = Callable[[], Awaitable[object]]
CASE_TYPES = (
    "ban",
    "unban",
    "tempban",
    "untempban",
    "kick",
    "timeout",
    "untimeout",
    "warn",
    "jail",
    "unjail",
    "hackban",
)


def case_line(case: CaseRead) -> str:
    """``#12 BAN <@user> — reason (3 days ago)``."""
    status = "" if case.status.value == "active" else f" *({case.status.value})*"
    reason = case.reason or "no reason"
    return f"**#{case.number}** {case.type.value} <@{case.user_id}> — {reason} ({timestamp(case.created_at)}){status}"


def case_embed(case: CaseRead) -> discord.Embed:
    """The embed a moderation command answers with."""
    result = embed(
        f"Case #{case.number}: {case.type.value}",
        case.reason or "no reason",
        user=f"<@{case.user_id}>",
        moderator=f"<@{case.moderator_id}>",
        status=case.status.value,
    )
    if case.expires_at is not None:
        result.add_field(name="Expires", value=timestamp(case.expires_at), inline=True)
    result.timestamp = case.created_at
    return result


class ModerationCog(GuildbaseCog, name="Moderation"):
    """Cases and notes; each action needs the matching Discord permission."""

    async def cog_check(self, ctx: Ctx) -> bool:
        if ctx.guild is None:
            raise commands.NoPrivateMessage
        return True

    async def _act(
        self,
        ctx: Ctx,
        user: discord.abc.Snowflake,
        case_type: str,
        reason: str | None,
        action: ActionCall | None,
        *,
        expires_in: timedelta | None = None,
    ) -> CaseRead:
        """Record the case, then run the Discord ``action``; void the case if Discord refuses."""
        assert ctx.guild is not None  # noqa: S101 - cog_check
        expires_at = None if expires_in is None else datetime.now(UTC) + expires_in
        case = await self.db.cases.create(
            ctx.guild.id, user.id, ctx.author.id, case_type, reason=reason, expires_at=expires_at
        )
        if action is not None:
            try:
                await action()
            except discord.HTTPException:
                await self.db.cases.void(ctx.guild.id, case.number)
                raise
        await ctx.send(embed=case_embed(case))
        return case

    @hybrid(name="warn")
    @commands.has_guild_permissions(moderate_members=True)
    async def warn(self, ctx: Ctx, member: discord.Member, *, reason: str | None = None) -> None:
        """Warn a member (recorded as a case)."""
        await self._act(ctx, member, "warn", reason, None)

    @hybrid(name="kick")
    @commands.has_guild_permissions(kick_members=True)
    async def kick(self, ctx: Ctx, member: discord.Member, *, reason: str | None = None) -> None:
        """Kick a member."""
        await self._act(ctx, member, "kick", reason, lambda: member.kick(reason=reason))

    @hybrid(name="ban")
    @commands.has_guild_permissions(ban_members=True)
    async def ban(self, ctx: Ctx, user: discord.User, *, reason: str | None = None) -> None:
        """Ban a user (member or not)."""
        assert ctx.guild is not None  # noqa: S101
        guild = ctx.guild
        await self._act(ctx, user, "ban", reason, lambda: guild.ban(user, reason=reason, delete_message_seconds=0))

    @hybrid(name="tempban")
    @commands.has_guild_permissions(ban_members=True)
    async def tempban(
        self,
        ctx: Ctx,
        user: discord.User,
        duration: timedelta = DURATION,
        *,
        reason: str | None = None,
    ) -> None:
        """Ban a user for a while (``1h30m``, ``7d`` …); they are unbanned when it runs out."""
        assert ctx.guild is not None  # noqa: S101
        guild = ctx.guild
        await self._act(
            ctx,
            user,
            "tempban",
            reason,
            lambda: guild.ban(user, reason=reason, delete_message_seconds=0),
            expires_in=duration,
        )

    @hybrid(name="unban")
    @commands.has_guild_permissions(ban_members=True)
    async def unban(self, ctx: Ctx, user: discord.User, *, reason: str | None = None) -> None:
        """Lift a ban."""
        assert ctx.guild is not None  # noqa: S101
        guild = ctx.guild
        await self._act(ctx, user, "unban", reason, lambda: guild.unban(user, reason=reason))

    @hybrid(name="timeout")
    @commands.has_guild_permissions(moderate_members=True)
    async def timeout(
        self,
        ctx: Ctx,
        member: discord.Member,
        duration: timedelta = DURATION,
        *,
        reason: str | None = None,
    ) -> None:
        """Time a member out (at most 28 days)."""
        if duration > MAX_TIMEOUT:
            raise commands.BadArgument(f"A timeout can last at most 28 days, not {format_duration(duration)}.")
        await self._act(
            ctx, member, "timeout", reason, lambda: member.timeout(duration, reason=reason), expires_in=duration
        )

    # -- cases ------------------------------------------------------------------------
    @hybrid(name="case")
    @commands.has_guild_permissions(moderate_members=True)
    async def case(self, ctx: Ctx, number: int) -> None:
        """Show one case."""
        assert ctx.guild is not None  # noqa: S101
        found = await self.db.cases.get(ctx.guild.id, number)
        if found is None:
            raise NotFoundError(f"There is no case #{number} in this server.")
        await ctx.send(embed=case_embed(found))

    @hybrid(name="cases")
    @commands.has_guild_permissions(moderate_members=True)
    async def cases(self, ctx: Ctx, case_type: str | None = None) -> None:
        """The newest cases of the server, or of one type (``ban``, ``warn`` …)."""
        assert ctx.guild is not None  # noqa: S101
        if case_type is None:
            found = await self.db.cases.recent(ctx.guild.id, limit=50)
        else:
            found = await self.db.cases.by_type(ctx.guild.id, case_type, limit=50)
        await send_pages(ctx, chunk_pages("Cases", [case_line(c) for c in found], empty="No cases yet."))

    @cases.autocomplete("case_type")
    async def _case_types(self, _interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=t, value=t) for t in CASE_TYPES if current.lower() in t]

    @hybrid(name="reason")
    @commands.has_guild_permissions(moderate_members=True)
    async def reason(self, ctx: Ctx, number: int, *, reason: str) -> None:
        """Replace a case's reason (the old one stays in the case's history)."""
        assert ctx.guild is not None  # noqa: S101
        updated = await self.db.cases.update_reason(ctx.guild.id, number, reason, actor_id=ctx.author.id)
        await ctx.send(embed=case_embed(updated))

    @case.autocomplete("number")
    @reason.autocomplete("number")
    async def _case_numbers(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[int]]:
        if interaction.guild_id is None:
            return []
        recent = await self.db.cases.recent(interaction.guild_id, limit=25)
        return [
            app_commands.Choice(name=f"#{c.number} {c.type.value} {c.reason or ''}"[:100], value=c.number)
            for c in recent
            if str(c.number).startswith(current)
        ]

    @hybrid(name="history")
    @commands.has_guild_permissions(moderate_members=True)
    async def history(self, ctx: Ctx, user: discord.User) -> None:
        """A user's cases and their counts."""
        assert ctx.guild is not None  # noqa: S101
        overview = await self.db.cases.overview(ctx.guild.id, user.id, limit=50)
        counts = ", ".join(f"{t.value.lower()} {n}" for t, n in overview.summary.counts.items() if n) or "none"
        lines = [f"Counts: {counts}", *(case_line(c) for c in overview.cases)]
        await send_pages(ctx, chunk_pages(f"History of {user}", lines))

    # -- notes ------------------------------------------------------------------------
    @hybrid(name="note")
    @commands.has_guild_permissions(moderate_members=True)
    async def note(self, ctx: Ctx, user: discord.User, *, content: str) -> None:
        """Add a moderator note about a user."""
        assert ctx.guild is not None  # noqa: S101
        created = await self.db.notes.create(ctx.guild.id, user.id, ctx.author.id, content)
        await ctx.send(f"Note #{created.number} saved for {user.mention}.")

    @hybrid(name="notes")
    @commands.has_guild_permissions(moderate_members=True)
    async def notes(self, ctx: Ctx, user: discord.User) -> None:
        """A user's notes, newest first."""
        assert ctx.guild is not None  # noqa: S101
        found = await self.db.notes.list_for_user(ctx.guild.id, user.id, limit=100)
        lines = [f"**#{n.number}** {n.content} — <@{n.moderator_id}> ({timestamp(n.created_at)})" for n in found]
        await send_pages(ctx, chunk_pages(f"Notes on {user}", lines, empty="No notes."))
