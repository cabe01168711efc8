"""guildbase: the PostgreSQL + Redis data layer for all-in-one discord.py bots.

from guildbase import Database, Settings, CaseType

async with Database(Settings()) as db:
    await db.guilds.join(guild_id)
    config = await db.guild_config.get(guild_id)
    case = await db.cases.create(guild_id, user_id, moderator_id, CaseType.WARN, reason="spam")

Everything a bot passes in or gets back is importable from here: the facade,
settings and errors; the enums that arguments take (``CaseType``, ``Feature``,
``Period``, …); and the read models and results the controllers return
(``CaseRead``, ``GuildConfigRead``, ``Board``, ``BoardEntry``, …). Table
models and input schemas stay in ``guildbase.models``; they are for code that
extends the schema, not for bots.
"""

from guildbase.config import Settings
from guildbase.controllers.autoresponders import Autoresponse
from guildbase.controllers.filters import FilterVerdict
from guildbase.controllers.leaderboards import Board
from guildbase.database import Database, Health
from guildbase.db.context import AuditSource, acting_as, audit_context
from guildbase.errors import (
    ConfigurationError,
    ConflictError,
    ConnectionLostError,
    DatabaseUnavailableError,
    FeatureDisabledError,
    FieldError,
    GuildbaseError,
    MigrationError,
    NotConnectedError,
    NotFoundError,
    OutcomeUnknownError,
    PermissionDeniedError,
    PoolExhaustedError,
    PremiumRequiredError,
    SchemaNotAtHeadError,
    TransitionRefusedError,
    ValidationError,
)
from guildbase.jobs import JobContext, JobRegistry, JobRunner
from guildbase.models.afk import AFKRead
from guildbase.models.audit import AuditAction, AuditEntity, AuditLogRead
from guildbase.models.autoresponders import AutoresponderRead, CooldownScope, MatchType
from guildbase.models.channel_settings import ChannelSettingRead
from guildbase.models.content import BookmarkRead
from guildbase.models.core import (
    BlacklistEntryRead,
    BlacklistTarget,
    CounterKind,
    Feature,
    GuildConfigRead,
    GuildRead,
    MemberRead,
)
from guildbase.models.custom_commands import CommandRun, CustomCommandRead
from guildbase.models.event_stats import ExportFormat, GroupBy, Metric, StatRow
from guildbase.models.events import (
    GuildEventKind,
    GuildEventRead,
    InviteConfidence,
    InviteState,
    InviteUseRead,
    ReactionEventRead,
    VoiceEndReason,
    VoiceEventKind,
    VoiceSessionRead,
    VoiceState,
)
from guildbase.models.filters import FilterAction, FilterKind, MessageFilterRead
from guildbase.models.integrations import IntegrationDelivery, IntegrationRead, IntegrationSource
from guildbase.models.jobs import JobKind, JobKindStatus, JobRead, JobStatus
from guildbase.models.levels import (
    LeaderboardCursor,
    LeaderboardEntry,
    LeaderboardPage,
    LevelConfigRead,
    LevelCurve,
    LevelMultiplierRead,
    LevelRoleMode,
    LevelRoleRead,
    MemberLevelRead,
    MultiplierKind,
    RankCard,
    XPAward,
)
from guildbase.models.logs import CommandLogRead, CommandStat, CommandUserStat, ErrorGroupStat, ErrorLogRead
from guildbase.models.mod_settings import EscalationRuleRead, ModActionRead, ModSettingsRead
from guildbase.models.moderation import (
    CaseOverview,
    CaseRead,
    CaseStatus,
    CaseSummary,
    CaseType,
    NoteRead,
    Restriction,
)
from guildbase.models.oauth import OAuthTokenRead
from guildbase.models.permissions import (
    DecidedBy,
    Effect,
    PermissionCheckRead,
    PermissionRuleRead,
    PermissionSetRead,
    SubjectKind,
    TargetKind,
)
from guildbase.models.polls import PollKind, PollOptionRead, PollRead, PollStatus, VoteChange
from guildbase.models.premium import (
    Benefits,
    OwnerType,
    PaymentStatus,
    PremiumLimit,
    PremiumTierRead,
    SubscriptionRead,
    SubscriptionSource,
    SubscriptionStatus,
    TrialConversion,
)
from guildbase.models.premium_payments import PaymentTransactionRead
from guildbase.models.privacy import PrivacyRequestKind, PrivacyRequestRead, PrivacyRequestStatus
from guildbase.models.reminders import ReminderRead, ReminderStatus
from guildbase.models.runtime_metrics import RuntimeMetric
from guildbase.models.security import ApiAction, ApiKeyRead, SecurityEventKind, SecurityEventRead
from guildbase.models.snippets import SnippetRead
from guildbase.models.starboard import StarboardEntryRead, StarboardRead, StarChange
from guildbase.models.ticket_records import TicketEventRead, Transcript
from guildbase.models.ticket_stats import TicketMetrics
from guildbase.models.tickets import (
    DurationMetric,
    TicketAction,
    TicketEventKind,
    TicketMode,
    TicketPanelRead,
    TicketPriority,
    TicketRead,
    TicketStatus,
)
from guildbase.services.leaderboard import BoardEntry, Period
from guildbase.services.ratelimit import RateLimitResult
from guildbase.services.websessions import WebSession
from guildbase.sync import SyncDatabase

