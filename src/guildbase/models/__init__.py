"""All table models; importing this package registers every table on the metadata."""

from guildbase.db.metadata import metadata
from guildbase.models import (
    afk,
    content,
    core,
    event_stats,
    events,
    jobs,
    levels,
    logs,
    moderation,
    reminders,
    starboard,
)

__all__ = [
    "afk",
    "content",
    "core",
    "event_stats",
    "events",
    "jobs",
    "levels",
    "logs",
    "metadata",
    "moderation",
    "reminders",
    "starboard",
]
