"""All table models; importing this package registers every table on the metadata."""

from guildbase.db.metadata import metadata
from guildbase.models import afk, content, core, levels, moderation, reminders, starboard

__all__ = ["afk", "content", "core", "levels", "metadata", "moderation", "reminders", "starboard"]
