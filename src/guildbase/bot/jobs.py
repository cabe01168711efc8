"""The Discord side of timed work: the bot runs the job worker with these actions.

The data layer decides what is due and records outcomes (``guildbase.jobs``); each
action here is the one Discord call that goes with it:

- tempban expiry → unban (an already lifted ban counts as done);
- jail expiry → give back the roles the jail saved, drop the jail role (a member
  who left counts as done);
- timeout expiry → nothing to call: Discord ends timeouts itself, the case is closed;
- reminder due → send it to its channel, or by DM for a DM reminder;
- AFK expiry → nothing to call: the row is cleared (the bot does not rename members);
- feed fetch → post each new item to the integration's channel (webhook deliveries
  are posted by the data layer itself).
- a ticket's scheduled or idle close → its transcript posted, the rating prompt, the thread archived
  (the tickets cog's ``after_close``).
- a subscription's period or grace ends → DM its owner (a user, or the guild's owner).
- poll end → the poll's message shows its final counts (a deleted message counts as done).
- AFK expiry → nothing to call: the row is cleared (the bot does not rename members).
- lockdown end → the channel's saved permission overwrites written back as its whole list.

A Discord failure (missing permission, deleted channel, closed DMs) raises, so the
job fails with that reason, is retried with backoff, and shows in
``guildbase jobs status``. Actions use REST by ID only, so any bot process can run
any guild's job, whichever shard holds the guild.
"""

import asyncio
import logging
from typing import TYPE_CHECKING

import discord

from guildbase import AFKRead, CaseRead, PollRead, ReminderRead
from guildbase.bot.feeds import post_feed_item
from guildbase.bot.lockdown import restore_overwrites
from guildbase.bot.moderation import restored_roles
from guildbase.jobs.handlers import BotActions, register_builtin, register_maintenance
from guildbase.jobs.premium import register_premium
from guildbase.jobs.registry import JobRegistry
from guildbase.jobs.runner import JobRunner
from guildbase.models.integrations import FeedItem, IntegrationRead
from guildbase.models.premium import OwnerType, SubscriptionRead, SubscriptionStatus
from guildbase.models.tickets import TicketRead

if TYPE_CHECKING:
    from guildbase.bot.bot import GuildbaseBot
    from guildbase.models.channel_settings import ChannelSettingRead

log = logging.getLogger("guildbase.bot")


