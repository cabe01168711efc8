"""All table models; importing this package registers every table on the metadata."""

from guildbase.db.metadata import metadata
from guildbase.models import (
    afk,
    audit,
    content,
    core,
    event_stats,
    events,
    integrations,
    jobs,
    levels,
    logs,
    mod_settings,
    moderation,
    oauth,
    reminders,
    security,
    starboard,
    tickets,
)

__all__ = [
    "afk",
    "audit",
    "content",
    "core",
    "event_stats",
    "events",
    "integrations",
    "jobs",
    "levels",
    "logs",
    "metadata",
    "mod_settings",
    "moderation",
    "oauth",
    "reminders",
    "security",
    "starboard",
    "tickets",
]
