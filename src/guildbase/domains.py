"""The domains on the facade: one controller attribute each (``db.guilds``, ``db.cases`` …).

Kept apart from ``database.py`` (which owns engines, pools and Redis) so that a
new domain is one import, one annotation and one line here, and the API
reference (``scripts/mkdocs_hooks.py``) finds it on an unconnected ``Database``.
"""

from guildbase.controllers.afk import AFKController
from guildbase.controllers.audit import AuditController
from guildbase.controllers.base import UnitOfWork
from guildbase.controllers.content import BookmarkController
from guildbase.controllers.core import BlacklistController, GuildConfigController, GuildController, MemberController
from guildbase.controllers.events import EventController
from guildbase.controllers.jobs import JobController
from guildbase.controllers.leaderboards import LeaderboardController
from guildbase.controllers.levels import LevelsController
from guildbase.controllers.logs import LogController
from guildbase.controllers.mod_settings import ModSettingsController
from guildbase.controllers.moderation import CaseController, NoteController
from guildbase.controllers.privacy import PrivacyController
from guildbase.controllers.reminders import ReminderController
from guildbase.controllers.starboard import StarboardController


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
    privacy: PrivacyController

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
        self.privacy = PrivacyController(unit)
