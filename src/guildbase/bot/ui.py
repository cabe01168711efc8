"""Embeds and the button paginator every list command uses.

``send_pages`` sends one embed, or the first of several with ◀ / ▶ buttons that
only the invoker can press; the buttons disappear when the view times out.
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import discord
from discord.ext import commands

COLOR = discord.Colour.blurple()
ERROR_COLOR = discord.Colour.red()
PAGE_SIZE = 10


def embed(title: str, description: str | None = None, **fields: Any) -> discord.Embed:
    """A house-style embed; keyword fields become inline fields in order."""
    result = discord.Embed(title=title, description=description, colour=COLOR)
    for name, value in fields.items():
        result.add_field(name=name.replace("_", " ").capitalize(), value=str(value), inline=True)
    return result


def timestamp(moment: datetime | None, style: str = "R") -> str:
    """Discord's ``<t:…>`` markup (renders in each reader's time zone); ``never`` for None."""
    return "never" if moment is None else f"<t:{int(moment.timestamp())}:{style}>"


def chunk_pages(
    title: str, lines: Sequence[str], *, size: int = PAGE_SIZE, empty: str = "Nothing here."
) -> list[discord.Embed]:
    """``lines`` split into embeds of ``size`` lines, footed ``Page i/n``."""
    if not lines:
        return [embed(title, empty)]
    chunks = [lines[start : start + size] for start in range(0, len(lines), size)]
    pages = [embed(title, "\n".join(chunk)) for chunk in chunks]
    if len(pages) > 1:
        for number, page in enumerate(pages, start=1):
            page.set_footer(text=f"Page {number}/{len(pages)}")
    return pages


class Paginator(discord.ui.View):
    """◀ / ▶ through a list of embeds; only ``author_id`` may turn pages."""

    def __init__(self, pages: Sequence[discord.Embed], *, author_id: int, timeout: float = 180) -> None:
        super().__init__(timeout=timeout)
        self.pages = list(pages)
        self.author_id = author_id
        self.index = 0
        self.message: discord.Message | None = None
        self._sync()

    def _sync(self) -> None:
        self.previous.disabled = self.index == 0
        self.next.disabled = self.index == len(self.pages) - 1

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id != self.author_id:
            await interaction.response.send_message("Only the person who asked can turn these pages.", ephemeral=True)
            return False
        return True

    async def _show(self, interaction: discord.Interaction, index: int) -> None:
        self.index = max(0, min(index, len(self.pages) - 1))
        self._sync()
        await interaction.response.edit_message(embed=self.pages[self.index], view=self)

    @discord.ui.button(label="◀", style=discord.ButtonStyle.secondary)
    async def previous(self, interaction: discord.Interaction, _button: discord.ui.Button["Paginator"]) -> None:
        await self._show(interaction, self.index - 1)

    @discord.ui.button(label="▶", style=discord.ButtonStyle.secondary)
    async def next(self, interaction: discord.Interaction, _button: discord.ui.Button["Paginator"]) -> None:
        await self._show(interaction, self.index + 1)

    async def on_timeout(self) -> None:
        if self.message is not None:
            try:
                await self.message.edit(view=None)
            except discord.HTTPException:
                return


async def send_pages(ctx: commands.Context[Any], pages: Sequence[discord.Embed], *, ephemeral: bool = False) -> None:
    """One embed as is; several with a ``Paginator``."""
    if len(pages) == 1:
        await ctx.send(embed=pages[0], ephemeral=ephemeral)
        return
    view = Paginator(pages, author_id=ctx.author.id)
    view.message = await ctx.send(embed=pages[0], view=view, ephemeral=ephemeral)
