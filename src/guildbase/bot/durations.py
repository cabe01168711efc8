"""Human durations for commands: ``1h30m``, ``2d``, ``90s``, ``1w 2d``.

``parse_duration`` accepts one or more ``<number><unit>`` parts (units ``w d h m s``,
case-insensitive, spaces allowed between parts) and refuses anything else with a
``ValidationError`` on ``duration``, so a bad duration reaches the user as a clear
reply before any write.
"""

import re
from datetime import timedelta
from typing import Any, Optional

from discord.ext import commands

from guildbase.db.types import DURATION_UNITS as _UNITS
from guildbase.db.types import format_duration
from guildbase.errors import ValidationError

__all__ = [
    "DURATION",
    "DURATION_OR_DEFAULT",
    "HELP",
    "MAX_DURATION",
    "Duration",
    "format_duration",
    "looks_like_duration",
    "parse_duration",
]

MAX_DURATION = timedelta(days=366 * 5)
_PART = re.compile(r"(\d{1,7})\s*([wdhms])", re.IGNORECASE)
_WHOLE = re.compile(r"(?:\s*\d{1,7}\s*[wdhms])+\s*", re.IGNORECASE)
HELP = "use a duration like 30m, 1h30m, 2d or 1w"


def parse_duration(text: str) -> timedelta:
    """``"1h30m"`` → ``timedelta(hours=1, minutes=30)``; errors name ``duration``."""
    if not _WHOLE.fullmatch(text):
        raise ValidationError.single("duration", "format", f"{text!r} is not a duration; {HELP}")
    seconds = sum(int(amount) * _UNITS[unit.lower()] for amount, unit in _PART.findall(text))
    if seconds <= 0:
        raise ValidationError.single("duration", "positive", f"must be longer than zero; {HELP}")
    if seconds > MAX_DURATION.total_seconds():
        raise ValidationError.single("duration", "max", f"must be at most {MAX_DURATION.days} days")
    return timedelta(seconds=seconds)


def looks_like_duration(word: str) -> bool:
    """Whether a word was meant as a duration (it starts with a digit), even if it is not a valid one."""
    return word[:1].isdigit()


class Duration(commands.Converter[timedelta]):
    """A command argument parsed by ``parse_duration`` (a string option in slash commands)."""

    async def convert(self, ctx: commands.Context[Any], argument: str) -> timedelta:  # noqa: ARG002
        return parse_duration(argument)


DURATION = commands.parameter(converter=Duration, description="how long, e.g. 30m, 1h30m, 2d")
"""Use as a parameter default: ``duration: timedelta = DURATION``."""

DURATION_OR_DEFAULT = commands.parameter(
    converter=Optional[Duration],  # noqa: UP045 - discord.py reads typing.Optional to make the argument skippable
    default=None,
    description="how long, e.g. 30m, 1h30m, 2d (default: the server's)",
)
"""An optional duration: a prefix argument that is not one is left for the next parameter (the reason)."""
