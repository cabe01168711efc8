"""Reminders cog: ``remind 1h30m text``, list, cancel (with autocomplete of your pending ones).

Creating a reminder is one facade call; the database enqueues its delivery job
in the same transaction, and the bot's job handler sends it when due (to the
channel it was asked in, or by DM).
"""

from datetime import UTC, datetime, timedelta

import discord
from discord import app_commands

from guildbase.bot.cog import Ctx, GuildbaseCog, hybrid
from guildbase.bot.durations import DURATION, format_duration
from guildbase.bot.ui import chunk_pages, send_pages, timestamp


class RemindersCog(GuildbaseCog, name="Reminders"):
    """Timed reminders (feature: reminders)."""

    feature = "reminders"

    @hybrid(name="remind")
    async def remind(
        self,
        ctx: Ctx,
        when: timedelta = DURATION,
        *,
        content: str,
    ) -> None:
        """Remind you after a duration (``30m``, ``1h30m``, ``2d``), here or by DM outside a server."""
        reminder = await self.db.reminders.create(
            ctx.author.id,
            content=content,
            remind_at=datetime.now(UTC) + when,
            guild_id=None if ctx.guild is None else ctx.guild.id,
            channel_id=None if ctx.guild is None else ctx.channel.id,
        )
        await ctx.send(
            f"Reminder #{reminder.reminder_id} in {format_duration(when)} ({timestamp(reminder.remind_at)}).",
            ephemeral=True,
        )

    @hybrid(name="reminders")
    async def reminders(self, ctx: Ctx) -> None:
        """Your pending reminders, soonest first."""
        found = await self.db.reminders.list_for_user(ctx.author.id, limit=100)
        lines = [f"**#{r.reminder_id}** {timestamp(r.remind_at)} — {r.content}" for r in found]
        await send_pages(ctx, chunk_pages("Your reminders", lines, empty="No pending reminders."), ephemeral=True)

    @hybrid(name="unremind")
    async def cancel(self, ctx: Ctx, reminder_id: int) -> None:
        """Cancel one of your pending reminders."""
        await self.db.reminders.cancel(reminder_id, user_id=ctx.author.id)
        await ctx.send(f"Reminder #{reminder_id} cancelled.", ephemeral=True)

    @cancel.autocomplete("reminder_id")
    async def _pending(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[int]]:
        found = await self.db.reminders.list_for_user(interaction.user.id, limit=25)
        return [
            app_commands.Choice(name=f"#{r.reminder_id} {r.content}"[:100], value=r.reminder_id)
            for r in found
            if current.lower() in f"{r.reminder_id} {r.content}".lower()
        ]
