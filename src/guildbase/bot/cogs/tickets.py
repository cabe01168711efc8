"""Tickets cog (R12): panel messages, the open modal, claim/close buttons, close requests, ratings, transcripts.

Everything is a thin call to ``db.tickets``; the facade decides (limits,
cooldowns, the state machine, who may do what) and its refusals are told to
the member, ephemeral. Discord work is REST by ID (``bot.http``), so any shard
or the job worker can do it:

- ``/ticketpanel`` (Manage Server) makes a panel in the channel and posts its
  "Open ticket" message; its other settings are ``db.tickets.update_panel``'s.
- Open: the panel's questions in a modal, then a private thread (thread mode)
  or a channel in the panel's category (channel mode), the opener added, the
  staff and ping roles mentioned, Claim and Close buttons.
- Close by staff with close confirmation on: a close request (the ticket goes
  pending, a job closes it after the panel's delay unless the opener answers);
  close by the opener, or with confirmation off: closed at once.
- On close (a button, a job, the opener leaving): the HTML transcript goes to
  the panel's transcript channel, the rating and Reopen buttons to the ticket,
  and the thread is archived (a channel is locked for the opener).
- Every message in a ticket channel is archived (``record_message``), edits too.
"""

import io
import logging
from contextlib import ExitStack
from typing import Any, Literal

import discord
from discord.ext import commands

from guildbase import AuditSource, GuildbaseError, acting_as, audit_context
from guildbase.bot.cog import Ctx, GuildbaseCog, given_or_none, hybrid
from guildbase.bot.ticket_views import ClosedView, CloseRequestView, ControlsView, OpenModal, PanelView
from guildbase.bot.ui import embed, timestamp
from guildbase.db.types import utcnow
from guildbase.models.tickets import TicketAction, TicketMode, TicketPanelRead, TicketRead, TicketStatus

log = logging.getLogger("guildbase.bot")
PRIVATE_THREAD: Literal[12] = 12
WEEK_MINUTES: Literal[10080] = 10080
VIEW_AND_SEND = discord.Permissions(view_channel=True, send_messages=True, read_message_history=True, attach_files=True)


def _acting(interaction: discord.Interaction) -> ExitStack:
    stack = ExitStack()
    stack.enter_context(acting_as(interaction.user.id))
    stack.enter_context(audit_context(AuditSource.BOT, correlation_id=str(interaction.id)))
    return stack


def _roles(user: discord.abc.User) -> list[int]:
    return [role.id for role in getattr(user, "roles", [])]


def _is_admin(user: discord.abc.User) -> bool:
    permissions = getattr(user, "guild_permissions", None)
    return bool(permissions and permissions.administrator)


