"""Schemas of the domain pages (levels, content rules, tickets, premium, notes).

``…Create``/``…Update`` in, ``…Public`` out, snowflakes as strings (see
``web/schemas.py`` for why).
The bounds here only shape the OpenAPI document and refuse the grossly wrong
early; the controllers check every rule again and name the field they refuse.
"""

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from guildbase.matching.filters import FilterAction, FilterKind
from guildbase.matching.triggers import MatchType
from guildbase.models.autoresponders import MAX_RESPONSES, RESPONSE_MAX_LENGTH, AutoresponderRead
from guildbase.models.filters import MessageFilterRead
from guildbase.models.levels import MAX_REWARD_LEVEL, LeaderboardEntry, LevelRoleRead
from guildbase.models.moderation import NOTE_MAX_LENGTH, NoteRead
from guildbase.models.premium import Benefits, SubscriptionRead
from guildbase.models.snippets import CONTENT_MAX_LENGTH, NAME_MAX_LENGTH, SnippetRead
from guildbase.models.ticket_records import Transcript
from guildbase.models.ticket_stats import DurationStats, TicketMetrics
from guildbase.models.tickets import TicketRead
from guildbase.web.schemas import SnowflakeIn

__all__ = [
    "AutoresponderCreate",
    "AutoresponderPublic",
    "AutoresponderUpdate",
    "FilterCreate",
    "FilterPublic",
    "FilterUpdate",
    "LeaderboardEntryPublic",
    "LevelRewardCreate",
    "LevelRewardPublic",
    "NoteCreate",
    "NotePublic",
    "NoteUpdate",
    "PremiumPublic",
    "SnippetCreate",
    "SnippetPublic",
    "SnippetUpdate",
    "SubscriptionPublic",
    "TicketMetricsPublic",
    "TicketPublic",
    "TranscriptPublic",
]

Response = Annotated[str, Field(min_length=1, max_length=RESPONSE_MAX_LENGTH)]


def _text(value: int | None) -> str | None:
    return None if value is None else str(value)


class LeaderboardEntryPublic(BaseModel):
    """One ranked member."""

    rank: int
    user_id: str
    xp: int
    level: int
    message_count: int

    @classmethod
    def of(cls, entry: LeaderboardEntry) -> "LeaderboardEntryPublic":
        """From the controller's read model."""
        return cls(
            rank=entry.rank, user_id=str(entry.user_id), xp=entry.xp, level=entry.level,
            message_count=entry.message_count,
        )  # fmt: skip


class LevelRewardPublic(BaseModel):
    """The role a member earns at a level."""

    level: int
    role_id: str

    @classmethod
    def of(cls, row: LevelRoleRead) -> "LevelRewardPublic":
        """From the controller's read model."""
        return cls(level=row.level, role_id=str(row.role_id))


class LevelRewardCreate(BaseModel):
    """Reward ``role_id`` at ``level`` (replaces that level's reward)."""

    model_config = ConfigDict(extra="forbid")

    level: int = Field(ge=1, le=MAX_REWARD_LEVEL)
    role_id: SnowflakeIn


class SnippetPublic(BaseModel):
    """A saved text, by name, with its aliases."""

    name: str
    content: str
    aliases: list[str]
    author_id: str
    uses: int
    is_locked: bool
    updated_at: datetime

    @classmethod
    def of(cls, row: SnippetRead) -> "SnippetPublic":
        """From the controller's read model."""
        return cls(
            name=row.name, content=row.content, aliases=row.aliases, author_id=str(row.author_id), uses=row.uses,
            is_locked=row.is_locked, updated_at=row.updated_at,
        )  # fmt: skip


class SnippetCreate(BaseModel):
    """A new snippet (the name must be free, in any letter case)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=NAME_MAX_LENGTH)
    content: str = Field(min_length=1, max_length=CONTENT_MAX_LENGTH)


class SnippetUpdate(BaseModel):
    """A snippet's new content."""

    model_config = ConfigDict(extra="forbid")

    content: str = Field(min_length=1, max_length=CONTENT_MAX_LENGTH)


