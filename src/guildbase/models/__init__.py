"""All table models; importing this package registers every table on the metadata."""

from guildbase.db.metadata import metadata
from guildbase.models import (
    afk,
    audit,
    content,
    core,
    event_stats,
    events,
    jobs,
    levels,
    logs,
    mod_settings,
    moderation,
    privacy,
    reminders,
    starboard,
)

__all__ = [
    "afk",
    "audit",
    "content",
    "core",
    "event_stats",
    "events",
    "jobs",
    "levels",
    "logs",
    "metadata",
    "mod_settings",
    "moderation",
    "privacy",
    "reminders",
    "starboard",
]