class TicketsCog(GuildbaseCog, name="Tickets"):
    """Support tickets: panels, claims, close requests, transcripts and ratings."""

    feature = "tickets"

    async def cog_load(self) -> None:
        for view in (PanelView(self), ControlsView(self), CloseRequestView(self), ClosedView(self)):
            self.bot.add_view(view)

    # -- commands --------------------------------------------------------------------------
    @hybrid(name="ticketpanel")
    @commands.has_guild_permissions(manage_guild=True)
    async def ticketpanel(
        self,
        ctx: Ctx,
        label: str,
        staff_role: discord.Role,
        *,
        question: str | None = given_or_none(str, "asked when a ticket is opened"),
    ) -> None:
        """Create a ticket panel in this channel and post its Open ticket button."""
        assert ctx.guild is not None  # noqa: S101 - guild-only by the permission check
        panel = await self.db.tickets.create_panel(
            ctx.guild.id,
            label,
            channel_id=ctx.channel.id,
            staff_role_ids=[staff_role.id],
            questions=[question] if question else [],
        )
        message = await ctx.channel.send(
            embed=embed(label, "Press the button to open a private ticket with the staff."), view=PanelView(self)
        )
        await self.db.tickets.update_panel(ctx.guild.id, panel.panel_id, message_id=message.id)
        await ctx.send(f"Ticket panel {panel.panel_id} ({label}) is ready.", ephemeral=True)

    @hybrid(name="ticketadd")
    async def ticketadd(self, ctx: Ctx, member: discord.Member) -> None:
        """Add a member to this ticket."""
        ticket = await self._ticket_here(ctx, TicketAction.ADD_PARTICIPANT)
        if ticket is None:
            return
        await self.db.tickets.add_participant(ticket.guild_id, ticket.number, member.id)
        if ticket.channel_id is not None:
            await self.bot.http.add_user_to_thread(ticket.channel_id, member.id)
        await ctx.send(f"{member.mention} was added to ticket #{ticket.number}.")

    @hybrid(name="ticketrename")
    async def ticketrename(self, ctx: Ctx, *, subject: str) -> None:
        """Rename this ticket."""
        ticket = await self._ticket_here(ctx, TicketAction.CLOSE)
        if ticket is None:
            return
        renamed = await self.db.tickets.rename(ticket.guild_id, ticket.number, subject)
        if renamed.channel_id is not None:
            await self.bot.http.edit_channel(renamed.channel_id, name=subject[:100])
        await ctx.send(f"Ticket #{ticket.number} is now “{subject}”.")

    async def _ticket_here(self, ctx: Ctx, action: TicketAction) -> TicketRead | None:
        ticket = await self.db.tickets.by_channel(ctx.channel.id)
        if ticket is None:
            await ctx.send("This is not a ticket channel.", ephemeral=True)
            return None
        if not await self.db.tickets.can(
            ticket, ctx.author.id, _roles(ctx.author), action, is_admin=_is_admin(ctx.author)
        ):
            await ctx.send("You may not do that in this ticket.", ephemeral=True)
            return None
        return ticket

    # -- listeners -------------------------------------------------------------------------
    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if message.guild is None or message.author.bot or not await self.enabled(message.guild.id):
            return
        with acting_as(message.author.id), audit_context(AuditSource.BOT, correlation_id=str(message.id)):
            await self.db.tickets.record_message(
                message.guild.id,
                message.channel.id,
                message.id,
                message.author.id,
                message.content[:4000],
                role_ids=_roles(message.author),
                attachment_urls=[a.url for a in message.attachments],
                is_admin=_is_admin(message.author),
            )

    @commands.Cog.listener()
    async def on_raw_message_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        content = payload.data.get("content")
        if payload.guild_id is None or content is None or not await self.enabled(payload.guild_id):
            return
        await self.db.tickets.record_edit(payload.guild_id, payload.channel_id, payload.message_id, content[:4000])

    @commands.Cog.listener()
    async def on_raw_member_remove(self, payload: discord.RawMemberRemoveEvent) -> None:
        with audit_context(AuditSource.BOT):
            for ticket in await self.db.tickets.opener_left(payload.guild_id, payload.user.id):
                await self.after_close(ticket)

    # -- opening ---------------------------------------------------------------------------
    async def open_from_panel(self, interaction: discord.Interaction) -> None:
        """The panel's Open ticket button: ask its questions, or open at once."""
        if interaction.guild is None or interaction.message is None:
            return
        panel = next(
            (p for p in await self.db.tickets.panels(interaction.guild.id) if p.message_id == interaction.message.id),
            None,
        )
        if panel is None:
            await interaction.response.send_message("This panel no longer exists.", ephemeral=True)
            return
        if panel.questions:
            await interaction.response.send_modal(OpenModal(self, panel))
            return
        await self.open_ticket(interaction, panel, {})

    async def open_ticket(
        self, interaction: discord.Interaction, panel: TicketPanelRead, answers: dict[str, str]
    ) -> None:
        """Open the ticket, make its thread or channel, and greet the opener and the staff."""
        user = interaction.user
        with _acting(interaction):
            try:
                ticket = await self.db.tickets.open(
                    panel.guild_id, panel.panel_id, user.id, role_ids=_roles(user), answers=answers
                )
            except GuildbaseError as error:
                await interaction.response.send_message(self.bot.errors.reply_for(error).text, ephemeral=True)
                return
            await interaction.response.defer(ephemeral=True, thinking=True)
            channel_id = await self._make_channel(panel, ticket, user)
            await self.db.tickets.set_channel(ticket.guild_id, ticket.number, channel_id)
        mentions = " ".join([user.mention, *(f"<@&{r}>" for r in panel.ping_role_ids)])
        greeting = embed(f"Ticket #{ticket.number}", f"{user.mention} opened this ticket from {panel.label}.")
        for question, answer in answers.items():
            greeting.add_field(name=question, value=answer[:1024] or "-", inline=False)
        if panel.working_hours is not None and not panel.working_hours.is_open(utcnow()):
            greeting.set_footer(text="Staff are outside their working hours; expect an answer when they are back.")
        await self.bot.get_partial_messageable(channel_id).send(mentions, embed=greeting, view=ControlsView(self))
        await interaction.followup.send(f"Ticket #{ticket.number} is open: <#{channel_id}>", ephemeral=True)

    async def _make_channel(self, panel: TicketPanelRead, ticket: TicketRead, user: discord.abc.User) -> int:
        name = panel.ticket_name(ticket.number, user.name)
        if panel.mode is TicketMode.CHANNEL:
            everyone = discord.Permissions.none().value
            overwrites = [
                {"id": str(panel.guild_id), "type": 0, "allow": "0", "deny": str(VIEW_AND_SEND.value)},
                {"id": str(user.id), "type": 1, "allow": str(VIEW_AND_SEND.value), "deny": str(everyone)},
                *(
                    {"id": str(role), "type": 0, "allow": str(VIEW_AND_SEND.value), "deny": "0"}
                    for role in panel.staff_role_ids
                ),
            ]
            data: Any = await self.bot.http.create_channel(
                panel.guild_id, 0, name=name, parent_id=panel.category_id, permission_overwrites=overwrites
            )
            return int(data["id"])
        parent = panel.channel_id
        assert parent is not None  # noqa: S101 - a thread-mode panel is made in a channel
        data = await self.bot.http.start_thread_without_message(
            parent, name=name, auto_archive_duration=WEEK_MINUTES, type=PRIVATE_THREAD, invitable=False
        )
        thread_id = int(data["id"])
        await self.bot.http.add_user_to_thread(thread_id, user.id)
        return thread_id

    # -- the buttons in a ticket --------------------------------------------------------------
    async def _here(self, interaction: discord.Interaction, action: TicketAction) -> TicketRead | None:
        """The ticket of the interaction's channel if the presser may ``action`` it; else say why."""
        ticket = None if interaction.channel_id is None else await self.db.tickets.by_channel(interaction.channel_id)
        if ticket is None:
            await interaction.response.send_message("This is not a ticket channel.", ephemeral=True)
            return None
        user = interaction.user
        if not await self.db.tickets.can(ticket, user.id, _roles(user), action, is_admin=_is_admin(user)):
            await interaction.response.send_message(f"You may not {action.value} this ticket.", ephemeral=True)
            return None
        return ticket

    async def _run(self, interaction: discord.Interaction, call: Any) -> TicketRead | None:
        """Run a facade call for a button; a refusal is told to the presser."""
        with _acting(interaction):
            try:
                result: TicketRead = await call
            except GuildbaseError as error:
                await interaction.response.send_message(self.bot.errors.reply_for(error).text, ephemeral=True)
                return None
        return result

    async def claim(self, interaction: discord.Interaction) -> None:
        ticket = await self._here(interaction, TicketAction.CLAIM)
        if ticket is None:
            return
        if ticket.claimed_by is not None and ticket.claimed_by != interaction.user.id:
            call = self.db.tickets.transfer(ticket.guild_id, ticket.number, interaction.user.id)
        else:
            call = self.db.tickets.claim(ticket.guild_id, ticket.number, interaction.user.id)
        if await self._run(interaction, call) is not None:
            await interaction.response.send_message(f"{interaction.user.mention} has claimed this ticket.")

    async def close(self, interaction: discord.Interaction) -> None:
        """Close: at once for the opener (or without confirmation), else a close request to the opener."""
        ticket = await self._here(interaction, TicketAction.CLOSE)
        if ticket is None:
            return
        panel = await self.db.tickets.panel(ticket.guild_id, ticket.panel_id)
        if interaction.user.id == ticket.opener_id or not panel.is_close_confirmed:
            await self.close_now(interaction)
            return
        pending = await self._run(interaction, self.db.tickets.request_close(ticket.guild_id, ticket.number))
        if pending is None:
            return
        await interaction.response.send_message(
            f"<@{ticket.opener_id}>, can this ticket be closed? It closes {timestamp(pending.close_at)} "
            "unless you answer.",
            view=CloseRequestView(self),
        )

    async def close_now(self, interaction: discord.Interaction) -> None:
        ticket = await self._here(interaction, TicketAction.CLOSE)
        if ticket is None:
            return
        closed = await self._run(interaction, self.db.tickets.close(ticket.guild_id, ticket.number))
        if closed is not None:
            await interaction.response.send_message(f"Ticket #{closed.number} closed by {interaction.user.mention}.")
            await self.after_close(closed)

    async def keep_open(self, interaction: discord.Interaction) -> None:
        ticket = await self._here(interaction, TicketAction.REPLY)
        if ticket is None:
            return
        if interaction.user.id != ticket.opener_id:
            await interaction.response.send_message("Only the opener answers a close request.", ephemeral=True)
            return
        kept = await self._run(interaction, self.db.tickets.cancel_close_request(ticket.guild_id, ticket.number))
        if kept is not None:
            await interaction.response.send_message("The ticket stays open.")

    async def reopen(self, interaction: discord.Interaction) -> None:
        ticket = await self._here(interaction, TicketAction.CLOSE)
        if ticket is None:
            return
        reopened = await self._run(interaction, self.db.tickets.reopen(ticket.guild_id, ticket.number))
        if reopened is None:
            return
        if reopened.channel_id is not None:
            await self.bot.http.edit_channel(reopened.channel_id, archived=False, locked=False)
        await interaction.response.send_message(
            f"Ticket #{reopened.number} reopened by {interaction.user.mention}.", view=ControlsView(self)
        )

    async def rate(self, interaction: discord.Interaction, stars: int) -> None:
        ticket = await self._here(interaction, TicketAction.RATE)
        if ticket is None:
            return
        rated = await self._run(
            interaction, self.db.tickets.rate(ticket.guild_id, ticket.number, interaction.user.id, stars)
        )
        if rated is not None:
            await interaction.response.send_message(
                f"Thank you for rating ticket #{rated.number} {'★' * stars}.", ephemeral=True
            )

    # -- after a close, whoever closed it ----------------------------------------------------------
    async def after_close(self, ticket: TicketRead) -> None:
        """The transcript to the panel's channel, the rating prompt to the ticket, the thread archived."""
        if ticket.status is not TicketStatus.CLOSED or ticket.channel_id is None:
            return
        panel = await self.db.tickets.panel(ticket.guild_id, ticket.panel_id)
        if panel.transcript_channel_id is not None:
            page = await self.db.tickets.export_html(ticket.guild_id, ticket.number)
            transcript = discord.File(io.BytesIO(page.encode()), filename=f"ticket-{ticket.number}.html")
            await self.bot.get_partial_messageable(panel.transcript_channel_id).send(
                f"Transcript of ticket #{ticket.number} (<@{ticket.opener_id}>): {ticket.close_reason or 'closed'}",
                file=transcript,
            )
        await self.bot.get_partial_messageable(ticket.channel_id).send(
            f"<@{ticket.opener_id}>, ticket #{ticket.number} is closed ({ticket.close_reason or 'done'}). "
            "How did we do?",
            view=ClosedView(self),
        )
        if panel.mode is TicketMode.THREAD:
            await self.bot.http.edit_channel(ticket.channel_id, archived=True, locked=True)
