"""One mapper module per legacy table group; ``SPECS`` is the order they import in (parents first)."""

from guildbase.legacy.mappers.cases import CASES, NOTES
from guildbase.legacy.mappers.guilds import GUILDS
from guildbase.legacy.mappers.members import AFK, LEVELS, REMINDERS
from guildbase.legacy.mappers.snippets import SNIPPETS
from guildbase.legacy.mappers.starboard import STARBOARD_MESSAGES, STARBOARDS
from guildbase.legacy.spec import TableSpec

SPECS: tuple[TableSpec, ...] = (
    GUILDS,
    CASES,
    NOTES,
    SNIPPETS,
    REMINDERS,
    AFK,
    LEVELS,
    STARBOARDS,
    STARBOARD_MESSAGES,
)

__all__ = ["SPECS"]
