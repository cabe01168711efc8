"""Polls cog (R14.2): ``poll "Lunch?" "pizza | sushi | salad" 1h``, voted on by button or reaction.

Every vote is one facade call (``db.polls.vote``: one vote per member, the
counts moved with it). Buttons are persistent (``PollButton``, a
``DynamicItem`` whose custom ID names the guild, poll and option), so they keep
working after a restart; a button press updates the poll's message with the
live counts. Reaction polls count the option emoji a member adds, and a
removed reaction takes back the vote it gave; the reaction listener first asks
the cached ``db.polls.open_polls`` whether the message is a poll at all.
A poll with a duration is closed by its job; the bot's job handler
(``bot/jobs.py``) then shows the final counts, as ``pollclose`` does.
"""

import re
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import discord
from discord.ext import commands

from guildbase import GuildbaseError, PollRead, PollStatus
from guildbase.bot.cog import Ctx, GuildbaseCog, hybrid
from guildbase.bot.durations import DURATION_OR_DEFAULT
from guildbase.bot.ui import embed, timestamp

BAR_WIDTH = 12


def describe(poll: PollRead) -> discord.Embed:
    """The poll's message: question, each option with its live count and a bar, and how it ends."""
    total = poll.total_votes
    lines = []
    for option in poll.options:
        share = option.votes / total if total else 0.0
        bar = "█" * round(share * BAR_WIDTH) + "░" * (BAR_WIDTH - round(share * BAR_WIDTH))
        lines.append(f"{option.emoji} **{option.label}** — {option.votes} `{bar}`")
    closed = poll.status is PollStatus.CLOSED
    ends = "closed" if closed else ("open" if poll.ends_at is None else f"ends {timestamp(poll.ends_at)}")
    result = embed(f"Poll #{poll.number}: {poll.question}", "\n".join(lines))
    result.set_footer(text=f"{total} vote(s) · {ends}")
    return result


def buttons(poll: PollRead) -> discord.ui.View | None:
    """One persistent button per option for an open button poll (None for reaction polls and closed polls)."""
    if poll.kind != "button" or poll.status is PollStatus.CLOSED:
        return None
    view = discord.ui.View(timeout=None)
    for option in poll.options:
        view.add_item(PollButton(poll.guild_id, poll.number, option.position, label=option.label, emoji=option.emoji))
    return view


class PollButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"poll:(?P<g>\d+):(?P<n>\d+):(?P<p>\d+)"):
    """A vote button: its custom ID carries the poll, so any bot process (after any restart) can count it."""

    def __init__(self, guild_id: int, number: int, position: int, *, label: str = "", emoji: str | None = None) -> None:
        super().__init__(
            discord.ui.Button(
                label=label or str(position),
                emoji=emoji,
                style=discord.ButtonStyle.secondary,
                custom_id=f"poll:{guild_id}:{number}:{position}",
            )
        )
        self.guild_id, self.number, self.position = guild_id, number, position

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> "PollButton":
        del interaction
        label = item.label if isinstance(item, discord.ui.Button) else None
        return cls(int(match["g"]), int(match["n"]), int(match["p"]), label=label or "", emoji=None)

    async def callback(self, interaction: discord.Interaction) -> None:
        db = interaction.client.db  # type: ignore[attr-defined]
        try:
            await db.polls.vote(self.guild_id, self.number, interaction.user.id, self.position)
        except GuildbaseError as error:
            await interaction.response.send_message(str(error), ephemeral=True)
            return
        poll = await db.polls.get(self.guild_id, self.number)
        if poll is None:
            return
        await interaction.response.edit_message(embed=describe(poll), view=buttons(poll))


class PollsCog(GuildbaseCog, name="Polls"):
    """Polls with buttons or reactions (feature: polls)."""

    feature = "polls"

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(PollButton)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(PollButton)

    async def cog_check(self, ctx: Ctx) -> bool:
        if ctx.guild is None:
            raise commands.NoPrivateMessage
        return True

    @hybrid(name="poll")
    async def poll(
        self,
        ctx: Ctx,
        question: str,
        options: str,
        duration: timedelta | None = DURATION_OR_DEFAULT,
        kind: Literal["button", "reaction"] = "button",
    ) -> None:
        """Open a poll: ``poll "Lunch?" "pizza | sushi | salad" 1h`` (options split by ``|``; duration optional)."""
        assert ctx.guild is not None  # noqa: S101 - cog_check
        labels = [label.strip() for label in options.split("|")]
        ends_at = None if duration is None else datetime.now(UTC) + duration
        created = await self.db.polls.create(
            ctx.guild.id, ctx.channel.id, ctx.author.id, question, labels, kind=kind, ends_at=ends_at
        )
        view = buttons(created)
        message = await (
            ctx.send(embed=describe(created)) if view is None else ctx.send(embed=describe(created), view=view)
        )
        if created.kind == "reaction":
            for option in created.options:
                await message.add_reaction(option.emoji)
        await self.db.polls.set_message(ctx.guild.id, created.number, message.id)

    @hybrid(name="pollclose")
    @commands.has_permissions(manage_messages=True)
    async def close(self, ctx: Ctx, number: int) -> None:
        """Close a poll now and show its final counts."""
        assert ctx.guild is not None  # noqa: S101
        closed = await self.db.polls.close(ctx.guild.id, number)
        await show_final(self.bot, closed)
        await ctx.send(f"Poll #{number} closed.")

    @hybrid(name="pollresults")
    async def results(self, ctx: Ctx, number: int) -> None:
        """A poll's live counts."""
        assert ctx.guild is not None  # noqa: S101
        found = await self.db.polls.get(ctx.guild.id, number)
        if found is None:
            await ctx.send(f"There is no poll #{number} here.")
            return
        await ctx.send(embed=describe(found))

    # -- reaction polls ------------------------------------------------------------------------
    async def _reaction(self, payload: discord.RawReactionActionEvent) -> tuple[int, int] | None:
        """``(number, position)`` when the reaction is an option of an open reaction poll."""
        if payload.guild_id is None or payload.user_id == self.bot.user.id:  # type: ignore[union-attr]
            return None
        if not await self.enabled(payload.guild_id):
            return None
        poll = (await self.db.polls.open_polls(payload.guild_id)).by_message(payload.message_id)
        emoji = str(payload.emoji)
        if poll is None or poll.kind != "reaction" or emoji not in poll.emojis:
            return None
        return poll.number, poll.emojis.index(emoji) + 1

    @commands.Cog.listener()
    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        found = await self._reaction(payload)
        if found is None or payload.guild_id is None:
            return
        try:
            await self.db.polls.vote(payload.guild_id, found[0], payload.user_id, found[1])
        except GuildbaseError:
            return  # poll-banned, or closed a moment ago: the reaction stays, the vote does not count

    @commands.Cog.listener()
    async def on_raw_reaction_remove(self, payload: discord.RawReactionActionEvent) -> None:
        found = await self._reaction(payload)
        if found is None or payload.guild_id is None:
            return
        try:
            await self.db.polls.retract(payload.guild_id, found[0], payload.user_id, position=found[1])
        except GuildbaseError:
            return


async def show_final(bot: Any, poll: PollRead) -> None:
    """Edit the poll's message to its final counts (no buttons left); a deleted message is fine."""
    if poll.message_id is None:
        return
    message = bot.get_partial_messageable(poll.channel_id).get_partial_message(poll.message_id)
    try:
        await message.edit(embed=describe(poll), view=None)
    except discord.NotFound:
        return
