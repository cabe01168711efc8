"""Moderation cog: warn, kick, ban, tempban, unban, timeout, jail, unjail; cases, reasons, notes, history.

Every action runs one pipeline (``_act``), applying the guild's moderation
settings (``db.mod_settings``, R4.3) on the way:

1. a reason is demanded when the server requires one, and a missing duration
   falls back to the server's default for the type, before anything is written;
2. the case is created (the facade validates, numbers it, and applies the warn
   escalation rules in the same transaction);
3. the user is sent a DM about it when the server says so (before a kick or a
   ban, while the bot still shares a server with them);
4. Discord is asked; if Discord refuses, the case is voided and the user is
   told, so the history never shows an action that did not happen;
5. a warn that crossed an escalation threshold has its follow-up case applied
   the same way (DM, Discord call, voided if refused) and named in the reply;
6. each case is posted to its action's log channel (else the mod-log channel).

Tempbans, timeouts and timed jails carry ``expires_at``; the database enqueues
their expiry job with the case, and the bot's job handlers unban and unjail.
A jail saves the member's roles on its case and unjail restores them
(``guildbase.bot.moderation``).
"""

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Literal

import discord
from discord import app_commands
from discord.ext import commands

from guildbase import CaseRead, CaseType, ConflictError, ModSettingsRead, NotFoundError, ValidationError
from guildbase.bot.cog import Ctx, GuildbaseCog, hybrid
from guildbase.bot.durations import DURATION_OR_DEFAULT, HELP, format_duration, looks_like_duration, parse_duration
from guildbase.bot.moderation import case_embed, jailed_roles, notify, post_to_log, restored_roles
from guildbase.bot.ui import chunk_pages, send_pages, timestamp

MAX_TIMEOUT = timedelta(days=28)  # Discord's limit
ActionCall = Callable[[], Awaitable[object]]
CaseTypeName = Literal[
    "ban", "unban", "tempban", "untempban", "kick", "timeout", "untimeout", "warn", "jail", "unjail", "hackban"
]
CASE_TYPES = CaseTypeName.__args__  # type: ignore[attr-defined]


def case_line(case: CaseRead) -> str:
    """``#12 BAN <@user> — reason (3 days ago)``."""
    status = "" if case.status.value == "active" else f" *({case.status.value})*"
    reason = case.reason or "no reason"
    return f"**#{case.number}** {case.type.value} <@{case.user_id}> — {reason} ({timestamp(case.created_at)}){status}"