class AutoresponderPublic(BaseModel):
    """A trigger and what it answers."""

    autoresponder_id: int
    pattern: str
    match_type: str
    is_case_sensitive: bool
    responses: list[str]
    cooldown_seconds: int
    is_enabled: bool
    hits: int

    @classmethod
    def of(cls, row: AutoresponderRead) -> "AutoresponderPublic":
        """From the controller's read model."""
        return cls(
            autoresponder_id=row.autoresponder_id, pattern=row.pattern, match_type=str(row.match_type),
            is_case_sensitive=row.is_case_sensitive, responses=row.responses, cooldown_seconds=row.cooldown_seconds,
            is_enabled=row.is_enabled, hits=row.hits,
        )  # fmt: skip


class AutoresponderCreate(BaseModel):
    """A new trigger (a regex is checked by RE2 before it is saved)."""

    model_config = ConfigDict(extra="forbid")

    pattern: str = Field(min_length=1, max_length=2000)
    responses: list[Response] = Field(min_length=1, max_length=MAX_RESPONSES)
    match_type: MatchType = MatchType.CONTAINS
    is_case_sensitive: bool = False
    cooldown_seconds: int = Field(default=0, ge=0, le=86_400)


class AutoresponderUpdate(BaseModel):
    """Turn a trigger on or off, change its cooldown or its responses; only what is given changes."""

    model_config = ConfigDict(extra="forbid")

    is_enabled: bool | None = None
    cooldown_seconds: int | None = Field(default=None, ge=0, le=86_400)
    responses: list[Response] | None = Field(default=None, min_length=1, max_length=MAX_RESPONSES)


class FilterPublic(BaseModel):
    """A filter rule."""

    filter_id: int
    kind: str
    action: str
    pattern: str | None
    words: list[str]
    threshold: int | None
    timeout_seconds: int | None
    is_enabled: bool
    hits: int

    @classmethod
    def of(cls, row: MessageFilterRead) -> "FilterPublic":
        """From the controller's read model."""
        return cls(
            filter_id=row.filter_id, kind=str(row.kind), action=str(row.action), pattern=row.pattern,
            words=row.words, threshold=row.threshold, timeout_seconds=row.timeout_seconds,
            is_enabled=row.is_enabled, hits=row.hits,
        )  # fmt: skip


class FilterCreate(BaseModel):
    """A new rule, with the field its kind needs.

    ``words``/``domains`` take ``words``, ``regex`` takes ``pattern``,
    ``mentions``/``caps`` take ``threshold``, ``invites`` nothing more.
    """

    model_config = ConfigDict(extra="forbid")

    kind: FilterKind
    action: FilterAction
    words: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(default_factory=list, max_length=500)
    pattern: str | None = Field(default=None, min_length=1, max_length=2000)
    threshold: int | None = Field(default=None, ge=1, le=100)


class FilterUpdate(BaseModel):
    """A rule's new action, or whether it is on; only what is given changes."""

    model_config = ConfigDict(extra="forbid")

    action: FilterAction | None = None
    is_enabled: bool | None = None


class TicketPublic(BaseModel):
    """A ticket, without its messages (see the transcript)."""

    number: int
    panel_id: int
    status: str
    priority: str
    subject: str | None
    opener_id: str
    claimed_by: str | None
    channel_id: str | None
    opened_at: datetime
    message_count: int

    @classmethod
    def of(cls, row: TicketRead) -> "TicketPublic":
        """From the controller's read model."""
        return cls(
            number=row.number, panel_id=row.panel_id, status=str(row.status), priority=str(row.priority),
            subject=row.subject, opener_id=str(row.opener_id), claimed_by=_text(row.claimed_by),
            channel_id=_text(row.channel_id), opened_at=row.opened_at, message_count=row.message_count,
        )  # fmt: skip


class TranscriptMessagePublic(BaseModel):
    """One message of a ticket, with its earlier versions."""

    message_id: str
    author_id: str
    is_staff: bool
    content: str
    attachment_urls: list[str]
    sent_at: datetime
    edited_at: datetime | None
    earlier_versions: list[str]


