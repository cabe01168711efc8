"""Channel settings cog (R15.4): slowmode, lockdowns with an optional end, server-wide lockdowns.

A lockdown saves the channel's overwrites through ``db.channel_settings.lock``
first, then writes the locked list to Discord; unlocking (or the end job, in
``bot/jobs.py``) writes the saved list back. Needs Manage Channels.
"""

from datetime import UTC, datetime, timedelta
from typing import Optional

import discord
from discord.ext import commands

from guildbase.bot.cog import Ctx, GuildbaseCog, hybrid
from guildbase.bot.durations import Duration, format_duration
from guildbase.bot.lockdown import current_overwrites, locked_overwrites, restore_overwrites

LOCK_FOR = commands.parameter(
    converter=Optional[Duration],  # noqa: UP045 - discord.py reads typing.Optional to make the argument skippable
    default=None,
    description="how long, e.g. 30m, 2h (leave out: until unlocked)",
)


class ChannelSettingsCog(
    GuildbaseCog, commands.GroupCog, name="Channels", group_name="channel", group_description="Slowmode and lockdowns"
):
    """Slowmode and lockdowns (Manage Channels)."""

    async def cog_check(self, ctx: Ctx) -> bool:
        if ctx.guild is None:
            raise commands.NoPrivateMessage
        if not ctx.author.guild_permissions.manage_channels:  # type: ignore[union-attr]
            raise commands.MissingPermissions(["manage_channels"])
        return True

    @hybrid(name="slowmode")
    async def slowmode(self, ctx: Ctx, seconds: int, channel: discord.TextChannel | None = None) -> None:
        """Set the channel's slowmode in seconds (0: off)."""
        assert ctx.guild is not None  # noqa: S101 - cog_check
        target = channel or ctx.channel
        await self.db.channel_settings.set_slowmode(ctx.guild.id, target.id, seconds)  # validates first
        await self.bot.http.edit_channel(target.id, rate_limit_per_user=seconds, reason=f"slowmode by {ctx.author}")
        await ctx.send(f"Slowmode in <#{target.id}>: {f'{seconds}s' if seconds else 'off'}.")

    @hybrid(name="lockdown")
    async def lockdown(
        self,
        ctx: Ctx,
        channel: discord.TextChannel | None = None,
        duration: timedelta | None = LOCK_FOR,
        *,
        reason: str | None = None,
    ) -> None:
        """Stop @everyone from sending in a channel, until unlocked or for a while."""
        assert ctx.guild is not None  # noqa: S101
        target = channel or ctx.channel
        assert isinstance(target, discord.TextChannel)  # noqa: S101 - guild text channels only
        await self._lock(target, duration, reason)
        until = "until unlocked" if duration is None else f"for {format_duration(duration)}"
        await ctx.send(f"🔒 <#{target.id}> is locked {until}.")

    @hybrid(name="unlock")
    async def unlock(self, ctx: Ctx, channel: discord.TextChannel | None = None) -> None:
        """End a channel's lockdown: its permission overwrites go back to what they were."""
        assert ctx.guild is not None  # noqa: S101
        target = channel or ctx.channel
        ended = await self._unlock(ctx.guild.id, target.id)
        await ctx.send(f"🔓 <#{target.id}> is unlocked." if ended else f"<#{target.id}> was not locked.")

    @hybrid(name="serverlock")
    async def server_lock(self, ctx: Ctx, duration: timedelta | None = LOCK_FOR, *, reason: str | None = None) -> None:
        """Lock every text channel of the server (until ``serverunlock``, or for a while)."""
        assert ctx.guild is not None  # noqa: S101
        channels = list(ctx.guild.text_channels)
        for channel in channels:
            await self._lock(channel, duration, reason)
        await ctx.send(f"🔒 Locked {len(channels)} channels.")

    @hybrid(name="serverunlock")
    async def server_unlock(self, ctx: Ctx) -> None:
        """Unlock every locked channel of the server."""
        assert ctx.guild is not None  # noqa: S101
        ended = 0
        for setting in await self.db.channel_settings.locked(ctx.guild.id):
            ended += await self._unlock(ctx.guild.id, setting.channel_id)
        await ctx.send(f"🔓 Unlocked {ended} channels.")

    async def _lock(self, channel: discord.TextChannel, duration: timedelta | None, reason: str | None) -> None:
        """Save the overwrites, then deny sending; a Discord refusal undoes the saved lock."""
        until = None if duration is None else datetime.now(UTC) + duration
        lock = await self.db.channel_settings.lock(
            channel.guild.id, channel.id, current_overwrites(channel), until=until, reason=reason
        )
        try:
            await self.bot.http.edit_channel(
                channel.id,
                permission_overwrites=locked_overwrites(channel.guild.id, lock.saved_overwrites or []),
                reason=reason or "lockdown",
            )
        except discord.HTTPException:
            await self.db.channel_settings.unlock(channel.guild.id, channel.id)
            raise

    async def _unlock(self, guild_id: int, channel_id: int) -> bool:
        """Write the saved overwrites back, then forget the lock (a Discord refusal keeps it)."""
        setting = await self.db.channel_settings.get(guild_id, channel_id)
        if setting is None or not setting.is_locked:
            return False
        await restore_overwrites(self.bot, setting, reason="unlocked")
        return await self.db.channel_settings.unlock(guild_id, channel_id) is not None
