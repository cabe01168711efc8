"""guildbase: the PostgreSQL + Redis data layer for all-in-one discord.py bots.

from guildbase import Database, Settings

async with Database(Settings()) as db:
    await db.guilds.join(guild_id)
    config = await db.guild_config.get(guild_id)
"""

from guildbase.config import Settings
from guildbase.database import Database, Health
from guildbase.db.context import acting_as
from guildbase.errors import (
    ConfigurationError,
    ConflictError,
    DatabaseUnavailableError,
    FieldError,
    GuildbaseError,
    NotConnectedError,
    NotFoundError,
    PermissionDeniedError,
    SchemaNotAtHeadError,
    ValidationError,
)
from guildbase.sync import SyncDatabase

__all__ = [
    "ConfigurationError",
    "ConflictError",
    "Database",
    "DatabaseUnavailableError",
    "FieldError",
    "GuildbaseError",
    "Health",
    "NotConnectedError",
    "NotFoundError",
    "PermissionDeniedError",
    "SchemaNotAtHeadError",
    "Settings",
    "SyncDatabase",
    "ValidationError",
    "acting_as",
]