class ModerationCog(GuildbaseCog, name="Moderation"):
    """Cases and notes; each action needs the matching Discord permission."""

    async def cog_check(self, ctx: Ctx) -> bool:
        if ctx.guild is None:
            raise commands.NoPrivateMessage
        return True

    # -- the pipeline ---------------------------------------------------------------------
    async def _act(
        self,
        ctx: Ctx,
        user: discord.User | discord.Member,
        case_type: CaseType,
        reason: str | None,
        action: ActionCall | None,
        *,
        expires_in: timedelta | None = None,
        role_ids: list[int] | None = None,
        settings: ModSettingsRead | None = None,
    ) -> CaseRead:
        """Record the case, DM, run the Discord ``action`` (voiding the case if refused), escalate, log."""
        assert ctx.guild is not None  # noqa: S101 - cog_check
        guild = ctx.guild
        settings = settings or await self.db.mod_settings.get(guild.id)
        if settings.is_reason_required and not reason:
            raise ValidationError.single("reason", "required", "is required in this server (`modreason off` lifts it)")
        expires_at = None if expires_in is None else datetime.now(UTC) + expires_in
        case = await self.db.cases.create(
            guild.id, user.id, ctx.author.id, case_type, reason=reason, expires_at=expires_at, role_ids=role_ids or ()
        )
        notes = await self._apply(guild, user, case, action, settings)
        if case.type is CaseType.WARN and settings.rules and isinstance(user, discord.Member):
            notes += await self._escalate(user, case, settings)
        reply = case_embed(case)
        if notes:
            reply.set_footer(text=" · ".join(notes))
        await ctx.send(embed=reply)
        await post_to_log(self.bot, settings, case)
        return case

    async def _apply(
        self,
        guild: discord.Guild,
        user: discord.User | discord.Member,
        case: CaseRead,
        action: ActionCall | None,
        settings: ModSettingsRead,
    ) -> list[str]:
        """DM (when the server wants it) and the Discord call; a refused call voids the case and raises."""
        notes = []
        if settings.is_user_notified and not await notify(user, guild, case):
            notes.append("could not DM them")
        if action is not None:
            try:
                await action()
            except discord.HTTPException:
                await self.db.cases.void(guild.id, case.number)
                raise
        return notes

    async def _escalate(self, member: discord.Member, warn: CaseRead, settings: ModSettingsRead) -> list[str]:
        """Carry out the follow-up case the warn's escalation rule created, if it did."""
        follow_up = await self.db.mod_settings.escalation_of(member.guild.id, warn.number)
        if follow_up is None:
            return []
        reason = follow_up.reason
        calls: dict[CaseType, ActionCall] = {
            CaseType.TIMEOUT: lambda: member.timeout(follow_up.expires_at, reason=reason),
            CaseType.KICK: lambda: member.kick(reason=reason),
            CaseType.TEMPBAN: lambda: member.guild.ban(member, reason=reason, delete_message_seconds=0),
            CaseType.BAN: lambda: member.guild.ban(member, reason=reason, delete_message_seconds=0),
        }
        try:
            notes = await self._apply(member.guild, member, follow_up, calls[follow_up.type], settings)
        except discord.HTTPException as error:
            return [
                f"escalation case #{follow_up.number} ({follow_up.type.value}) failed: {error.text or error.status}"
            ]
        await post_to_log(self.bot, settings, follow_up)
        until = "" if follow_up.expires_at is None else f" until {follow_up.expires_at:%Y-%m-%d %H:%M} UTC"
        return [f"escalated: case #{follow_up.number} {follow_up.type.value}{until}", *notes]

    async def _duration(
        self, ctx: Ctx, case_type: CaseType, given: timedelta | None, reason: str | None, *, required: bool = True
    ) -> tuple[timedelta | None, ModSettingsRead]:
        """The duration given, else the server's default for the type; a clear error when there is neither."""
        assert ctx.guild is not None  # noqa: S101
        settings = await self.db.mod_settings.get(ctx.guild.id)
        chosen = given or settings.default_duration(case_type)
        words = (reason or "").split(maxsplit=1)
        if given is None and words and (looks_like_duration(words[0]) or (required and chosen is None)):
            parse_duration(words[0])  # the word skipped as no duration says why it is not one
        if chosen is None and required:
            name = case_type.value.lower()
            raise ValidationError.single("duration", "missing", f"is missing; {HELP} (or `moddefault {name} 1d`)")
        return chosen, settings

    # -- actions ---------------------------------------------------------------------------
    @hybrid(name="warn")
    @commands.has_guild_permissions(moderate_members=True)
    async def warn(self, ctx: Ctx, member: discord.Member, *, reason: str | None = None) -> None:
        """Warn a member (recorded as a case; the server's escalation rules may follow)."""
        await self._act(ctx, member, CaseType.WARN, reason, None)

    @hybrid(name="kick")
    @commands.has_guild_permissions(kick_members=True)
    async def kick(self, ctx: Ctx, member: discord.Member, *, reason: str | None = None) -> None:
        """Kick a member."""
        await self._act(ctx, member, CaseType.KICK, reason, lambda: member.kick(reason=reason))

    @hybrid(name="ban")
    @commands.has_guild_permissions(ban_members=True)
    async def ban(self, ctx: Ctx, user: discord.User, *, reason: str | None = None) -> None:
        """Ban a user (member or not)."""
        assert ctx.guild is not None  # noqa: S101
        guild = ctx.guild
        await self._act(
            ctx, user, CaseType.BAN, reason, lambda: guild.ban(user, reason=reason, delete_message_seconds=0)
        )

    @hybrid(name="tempban")
    @commands.has_guild_permissions(ban_members=True)
    async def tempban(
        self,
        ctx: Ctx,
        user: discord.User,
        duration: timedelta | None = DURATION_OR_DEFAULT,
        *,
        reason: str | None = None,
    ) -> None:
        """Ban a user for a while (``1h30m``, ``7d`` …, or the server's default); unbanned when it runs out."""
        assert ctx.guild is not None  # noqa: S101
        guild = ctx.guild
        lasting, settings = await self._duration(ctx, CaseType.TEMPBAN, duration, reason)
        await self._act(
            ctx,
            user,
            CaseType.TEMPBAN,
            reason,
            lambda: guild.ban(user, reason=reason, delete_message_seconds=0),
            expires_in=lasting,
            settings=settings,
        )

    @hybrid(name="unban")
    @commands.has_guild_permissions(ban_members=True)
    async def unban(self, ctx: Ctx, user: discord.User, *, reason: str | None = None) -> None:
        """Lift a ban."""
        assert ctx.guild is not None  # noqa: S101
        guild = ctx.guild
        await self._act(ctx, user, CaseType.UNBAN, reason, lambda: guild.unban(user, reason=reason))

    @hybrid(name="timeout")
    @commands.has_guild_permissions(moderate_members=True)
    async def timeout(
        self,
        ctx: Ctx,
        member: discord.Member,
        duration: timedelta | None = DURATION_OR_DEFAULT,
        *,
        reason: str | None = None,
    ) -> None:
        """Time a member out (at most 28 days; without a duration, the server's default)."""
        lasting, settings = await self._duration(ctx, CaseType.TIMEOUT, duration, reason)
        assert lasting is not None  # noqa: S101 - required
        if lasting > MAX_TIMEOUT:
            raise commands.BadArgument(f"A timeout can last at most 28 days, not {format_duration(lasting)}.")
        await self._act(
            ctx,
            member,
            CaseType.TIMEOUT,
            reason,
            lambda: member.timeout(lasting, reason=reason),
            expires_in=lasting,
            settings=settings,
        )

    @hybrid(name="jail")
    @commands.has_guild_permissions(manage_roles=True)
    async def jail(
        self,
        ctx: Ctx,
        member: discord.Member,
        duration: timedelta | None = DURATION_OR_DEFAULT,
        *,
        reason: str | None = None,
    ) -> None:
        """Take a member's roles and give them the jail role (for a while, or until ``unjail``)."""
        jail_role = await self._jail_role(member.guild)
        if await self.db.cases.is_jailed(member.guild.id, member.id):
            raise ConflictError(f"{member.display_name} is already jailed; `unjail` them first.")
        lasting, settings = await self._duration(ctx, CaseType.JAIL, duration, reason, required=False)
        saved, kept = jailed_roles(member, jail_role)
        await self._act(
            ctx,
            member,
            CaseType.JAIL,
            reason,
            lambda: member.edit(roles=kept, reason=reason or "jailed"),
            expires_in=lasting,
            role_ids=saved,
            settings=settings,
        )

    @hybrid(name="unjail")
    @commands.has_guild_permissions(manage_roles=True)
    async def unjail(self, ctx: Ctx, member: discord.Member, *, reason: str | None = None) -> None:
        """Give a jailed member their roles back."""
        guild = member.guild
        if not await self.db.cases.is_jailed(guild.id, member.id):
            raise ConflictError(f"{member.display_name} is not jailed.")
        saved = await self.db.cases.jail_roles(guild.id, member.id)
        jail_role_id = (await self.db.guild_config.get(guild.id)).jail_role_id
        current = [r.id for r in member.roles if not r.is_default()]
        roles = [discord.Object(r) for r in restored_roles(current, saved, jail_role_id) if guild.get_role(r)]
        await self._act(
            ctx, member, CaseType.UNJAIL, reason, lambda: member.edit(roles=roles, reason=reason or "unjailed")
        )

    async def _jail_role(self, guild: discord.Guild) -> discord.Role:
        role_id = (await self.db.guild_config.get(guild.id)).jail_role_id
        if role_id is None:
            raise commands.BadArgument("This server has no jail role yet: `setrole jail @role` sets one.")
        role = guild.get_role(role_id)
        if role is None:
            raise commands.BadArgument("The jail role no longer exists: `setrole jail @role` sets a new one.")
        return role

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
    async def cases(
        self, ctx: Ctx, case_type: CaseTypeName | None = None, moderator: discord.User | None = None
    ) -> None:
        """The newest cases of the server: of one type (``ban``, ``warn`` …), or by one moderator."""
        assert ctx.guild is not None  # noqa: S101
        if moderator is not None:
            found = await self.db.cases.by_moderator(ctx.guild.id, moderator.id, limit=100)
            if case_type is not None:
                found = [c for c in found if c.type.value == case_type.upper()]
        elif case_type is not None:
            found = await self.db.cases.by_type(ctx.guild.id, case_type, limit=50)
        else:
            found = await self.db.cases.recent(ctx.guild.id, limit=50)
        await send_pages(ctx, chunk_pages("Cases", [case_line(c) for c in found], empty="No cases yet."))

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
