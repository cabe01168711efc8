"""Which version of the previous schema a source database holds, and where its tables are.

The Prisma-era schema has quoted PascalCase tables (``"Case"``) and
``case_tempban_expired``; the later SQLModel version has snake-case tables
(``cases``) and ``case_processed``, ``case_mod_log_message_id`` and a
``case_metadata`` JSON column. Both are found by reading the catalog, never
by trying statements, so detection writes nothing and fails clearly: a
database without the legacy ``Guild`` table is not a legacy database.
"""

from dataclasses import dataclass

import asyncpg

from guildbase.errors import ValidationError

__all__ = ["LOGICAL_TABLES", "LegacySource", "detect"]

LOGICAL_TABLES: dict[str, tuple[str, ...]] = {
    "Guild": ("Guild", "guild", "guilds"),
    "GuildConfig": ("GuildConfig", "guild_config", "guildconfig"),
    "Case": ("Case", "cases", "case"),
    "Note": ("Note", "notes", "note"),
    "Snippet": ("Snippet", "snippets", "snippet"),
    "Reminder": ("Reminder", "reminders", "reminder"),
    "AFKModel": ("AFKModel", "afk", "afkmodel"),
    "Levels": ("Levels", "levels"),
    "Starboard": ("Starboard", "starboard"),
    "StarboardMessage": ("StarboardMessage", "starboard_message", "starboardmessage"),
}
"""Each legacy table by its LEGACY_SCHEMA.md name, and the names the versions gave it, most likely first."""


@dataclass(frozen=True)
class LegacySource:
    """What ``detect`` found: the version, each table's quoted name and its columns."""

    version: str
    tables: dict[str, str]
    columns: dict[str, frozenset[str]]

    def has(self, table: str, column: str) -> bool:
        return column in self.columns.get(table, frozenset())


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def detect(connection: asyncpg.Connection) -> LegacySource:
    """Read the catalog of the legacy database ``connection`` is on (schema ``public``)."""
    rows = await connection.fetch(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public'"
    )
    found: dict[str, set[str]] = {}
    for row in rows:
        found.setdefault(row["table_name"], set()).add(row["column_name"])
    tables: dict[str, str] = {}
    columns: dict[str, frozenset[str]] = {}
    for logical, candidates in LOGICAL_TABLES.items():
        for candidate in candidates:
            if candidate in found:
                tables[logical] = _quoted(candidate)
                columns[logical] = frozenset(found[candidate])
                break
    if "Guild" not in tables or "Case" not in tables:
        raise ValidationError.single(
            "from", "legacy_schema", "is not a legacy database: it has no Guild and Case tables (LEGACY_SCHEMA.md)"
        )
    version = "sqlmodel" if "case_processed" in columns["Case"] else "prisma"
    return LegacySource(version, tables, columns)
