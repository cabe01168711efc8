"""The domains on the facade: one controller attribute each (``db.guilds``, ``db.cases`` …).

Kept apart from ``database.py`` (which owns engines, pools and Redis) so that a
new domain is one import, one annotation and one line here, and the API
reference (``scripts/mkdocs_hooks.py``) finds it on an unconnected ``Database``.
"""

from guildbase.controllers.afk import AFKController
from guildbase.controllers.api_keys import ApiKeyController
from guildbase.controllers.audit import AuditController
from guildbase.controllers.autoresponders import AutoresponderController
from guildbase.controllers.base import UnitOfWork
from guildbase.controllers.channel_settings import ChannelSettingsController
from guildbase.controllers.content import BookmarkController
from guildbase.controllers.core import BlacklistController, GuildConfigController, GuildController, MemberController
from guildbase.controllers.custom_commands import CustomCommandController
from guildbase.controllers.events import EventController
from guildbase.controllers.filters import FilterController
from guildbase.controllers.integrations import IntegrationController
from guildbase.controllers.jobs import JobController
from guildbase.controllers.key_rotation import EncryptionController
from guildbase.controllers.leaderboards import LeaderboardController
from guildbase.controllers.levels import LevelsController
from guildbase.controllers.logs import LogController
from guildbase.controllers.mod_settings import ModSettingsController
from guildbase.controllers.moderation import CaseController, NoteController
from guildbase.controllers.oauth_tokens import OAuthTokenController
from guildbase.controllers.partitions import PartitionController
from guildbase.controllers.permissions import PermissionController
from guildbase.controllers.polls import PollController
from guildbase.controllers.premium import PremiumController
from guildbase.controllers.privacy import PrivacyController
from guildbase.controllers.reminders import ReminderController
from guildbase.controllers.runtime_metrics import RuntimeMetricsController
from guildbase.controllers.security import SecurityController
from guildbase.controllers.snippets import SnippetController
from guildbase.controllers.starboard import StarboardController
from guildbase.controllers.tickets import TicketController


class DomainControllers:
    """Every domain controller of ``Database``; each opens its units of work through the facade."""

    guilds: GuildController
    guild_config: GuildConfigController
    members: MemberController
    blacklist: BlacklistController
    afk: AFKController
    levels: LevelsController
    leaderboards: LeaderboardController
    starboard: StarboardController
    reminders: ReminderController
    bookmarks: BookmarkController
    cases: CaseController
    notes: NoteController
    mod_settings: ModSettingsController
    jobs: JobController
    logs: LogController
    audit: AuditController
    events: EventController
    integrations: IntegrationController
    tickets: TicketController
    security: SecurityController
    api_keys: ApiKeyController
    oauth_tokens: OAuthTokenController
    encryption: EncryptionController
    premium: PremiumController
    snippets: SnippetController
    custom_commands: CustomCommandController
    polls: PollController
    autoresponders: AutoresponderController
    filters: FilterController
    channel_settings: ChannelSettingsController
    permissions: PermissionController
    runtime_metrics: RuntimeMetricsController
    privacy: PrivacyController
    partitions: PartitionController

    def _attach_controllers(self, unit: UnitOfWork) -> None:
        """Build one controller per domain, bound to the facade that owns the pools."""
        self.guilds = GuildController(unit)
        self.guild_config = GuildConfigController(unit)
        self.members = MemberController(unit)
        self.blacklist = BlacklistController(unit)
        self.afk = AFKController(unit)
        self.levels = LevelsController(unit)
        self.leaderboards = LeaderboardController(unit)
        self.starboard = StarboardController(unit)
        self.reminders = ReminderController(unit)
        self.bookmarks = BookmarkController(unit)
        self.cases = CaseController(unit)
        self.notes = NoteController(unit)
        self.mod_settings = ModSettingsController(unit)
        self.jobs = JobController(unit)
        self.logs = LogController(unit)
        self.audit = AuditController(unit)
        self.events = EventController(unit)
        self.integrations = IntegrationController(unit)
        self.tickets = TicketController(unit)
        self.security = SecurityController(unit)
        self.api_keys = ApiKeyController(unit)
        self.oauth_tokens = OAuthTokenController(unit)
        self.encryption = EncryptionController(unit)
        self.premium = PremiumController(unit)
        self.snippets = SnippetController(unit)
        self.custom_commands = CustomCommandController(unit)
        self.polls = PollController(unit)
        self.autoresponders = AutoresponderController(unit)
        self.filters = FilterController(unit)
        self.channel_settings = ChannelSettingsController(unit)
        self.permissions = PermissionController(unit)
        self.runtime_metrics = RuntimeMetricsController(unit)
        self.privacy = PrivacyController(unit)
        self.partitions = PartitionController(unit)

    async def _flush_hit_counts(self) -> None:
        """Write the autoresponder and filter hit counts still buffered (``Database.close``)."""
        try:
            await self.autoresponders.flush_hits()
        finally:
            await self.filters.flush_hits()