class TranscriptPublic(BaseModel):
    """A ticket's whole transcript (``db.tickets.transcript``), in message order."""

    number: int
    subject: str | None
    opener_id: str
    status: str
    opened_at: datetime
    closed_at: datetime | None
    messages: list[TranscriptMessagePublic]

    @classmethod
    def of(cls, transcript: Transcript) -> "TranscriptPublic":
        """From the controller's transcript."""
        messages = [
            TranscriptMessagePublic(
                message_id=str(m.message_id),
                author_id=str(m.author_id),
                is_staff=m.is_staff,
                content=m.content,
                attachment_urls=m.attachment_urls,
                sent_at=m.sent_at,
                edited_at=m.edited_at,
                earlier_versions=[edit.content for edit in m.edits],
            )
            for m in transcript.messages
        ]
        return cls(
            number=transcript.number, subject=transcript.subject, opener_id=str(transcript.opener_id),
            status=str(transcript.status), opened_at=transcript.opened_at, closed_at=transcript.closed_at,
            messages=messages,
        )  # fmt: skip


class TicketMetricsPublic(BaseModel):
    """Volumes, response and resolution times, backlog and ratings over a period (``db.tickets.metrics``)."""

    first_day: date
    last_day: date
    opened: int
    closed: int
    reopened: int
    per_day: dict[str, tuple[int, int]] = Field(description="day → (opened, closed)")
    per_panel: dict[str, tuple[int, int]] = Field(description="panel ID → (opened, closed)")
    per_staff: dict[str, tuple[int, int]] = Field(description="staff ID → (closed, first responses)")
    first_response: DurationStats
    resolution: DurationStats
    backlog: int
    ratings: int
    average_rating: float | None

    @classmethod
    def of(cls, metrics: TicketMetrics) -> "TicketMetricsPublic":
        """From the controller's report (keys as strings)."""
        return cls(
            first_day=metrics.first_day, last_day=metrics.last_day, opened=metrics.opened, closed=metrics.closed,
            reopened=metrics.reopened, per_day={day.isoformat(): v for day, v in metrics.per_day.items()},
            per_panel={str(k): v for k, v in metrics.per_panel.items()},
            per_staff={str(k): v for k, v in metrics.per_staff.items()}, first_response=metrics.first_response,
            resolution=metrics.resolution, backlog=metrics.backlog, ratings=metrics.ratings,
            average_rating=metrics.average_rating,
        )  # fmt: skip


class SubscriptionPublic(BaseModel):
    """One subscription of the guild and where it stands."""

    subscription_id: int
    tier_id: str
    source: str
    status: str
    period_end: datetime | None
    grace_until: datetime | None
    trial_end: datetime | None
    canceled_at: datetime | None

    @classmethod
    def of(cls, row: SubscriptionRead) -> "SubscriptionPublic":
        """From the controller's read model."""
        return cls(
            subscription_id=row.subscription_id, tier_id=row.tier_id, source=str(row.source),
            status=str(row.status), period_end=row.period_end, grace_until=row.grace_until,
            trial_end=row.trial_end, canceled_at=row.canceled_at,
        )  # fmt: skip


class PremiumPublic(BaseModel):
    """The guild's premium: its tier (None: free), what that gives, and every subscription."""

    tier_id: str | None
    features: list[str]
    limits: dict[str, int]
    subscriptions: list[SubscriptionPublic]

    @classmethod
    def of(cls, benefits: Benefits, subscriptions: list[SubscriptionRead]) -> "PremiumPublic":
        """From ``db.premium.benefits`` and ``db.premium.subscriptions``."""
        return cls(
            tier_id=benefits.tier_id, features=sorted(benefits.features), limits=dict(benefits.limits),
            subscriptions=[SubscriptionPublic.of(row) for row in subscriptions],
        )  # fmt: skip


class NotePublic(BaseModel):
    """A moderator's note about a member."""

    number: int
    user_id: str
    moderator_id: str
    content: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: NoteRead) -> "NotePublic":
        """From the controller's read model."""
        return cls(
            number=row.number, user_id=str(row.user_id), moderator_id=str(row.moderator_id), content=row.content,
            created_at=row.created_at, updated_at=row.updated_at,
        )  # fmt: skip


class NoteCreate(BaseModel):
    """A new note about ``user_id`` (the author is the logged-in user)."""

    model_config = ConfigDict(extra="forbid")

    user_id: SnowflakeIn
    content: str = Field(min_length=1, max_length=NOTE_MAX_LENGTH)


class NoteUpdate(BaseModel):
    """A note's new text."""

    model_config = ConfigDict(extra="forbid")

    content: str = Field(min_length=1, max_length=NOTE_MAX_LENGTH)
