"""Moderation settings cog (R4.3): what the moderation commands apply, stored through ``db.mod_settings``.

Thin calls, like the config cog: the facade validates (a default duration for a
ban, an escalation to a timeout without a duration, a 29-day timeout …) and the
error mapper quotes its message. Needs Manage Server.
"""

from datetime import timedelta
from typing import Literal

import discord

from guildbase import ModSettingsRead
from guildbase.bot.cog import Ctx, GuildbaseCog, given_or_none, hybrid, manage_guild_only
from guildbase.bot.durations import DURATION, DURATION_OR_DEFAULT, format_duration
from guildbase.bot.ui import embed

TimedType = Literal["tempban", "timeout", "jail"]
LoggedType = Literal["warn", "kick", "ban", "tempban", "unban", "timeout", "jail", "unjail", "untempban", "untimeout"]
EscalationAction = Literal["timeout", "kick", "tempban", "ban"]
LOG_CHANNEL = given_or_none(discord.TextChannel, "where they go (leave out: the mod-log channel)")


def describe(settings: ModSettingsRead) -> discord.Embed:
    """Every moderation setting of a guild in one embed."""
    durations = [
        f"{a.type.value.lower()}: {format_duration(a.default_duration)}" for a in settings.actions if a.default_duration
    ]
    channels = [f"{a.type.value.lower()}: <#{a.log_channel_id}>" for a in settings.actions if a.log_channel_id]
    rules = [
        f"{r.warn_count} warns within {format_duration(r.window)} → {r.action.value.lower()}"
        + (f" {format_duration(r.duration)}" if r.duration else "")
        for r in reversed(settings.rules)
    ]
    return embed(
        "Moderation settings",
        None,
        dm_the_user="on" if settings.is_user_notified else "off",
        reason_required="on" if settings.is_reason_required else "off",
        default_durations="\n".join(durations) or "none",
        log_channels="\n".join(channels) or "the mod-log channel",
        escalation="\n".join(rules) or "none",
    )


class ModSettingsCog(GuildbaseCog, name="Moderation settings"):
    """How moderation behaves in this server (Manage Server)."""

    async def cog_check(self, ctx: Ctx) -> bool:
        return manage_guild_only(ctx)

    @hybrid(name="modsettings")
    async def show(self, ctx: Ctx) -> None:
        """Every moderation setting of this server."""
        assert ctx.guild is not None  # noqa: S101 - cog_check
        await ctx.send(embed=describe(await self.db.mod_settings.get(ctx.guild.id)))

    @hybrid(name="moddm")
    async def dm(self, ctx: Ctx, state: bool) -> None:
        """Whether members get a DM about actions taken against them."""
        assert ctx.guild is not None  # noqa: S101
        await self.db.mod_settings.configure(ctx.guild.id, is_user_notified=state)
        await ctx.send(f"Members {'will' if state else 'will not'} get a DM about actions against them.")

    @hybrid(name="modreason")
    async def reason_required(self, ctx: Ctx, state: bool) -> None:
        """Whether every moderation action needs a reason."""
        assert ctx.guild is not None  # noqa: S101
        await self.db.mod_settings.configure(ctx.guild.id, is_reason_required=state)
        await ctx.send(f"A reason is {'now required' if state else 'no longer required'} for moderation actions.")

    @hybrid(name="moddefault")
    async def default_duration(
        self, ctx: Ctx, case_type: TimedType, duration: timedelta | None = DURATION_OR_DEFAULT
    ) -> None:
        """Set how long a tempban, timeout or jail lasts when no duration is given (no duration: clear it)."""
        assert ctx.guild is not None  # noqa: S101
        await self.db.mod_settings.set_default_duration(ctx.guild.id, case_type, duration)
        shown = "no default" if duration is None else f"{format_duration(duration)} by default"
        await ctx.send(f"{case_type}: {shown}.")

    @hybrid(name="modlog")
    async def log_channel(
        self,
        ctx: Ctx,
        case_type: LoggedType,
        channel: discord.TextChannel | None = LOG_CHANNEL,
    ) -> None:
        """Post one action's cases to a channel (no channel: back to the mod-log channel)."""
        assert ctx.guild is not None  # noqa: S101
        await self.db.mod_settings.set_log_channel(ctx.guild.id, case_type, None if channel is None else channel.id)
        await ctx.send(f"{case_type} cases go to {'the mod-log channel' if channel is None else channel.mention}.")

    @hybrid(name="escalate")
    async def escalate(
        self,
        ctx: Ctx,
        warns: int,
        within: timedelta = DURATION,
        action: EscalationAction = "timeout",
        duration: timedelta | None = DURATION_OR_DEFAULT,
    ) -> None:
        """``escalate 3 7d timeout 1h``: the warn that makes 3 warns within 7 days times the member out for 1h."""
        assert ctx.guild is not None  # noqa: S101
        rule = await self.db.mod_settings.set_rule(ctx.guild.id, warns, within=within, action=action, duration=duration)
        lasting = "" if rule.duration is None else f" for {format_duration(rule.duration)}"
        await ctx.send(f"{rule.warn_count} warns within {format_duration(rule.window)} → {action}{lasting}.")

    @hybrid(name="unescalate")
    async def unescalate(self, ctx: Ctx, warns: int) -> None:
        """Remove the escalation rule for a warn count."""
        assert ctx.guild is not None  # noqa: S101
        removed = await self.db.mod_settings.remove_rule(ctx.guild.id, warns)
        await ctx.send(f"{'Removed' if removed else 'There was no'} escalation at {warns} warns.")