class BotJobs:
    """The bot process's job worker: built-in kinds with Discord actions, plus maintenance."""

    def __init__(self, bot: "GuildbaseBot") -> None:
        self.bot = bot
        self.registry = JobRegistry()
        register_maintenance(self.registry)
        register_builtin(
            self.registry,
            BotActions(
                unban=self.unban,
                end_timeout=self.end_timeout,
                unjail=self.unjail,
                deliver_reminder=self.deliver_reminder,
                end_afk=self.end_afk,
                post_feed_item=self.post_feed_item,
                close_ticket=self.close_ticket,
                end_poll=self.end_poll,
                end_lockdown=self.end_lockdown,
            ),
        )
        register_premium(self.registry, self.tell_premium_owner)
        self.runner = JobRunner(bot.db, self.registry)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start claiming jobs in the background."""
        self._task = asyncio.get_running_loop().create_task(self.runner.run(), name="guildbase-bot-jobs")

    async def stop(self) -> None:
        """Stop claiming; running jobs get the shutdown grace (``GUILDBASE_JOBS_SHUTDOWN_TIMEOUT_SECONDS``)."""
        if self._task is None:
            return
        self.runner.stop()
        await self._task
        self._task = None

    async def unban(self, case: CaseRead, attempt: int) -> None:
        """Lift an expired tempban; a ban already lifted by hand is fine."""
        try:
            await self.bot.http.unban(case.user_id, case.guild_id, reason=f"tempban case #{case.number} expired")
        except discord.NotFound:
            log.info("tempban #%s in %s: user %s was no longer banned", case.number, case.guild_id, case.user_id)
        log.debug("unbanned %s in %s (attempt %s)", case.user_id, case.guild_id, attempt)

    async def unjail(self, case: CaseRead, role_ids: list[int], attempt: int) -> None:
        """Lift an expired jail: the saved roles back, the jail role gone, by REST (any shard can run it)."""
        jail_role_id = (await self.bot.db.guild_config.get(case.guild_id)).jail_role_id
        try:
            member = await self.bot.http.get_member(case.guild_id, case.user_id)
        except discord.NotFound:
            log.info("jail #%s in %s: user %s has left; nothing to restore", case.number, case.guild_id, case.user_id)
            return
        roles = restored_roles((int(r) for r in member["roles"]), role_ids, jail_role_id)
        await self.bot.http.edit_member(
            case.guild_id, case.user_id, roles=[str(r) for r in roles], reason=f"jail case #{case.number} expired"
        )
        log.debug("unjailed %s in %s (attempt %s)", case.user_id, case.guild_id, attempt)

    async def end_timeout(self, case: CaseRead, attempt: int) -> None:
        """Discord lifts timeouts on its own; only the case is closed."""
        log.debug("timeout #%s in %s ended (attempt %s)", case.number, case.guild_id, attempt)

    async def deliver_reminder(self, reminder: ReminderRead, attempt: int) -> None:
        """Send the reminder where it was asked for, mentioning its owner."""
        text = f"<@{reminder.user_id}> ⏰ reminder #{reminder.reminder_id}: {reminder.content}"
        if reminder.channel_id is not None:
            await self.bot.get_partial_messageable(reminder.channel_id).send(text)
        else:
            user = self.bot.get_user(reminder.user_id) or await self.bot.fetch_user(reminder.user_id)
            await user.send(text)
        log.debug("delivered reminder %s (attempt %s)", reminder.reminder_id, attempt)

    async def end_lockdown(self, setting: "ChannelSettingRead", attempt: int) -> None:
        """Give the channel back exactly the overwrites its lockdown saved."""
        await restore_overwrites(self.bot, setting, reason="lockdown expired")
        log.debug("lockdown of %s in %s ended (attempt %s)", setting.channel_id, setting.guild_id, attempt)

    async def end_afk(self, afk: AFKRead, attempt: int) -> None:
        """Nothing to do on Discord: the reference bot does not rename AFK members."""
        log.debug("AFK of %s in %s expired (attempt %s)", afk.user_id, afk.guild_id, attempt)

    async def post_feed_item(self, integration: IntegrationRead, item: FeedItem) -> None:
        """Post one new feed item to its channel (``post_feed_item``)."""
        await post_feed_item(self.bot, integration, item)

    async def close_ticket(self, ticket: TicketRead, attempt: int) -> None:
        """A ticket closed by its job: the tickets cog posts the transcript and the rating prompt."""
        cog = self.bot.get_cog("Tickets")
        if cog is not None:
            await cog.after_close(ticket)  # type: ignore[attr-defined]
        log.debug("ticket #%s in %s closed by its job (attempt %s)", ticket.number, ticket.guild_id, attempt)

    async def tell_premium_owner(self, sub: SubscriptionRead) -> None:
        """DM the owner (the user, or the guild's owner) that a subscription entered grace or expired."""
        if sub.status is SubscriptionStatus.GRACE:
            text = (
                f"Your {sub.tier_id} premium period has ended; its benefits stay until "
                f"<t:{int(sub.grace_until.timestamp()) if sub.grace_until else 0}:f>. Renew to keep them."
            )
        else:
            text = f"Your {sub.tier_id} premium has expired; its benefits are gone. Renew any time."
        user_id = sub.owner_id
        if sub.owner_type is OwnerType.GUILD:  # the guild's owner: from this shard's cache, else by REST
            cached = self.bot.get_guild(sub.owner_id)
            if cached is not None and cached.owner_id is not None:
                user_id, name = cached.owner_id, cached.name
            else:
                fetched = await self.bot.http.get_guild(sub.owner_id)
                user_id, name = int(fetched["owner_id"]), str(fetched["name"])
            text = f"Server {name}: {text}"
        user = self.bot.get_user(user_id) or await self.bot.fetch_user(user_id)
        await user.send(text)

    async def end_poll(self, poll: PollRead, attempt: int) -> None:
        """Show the final counts on the poll's message (the job closes the poll in its transaction)."""
        from guildbase.bot.cogs.polls import show_final  # noqa: PLC0415 - cogs import the bot module's types

        closed = poll.model_copy(update={"status": "closed"})
        await show_final(self.bot, closed)
        log.debug("poll #%s in %s ended (attempt %s)", poll.number, poll.guild_id, attempt)
