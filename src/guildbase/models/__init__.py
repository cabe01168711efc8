"""All table models; importing this package registers every table on the metadata."""

from guildbase.db.metadata import metadata
from guildbase.models import afk, audit, content, core, jobs, levels, logs, moderation, reminders, starboard

__all__ = [
    "afk",
    "audit",
    "content",
    "core",
    "jobs",
    "levels",
    "logs",
    "metadata",
    "moderation",
    "reminders",
    "starboard",
]
