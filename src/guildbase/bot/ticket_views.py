"""The ticket buttons and the open modal; every press goes to ``TicketsCog``, which calls ``db.tickets``.

The views are persistent (no timeout, fixed ``custom_id``s, registered once
with ``bot.add_view``), so a button keeps working after a restart and on any
shard: which panel or ticket a press is about comes from the message (the
panel message's ID) or the channel (the ticket's thread or channel), never
from memory.
"""

from typing import TYPE_CHECKING

import discord

from guildbase.models.tickets import MAX_STARS, MIN_STARS, QUESTION_MAX_LENGTH, TicketPanelRead

if TYPE_CHECKING:
    from guildbase.bot.cogs.tickets import TicketsCog

PREFIX = "guildbase:ticket:"
ANSWER_LENGTH = 1000


class PanelView(discord.ui.View):
    """The panel message's "Open ticket" button."""

    def __init__(self, cog: "TicketsCog") -> None:
        super().__init__(timeout=None)
        self.cog = cog

    @discord.ui.button(label="Open ticket", style=discord.ButtonStyle.primary, custom_id=PREFIX + "open")
    async def open(self, interaction: discord.Interaction, _button: discord.ui.Button["PanelView"]) -> None:
        await self.cog.open_from_panel(interaction)


class ControlsView(discord.ui.View):
    """Claim and Close, on the message that opens every ticket."""

    def __init__(self, cog: "TicketsCog") -> None:
        super().__init__(timeout=None)
        self.cog = cog

    @discord.ui.button(label="Claim", style=discord.ButtonStyle.success, custom_id=PREFIX + "claim")
    async def claim(self, interaction: discord.Interaction, _button: discord.ui.Button["ControlsView"]) -> None:
        await self.cog.claim(interaction)

    @discord.ui.button(label="Close", style=discord.ButtonStyle.danger, custom_id=PREFIX + "close")
    async def close(self, interaction: discord.Interaction, _button: discord.ui.Button["ControlsView"]) -> None:
        await self.cog.close(interaction)


class CloseRequestView(discord.ui.View):
    """The close request put to the opener: close now, or keep it open (so does any message of theirs)."""

    def __init__(self, cog: "TicketsCog") -> None:
        super().__init__(timeout=None)
        self.cog = cog

    @discord.ui.button(label="Close now", style=discord.ButtonStyle.danger, custom_id=PREFIX + "close-now")
    async def close_now(self, interaction: discord.Interaction, _button: discord.ui.Button["CloseRequestView"]) -> None:
        await self.cog.close_now(interaction)

    @discord.ui.button(label="Keep open", style=discord.ButtonStyle.secondary, custom_id=PREFIX + "keep-open")
    async def keep_open(self, interaction: discord.Interaction, _button: discord.ui.Button["CloseRequestView"]) -> None:
        await self.cog.keep_open(interaction)


class _Stars(discord.ui.Button["ClosedView"]):
    def __init__(self, stars: int) -> None:
        super().__init__(label="★" * stars, style=discord.ButtonStyle.secondary, custom_id=f"{PREFIX}rate:{stars}")
        self.stars = stars

    async def callback(self, interaction: discord.Interaction) -> None:
        assert self.view is not None  # noqa: S101 - a button always sits in its view
        await self.view.cog.rate(interaction, self.stars)


class ClosedView(discord.ui.View):
    """Posted when a ticket closes: the opener's rating (1-5 stars, once) and Reopen."""

    def __init__(self, cog: "TicketsCog") -> None:
        super().__init__(timeout=None)
        self.cog = cog
        for stars in range(MIN_STARS, MAX_STARS + 1):
            self.add_item(_Stars(stars))

    @discord.ui.button(label="Reopen", style=discord.ButtonStyle.primary, custom_id=PREFIX + "reopen", row=1)
    async def reopen(self, interaction: discord.Interaction, _button: discord.ui.Button["ClosedView"]) -> None:
        await self.cog.reopen(interaction)


class OpenModal(discord.ui.Modal):
    """The panel's questions, asked when a member opens a ticket; the answers are stored with it."""

    def __init__(self, cog: "TicketsCog", panel: TicketPanelRead) -> None:
        super().__init__(title=panel.label[:45], custom_id=f"{PREFIX}modal:{panel.panel_id}", timeout=600)
        self.cog = cog
        self.panel = panel
        self.inputs: list[discord.ui.TextInput[OpenModal]] = []
        for index, question in enumerate(panel.questions):
            field: discord.ui.TextInput[OpenModal] = discord.ui.TextInput(
                label=question[:QUESTION_MAX_LENGTH],
                style=discord.TextStyle.paragraph,
                max_length=ANSWER_LENGTH,
                custom_id=f"{PREFIX}answer:{index}",
            )
            self.inputs.append(field)
            self.add_item(field)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        answers = {question: field.value for question, field in zip(self.panel.questions, self.inputs, strict=True)}
        await self.cog.open_ticket(interaction, self.panel, answers)
