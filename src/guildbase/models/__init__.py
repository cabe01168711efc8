"""All table models; importing this package registers every table on the metadata."""

from guildbase.db.metadata import metadata
from guildbase.models import (
    afk,
    audit,
    autoresponders,
    channel_settings,
    content,
    core,
    event_stats,
    events,
    filters,
    jobs,
    levels,
    logs,
    mod_settings,
    moderation,
    reminders,
    starboard,
)

__all__ = [
    "afk",
    "audit",
    "autoresponders",
    "channel_settings",
    "content",
    "core",
    "event_stats",
    "events",
    "filters",
    "jobs",
    "levels",
    "logs",
    "metadata",
    "mod_settings",
    "moderation",
    "reminders",
    "starboard",
]
