"""All table models; importing this package registers every table on the metadata."""

from guildbase.db.metadata import metadata
from guildbase.models import core, moderation

__all__ = ["core", "metadata", "moderation"]
