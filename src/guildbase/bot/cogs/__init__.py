"""One cog per domain; each uses only the ``Database`` facade."""

from guildbase.bot.cogs.afk import AFKCog
from guildbase.bot.cogs.blacklist import BlacklistCog
from guildbase.bot.cogs.bookmarks import BookmarksCog
from guildbase.bot.cogs.config import ConfigCog
from guildbase.bot.cogs.events import EventsCog
from guildbase.bot.cogs.levels import LevelsCog
from guildbase.bot.cogs.mod_settings import ModSettingsCog
from guildbase.bot.cogs.moderation import ModerationCog
from guildbase.bot.cogs.privacy import PrivacyCog
from guildbase.bot.cogs.reminders import RemindersCog
from guildbase.bot.cogs.starboard import StarboardCog

COGS = (
    ConfigCog,
    BlacklistCog,
    ModerationCog,
    ModSettingsCog,
    LevelsCog,
    AFKCog,
    StarboardCog,
    RemindersCog,
    BookmarksCog,
    EventsCog,
    PrivacyCog,
)

__all__ = [
    "COGS",
    "AFKCog",
    "BlacklistCog",
    "BookmarksCog",
    "ConfigCog",
    "EventsCog",
    "LevelsCog",
    "ModSettingsCog",
    "ModerationCog",
    "PrivacyCog",
    "RemindersCog",
    "StarboardCog",
]
