"""Utilities cog (R15.5): encode and decode text, convert units and colours, make Discord timestamps.

Thin calls to the pure functions of ``guildbase.utilities``; a ``ValueError``
from them (bad input) becomes ``commands.BadArgument`` with its message, which
the error mapper quotes. Always on: it touches no data.
"""

from datetime import UTC, datetime
from typing import Literal

import discord
from discord.ext import commands

from guildbase.bot.cog import Ctx, GuildbaseCog, hybrid
from guildbase.bot.ui import embed
from guildbase.utilities import conversions, encoding

Scheme = Literal["base64", "hex", "url", "binary", "morse"]
REPLY_LIMIT = 1900
NO_MENTIONS = discord.AllowedMentions.none()


def _fenced(text: str) -> str:
    """``text`` in a code block, cut to fit one message."""
    shown = text if len(text) <= REPLY_LIMIT else text[:REPLY_LIMIT] + "…"
    return "```\n" + shown.replace("```", "'''") + "\n```"


class UtilitiesCog(GuildbaseCog, name="Utilities"):
    """Encoding, conversion and timestamp helpers."""

    @hybrid(name="encode")
    async def encode(self, ctx: Ctx, scheme: Scheme, *, text: str) -> None:
        """Encode text: ``encode base64 hello`` (base64, hex, url, binary, morse)."""
        try:
            result = encoding.encode(scheme, text)
        except ValueError as error:
            raise commands.BadArgument(str(error)) from None
        await ctx.send(_fenced(result), allowed_mentions=NO_MENTIONS)

    @hybrid(name="decode")
    async def decode(self, ctx: Ctx, scheme: Scheme, *, text: str) -> None:
        """Decode text: ``decode hex 68656c6c6f``."""
        try:
            result = encoding.decode(scheme, text)
        except ValueError as error:
            raise commands.BadArgument(str(error)) from None
        await ctx.send(_fenced(result), allowed_mentions=NO_MENTIONS)

    @hybrid(name="convert")
    async def convert(self, ctx: Ctx, value: float, from_unit: str, to_unit: str) -> None:
        """Convert a quantity: ``convert 5 km mi``, ``convert 100 c f``, ``convert 1 gib mb``."""
        try:
            result = conversions.convert(value, from_unit, to_unit)
            source, _ = conversions.unit_kind(from_unit)
            target, _ = conversions.unit_kind(to_unit)
        except ValueError as error:
            raise commands.BadArgument(str(error)) from None
        await ctx.send(f"{value:g} {source} = {result:.6g} {target}")

    @hybrid(name="colour", aliases=["color"])
    async def colour(self, ctx: Ctx, *, value: str) -> None:
        """A colour in every notation: ``colour #ff8800``, ``colour rgb(255, 136, 0)``."""
        try:
            rgb = conversions.parse_colour(value)
        except ValueError as error:
            raise commands.BadArgument(str(error)) from None
        hue, saturation, lightness = rgb.hsl
        card = embed(
            rgb.hex,
            None,
            hex=rgb.hex,
            rgb=f"rgb({rgb.red}, {rgb.green}, {rgb.blue})",
            hsl=f"hsl({hue:.0f}, {saturation:.0f}%, {lightness:.0f}%)",
            integer=rgb.value,
        )
        card.colour = discord.Colour(rgb.value)
        await ctx.send(embed=card)

    @hybrid(name="timestamp")
    async def timestamp(self, ctx: Ctx, when: str = "now") -> None:
        """Discord timestamp markup for ``now``, a Unix time or an ISO time (``2026-12-24T18:00+01:00``)."""
        moment = _moment(when)
        marks = [
            (conversions.discord_timestamp(moment, style), name) for style, name in conversions.TIMESTAMP_STYLES.items()
        ]
        lines = [f"`{mark}` → {mark} ({name})" for mark, name in marks]
        await ctx.send("\n".join(lines))


def _moment(when: str) -> datetime:
    """``now``, seconds since 1970, ``<t:…>`` markup, or an ISO 8601 time (UTC when it names no offset)."""
    text = when.strip()
    if text.lower() == "now":
        return datetime.now(UTC)
    try:
        if text.lstrip("-").isdigit():
            return datetime.fromtimestamp(int(text), tz=UTC)
        if text.startswith("<t:"):
            return conversions.parse_discord_timestamp(text)[0]
        moment = datetime.fromisoformat(text)
    except (ValueError, OverflowError, OSError):
        msg = f"`{text[:40]}` is not a time: use now, a Unix time or 2026-12-24T18:00+01:00"
        raise commands.BadArgument(msg) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