__all__ = [
    "AFKRead",
    "ApiAction",
    "ApiKeyRead",
    "AuditAction",
    "AuditEntity",
    "AuditLogRead",
    "AuditSource",
    "AutoresponderRead",
    "Autoresponse",
    "Benefits",
    "BlacklistEntryRead",
    "BlacklistTarget",
    "Board",
    "BoardEntry",
    "BookmarkRead",
    "CaseOverview",
    "CaseRead",
    "CaseStatus",
    "CaseSummary",
    "CaseType",
    "ChannelSettingRead",
    "CommandLogRead",
    "CommandRun",
    "CommandStat",
    "CommandUserStat",
    "ConfigurationError",
    "ConflictError",
    "ConnectionLostError",
    "CooldownScope",
    "CounterKind",
    "CustomCommandRead",
    "Database",
    "DatabaseUnavailableError",
    "DecidedBy",
    "DurationMetric",
    "Effect",
    "ErrorGroupStat",
    "ErrorLogRead",
    "EscalationRuleRead",
    "ExportFormat",
    "Feature",
    "FeatureDisabledError",
    "FieldError",
    "FilterAction",
    "FilterKind",
    "FilterVerdict",
    "GroupBy",
    "GuildConfigRead",
    "GuildEventKind",
    "GuildEventRead",
    "GuildRead",
    "GuildbaseError",
    "Health",
    "IntegrationDelivery",
    "IntegrationRead",
    "IntegrationSource",
    "InviteConfidence",
    "InviteState",
    "InviteUseRead",
    "JobContext",
    "JobKind",
    "JobKindStatus",
    "JobRead",
    "JobRegistry",
    "JobRunner",
    "JobStatus",
    "LeaderboardCursor",
    "LeaderboardEntry",
    "LeaderboardPage",
    "LevelConfigRead",
    "LevelCurve",
    "LevelMultiplierRead",
    "LevelRoleMode",
    "LevelRoleRead",
    "MatchType",
    "MemberLevelRead",
    "MemberRead",
    "MessageFilterRead",
    "Metric",
    "MigrationError",
    "ModActionRead",
    "ModSettingsRead",
    "MultiplierKind",
    "NotConnectedError",
    "NotFoundError",
    "NoteRead",
    "OAuthTokenRead",
    "OutcomeUnknownError",
    "OwnerType",
    "PaymentStatus",
    "PaymentTransactionRead",
    "Period",
    "PermissionCheckRead",
    "PermissionDeniedError",
    "PermissionRuleRead",
    "PermissionSetRead",
    "PollKind",
    "PollOptionRead",
    "PollRead",
    "PollStatus",
    "PoolExhaustedError",
    "PremiumLimit",
    "PremiumRequiredError",
    "PremiumTierRead",
    "PrivacyRequestKind",
    "PrivacyRequestRead",
    "PrivacyRequestStatus",
    "RankCard",
    "RateLimitResult",
    "ReactionEventRead",
    "ReminderRead",
    "ReminderStatus",
    "Restriction",
    "RuntimeMetric",
    "SchemaNotAtHeadError",
    "SecurityEventKind",
    "SecurityEventRead",
    "Settings",
    "SnippetRead",
    "StarChange",
    "StarboardEntryRead",
    "StarboardRead",
    "StatRow",
    "SubjectKind",
    "SubscriptionRead",
    "SubscriptionSource",
    "SubscriptionStatus",
    "SyncDatabase",
    "TargetKind",
    "TicketAction",
    "TicketEventKind",
    "TicketEventRead",
    "TicketMetrics",
    "TicketMode",
    "TicketPanelRead",
    "TicketPriority",
    "TicketRead",
    "TicketStatus",
    "Transcript",
    "TransitionRefusedError",
    "TrialConversion",
    "ValidationError",
    "VoiceEndReason",
    "VoiceEventKind",
    "VoiceSessionRead",
    "VoiceState",
    "VoteChange",
    "WebSession",
    "XPAward",
    "acting_as",
    "audit_context",
]
