"""One cog per domain; each uses only the ``Database`` facade."""

from guildbase.bot.cogs.afk import AFKCog
from guildbase.bot.cogs.autoresponders import AutorespondersCog
from guildbase.bot.cogs.blacklist import BlacklistCog
from guildbase.bot.cogs.bookmarks import BookmarksCog
from guildbase.bot.cogs.channel_settings import ChannelSettingsCog
from guildbase.bot.cogs.config import ConfigCog
from guildbase.bot.cogs.custom_commands import CustomCommandsCog
from guildbase.bot.cogs.events import EventsCog
from guildbase.bot.cogs.filters import FiltersCog
from guildbase.bot.cogs.integrations import IntegrationsCog
from guildbase.bot.cogs.levels import LevelsCog
from guildbase.bot.cogs.mod_settings import ModSettingsCog
from guildbase.bot.cogs.moderation import ModerationCog
from guildbase.bot.cogs.permissions import PermissionsCog
from guildbase.bot.cogs.polls import PollsCog
from guildbase.bot.cogs.premium import PremiumCog
from guildbase.bot.cogs.privacy import PrivacyCog
from guildbase.bot.cogs.reminders import RemindersCog
from guildbase.bot.cogs.snippets import SnippetsCog
from guildbase.bot.cogs.starboard import StarboardCog
from guildbase.bot.cogs.tickets import TicketsCog
from guildbase.bot.cogs.utilities import UtilitiesCog

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
    IntegrationsCog,
    TicketsCog,
    PremiumCog,
    SnippetsCog,
    CustomCommandsCog,
    PollsCog,
    UtilitiesCog,
    FiltersCog,
    AutorespondersCog,
    ChannelSettingsCog,
    PermissionsCog,
    PrivacyCog,
)

__all__ = [
    "COGS",
    "AFKCog",
    "AutorespondersCog",
    "BlacklistCog",
    "BookmarksCog",
    "ChannelSettingsCog",
    "ConfigCog",
    "CustomCommandsCog",
    "EventsCog",
    "FiltersCog",
    "IntegrationsCog",
    "LevelsCog",
    "ModSettingsCog",
    "ModerationCog",
    "PermissionsCog",
    "PollsCog",
    "PremiumCog",
    "PrivacyCog",
    "RemindersCog",
    "SnippetsCog",
    "StarboardCog",
    "TicketsCog",
    "UtilitiesCog",
]
