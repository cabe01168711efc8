"""One cog per domain; each uses only the ``Database`` facade."""

from guildbase.bot.cogs.afk import AFKCog
from guildbase.bot.cogs.autoresponders import AutorespondersCog
from guildbase.bot.cogs.blacklist import BlacklistCog
from guildbase.bot.cogs.bookmarks import BookmarksCog
from guildbase.bot.cogs.channel_settings import ChannelSettingsCog
from guildbase.bot.cogs.config import ConfigCog
from guildbase.bot.cogs.events import EventsCog
from guildbase.bot.cogs.filters import FiltersCog
from guildbase.bot.cogs.levels import LevelsCog
from guildbase.bot.cogs.mod_settings import ModSettingsCog
from guildbase.bot.cogs.moderation import ModerationCog
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
    FiltersCog,
    AutorespondersCog,
    ChannelSettingsCog,
)

__all__ = [
    "COGS",
    "AFKCog",
    "AutorespondersCog",
    "BlacklistCog",
    "BookmarksCog",
    "ChannelSettingsCog",
    "ConfigCog",
    "EventsCog",
    "FiltersCog",
    "LevelsCog",
    "ModSettingsCog",
    "ModerationCog",
    "RemindersCog",
    "StarboardCog",
]
